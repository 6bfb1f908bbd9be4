"""The app's settings and resource caps, in one dataclass (AVEL_APP_<FIELD> overrides the numbers)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from avel.analysis.clip import ModelPaths
from avel.common.config import LocalizeConfig
from avel.common.locations import bundled_checkpoints

ROOT = Path(__file__).resolve().parents[2]  # the checkout: checkpoints/, assets/, data/, runs/
CHECKPOINTS = bundled_checkpoints()
MB = 2**20


@dataclass(frozen=True)
class AppConfig:
    """Everything the app reads or limits, in one place."""

    models: ModelPaths = field(
        default_factory=lambda: ModelPaths(
            localizers={
                "Co-attention": CHECKPOINTS / "coatt_sel.pt",
                "Baseline": CHECKPOINTS / "baseline_sel.pt",
            },
            matchers={
                "Co-attention": CHECKPOINTS / "coatt_cml.pt",
                "Baseline": CHECKPOINTS / "baseline_cml.pt",
            },
        )
    )
    assets: Path = ROOT / "assets"  # example clips + ground-truth sidecars
    summary: Path = CHECKPOINTS / "test-summary.npz"  # the dataset tab's default (`python -m avel summarize`)
    data_roots: tuple[Path, ...] = (ROOT / "data",)  # the only folders the dataset tab may read
    runs: Path = ROOT / "runs"  # training runs whose checkpoints fill the ablation table
    max_upload_mb: int = 200  # larger uploads are refused before any decoding
    max_clip_seconds: int = 600  # longer clips are refused: `python -m avel localize` (any length)
    normal_clip_seconds: int = 60  # longer clips are decoded in windows (analyze_clip), with less shown
    long_heatmap_seconds: int = 10  # a long clip's heatmaps: each model's most eventful seconds
    timeline_seconds: int = 60  # a long clip's timeline opens on its first minute (a range slider zooms)
    # the long-clip path's windows (the localize defaults), decoded 20 s at a time: a progress step each
    localize: LocalizeConfig = field(default_factory=lambda: LocalizeConfig(decode_window=20))
    overlay_fps: int = 2  # frame rate of the attention overlay videos (one picture per second anyway)
    heatmap_columns: int = 5  # seconds per row of each model's heatmap grid (10 s: 5 x 2)
    device: str = "auto"
    queue_size: int = 16
    # Fair queueing: this many Localize requests run at once, so a short clip or a cached repeat never
    # waits behind a long clip; long clips (over normal_clip_seconds) take turns, `long_analyses` at a
    # time, and a waiting one says so in its progress bar.
    analysis_workers: int = 4
    long_analyses: int = 1
    # ---- resource caps: a server that runs for days stays within these -------------------------
    max_sessions: int = 64  # sessions whose cross-modal state is kept (least recently used dropped)
    session_ttl_s: int = 3600  # a session idle this long is forgotten (API clients never "close")
    render_cache_entries: int = 32  # clips whose rendered views are kept for an instant repeat
    outputs_mb: int = 512  # rendered views on disk (heatmaps, overlay videos, placement images)
    feature_cache_mb: int = 256  # cached clip features on disk
    uploads_mb: int = 1024  # Gradio's copies of uploads and served files (oldest deleted first)
    dataset_cache_entries: int = 4  # dataset analyses kept (figures of a few folders)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> AppConfig:
        """Defaults, with AVEL_APP_<FIELD> overriding each int field (tests and deployments set caps)."""
        environ = os.environ if environ is None else environ
        changes = {}
        for f in fields(cls):
            value = environ.get(f"AVEL_APP_{f.name.upper()}")
            if value is not None and f.type in ("int", int):
                changes[f.name] = int(value)
        return replace(cls(), **changes)
