"""`pip install .` gives a usable package: the `avel` console script runs `localize` on the bundled models."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "assets" / "violin.mp4"


def _source_copy(folder: Path) -> Path:
    """What `pip install .` reads, copied: setuptools writes build/ and *.egg-info into its source."""
    folder.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, folder / name)
    for name in ("avel", "viz", "checkpoints"):
        shutil.copytree(ROOT / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def test_the_installed_console_script_localizes_a_clip_with_the_bundled_models(tmp_path: Path) -> None:
    source = _source_copy(tmp_path / "source")
    prefix = tmp_path / "prefix"  # a prefix install lays files out as a venv's does
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--prefix",
            str(prefix),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    script = prefix / "bin" / "avel"
    installed = prefix / "share" / "avel" / "checkpoints"
    assert (installed / "coatt_sel.pt").is_file()
    (site,) = prefix.glob("lib/python*/site-packages")
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("AVEL_CHECKPOINTS", None)
    done = subprocess.run(
        [str(script), "--log-level", "error", "localize", str(EXAMPLE), "--json"],
        cwd=tmp_path,  # outside the checkout: the installed avel and its installed models
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["seconds"] == 10 and set(result["models"]) == {"Co-attention", "Baseline"}
    probe = "import avel.common.locations as l; print(l.bundled_checkpoints())"
    where = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert where.stdout.strip() == str(installed.resolve())
