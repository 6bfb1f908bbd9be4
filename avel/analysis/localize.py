"""Localize events in your own videos, of any length: per-second answers and merged event segments.

    python -m avel localize clip.mp4 videos/ [--checkpoint coatt_sel.pt ...] [--out DIR] [--json] [--csv]
    avel.localize("clip.mp4")  ->  {"file": ..., "models": {NAME: {"seconds": [...], "segments": [...]}}}

The analysis is the one road of avel.analysis.clip (`analyze_clip`), the app's too: a clip up to a
minute is decoded whole, a longer one window by window in bounded memory, and the models run over
10-s windows either way. A second below a model's calibrated threshold is "unknown" (not one of
the trained classes). This module adds what a batch of files needs: listing inputs, results kept
per file so a rerun resumes, and the CSPA overlays written as the seconds become final.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from PIL import Image

from avel.analysis.clip import Analyzer, ModelPaths, analyze_clip
from avel.analysis.windows import ModelTrack, RollingSeconds
from avel.common.config import LocalizeConfig
from avel.common.device import resolve_device
from avel.common.files import atomic_write
from avel.common.locations import bundled_checkpoints
from avel.features.extract import VIDEO_SUFFIXES
from avel.features.extractor import file_sha256

log = logging.getLogger(__name__)

BUNDLED_MODELS = {"Co-attention": "coatt_sel.pt", "Baseline": "baseline_sel.pt"}  # in bundled_checkpoints()
CSV_FIELDS = ("file", "model", "start", "end", "label", "probability")


def default_models() -> dict[str, Path]:
    """The bundled SEL models `localize` compares when no checkpoint is named."""
    return {name: bundled_checkpoints() / file for name, file in BUNDLED_MODELS.items()}


def list_inputs(paths: Sequence[str | Path]) -> list[Path]:
    """Files as given, and the videos in each folder (sorted, recursively)."""
    found: list[Path] = []
    for given in map(Path, paths):
        if given.is_dir():
            found += sorted(p for p in given.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
        else:
            found.append(given)
    return found


def localize(
    path: str | Path,
    checkpoints: dict[str, str | Path] | None = None,
    config: LocalizeConfig | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Python API: one clip's JSON result (see ClipAnalysis.to_json) from the bundled models or yours.

    `checkpoints` maps a display name to an SEL/WSEL checkpoint (default: the bundled two).
    Raises avel.features.media.MediaError for a file that cannot be analysed.
    """
    analyzer = load_analyzer(checkpoints, device)
    return analyze_clip(analyzer, path, config).to_json()


def load_analyzer(
    checkpoints: dict[str, str | Path] | None, device: str, batch_frames: int | None = None
) -> Analyzer:
    models = {name: Path(p) for name, p in (checkpoints or default_models()).items()}
    return Analyzer(
        ModelPaths(localizers=models, matchers={}),
        device=str(resolve_device(device)),
        batch_frames=batch_frames,
    )


def _result_file(out: Path, path: Path, digest: str) -> Path:
    return out / f"{path.stem}-{digest[:12]}.json"


def localize_cached(
    analyzer: Analyzer, path: Path, config: LocalizeConfig, out: Path | None, heatmaps: bool
) -> dict[str, Any]:
    """One clip, read back from `out` when an earlier run finished it with the same settings."""
    if out is None:
        return analyze_clip(analyzer, path, config).to_json()
    digest = file_sha256(path) if path.is_file() else ""
    target = _result_file(out, path, digest)
    settings = {
        "config": vars(config),
        "checkpoints": sorted(str(m.path) for m in analyzer.localizers.values()),
    }
    if target.is_file():
        stored = json.loads(target.read_text(encoding="utf-8"))
        if stored.get("settings") == settings:
            return stored["result"]
    heatmap_dir = out / f"{path.stem}-{digest[:12]}-heatmaps"
    on_final = partial(write_heatmaps, heatmap_dir) if heatmaps else None
    result = analyze_clip(analyzer, path, config, content_hash=digest or None, on_final=on_final).to_json()
    atomic_write(target, json.dumps({"settings": settings, "result": result}).encode())  # resumable
    return result


def write_heatmaps(
    folder: Path, tracks: dict[str, ModelTrack], held: RollingSeconds, start: int, end: int
) -> None:
    """The CSPA overlay of every second in [start, end) and model, as JPEGs named by model and second."""
    from viz import attention_overlay  # drawing only when asked

    for name, track in tracks.items():
        if track.attention_sum is None:
            continue
        model_dir = folder / name.lower().replace(" ", "-")
        model_dir.mkdir(parents=True, exist_ok=True)
        for t in range(start, end):
            image = attention_overlay(held.frame(t), track.attention_at(t))
            Image.fromarray(image).save(model_dir / f"{t:06d}.jpg", quality=88)
