"""The command line: help works in a fresh interpreter, and bad input ends in one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from avel.commands import COMMANDS, main
from avel.common.device import resolve_device

ROOT = Path(__file__).resolve().parents[1]


def test_help_lists_every_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "avel", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert all(command in done.stdout for command in COMMANDS)


def test_a_command_imports_only_its_own_module() -> None:
    """`localize` must not hold report's plotting and t-SNE libraries in memory."""
    code = (
        "import sys; from avel.commands import build_parser; build_parser(['localize', 'x.mp4']); "
        "print(sorted(m for m in ('sklearn', 'matplotlib', 'avel.report', 'avel.bench') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_train_help_shows_paper_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    shown = capsys.readouterr().out
    for option in ("--task", "--ablation", "--init", "--lambda", "--device", "--epochs", "--batch-size"):
        assert option in shown


def test_bad_input_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", str(tmp_path / "missing.pt"), "--data", str(tmp_path)])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().endswith(f"error: checkpoint not found: {tmp_path / 'missing.pt'}")

    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", str(tmp_path / "junk.pt"), "--data", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "expected an avel checkpoint" in capsys.readouterr().err


def test_unknown_choices_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--task", "sound", "--data", "d", "--out", "o"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'sound'" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised when CUDA is absent")
def test_cuda_without_a_gpu_is_an_error_and_auto_falls_back() -> None:
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="expected a CUDA device, found none"):
        resolve_device("cuda")
