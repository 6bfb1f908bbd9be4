"""The app's path for clips longer than its normal length: the windowed localizer, then each
model's most eventful seconds with their frames, for the heatmaps.

A long clip is not decoded whole (its frames would not fit what a server gives one request):
`avel.analysis.localize.localize_clip` decodes it window by window, as `python -m avel localize` does,
and only the frames of the few seconds shown are decoded again, one seek each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avel.analysis.clip import Analyzer, Localization, Progress
from avel.analysis.localize import ClipResult, localize_clip
from avel.common.calibration import answered
from avel.common.classes import UNKNOWN_TEXT, background_index
from avel.common.config import LocalizeConfig
from avel.features.media import decode_window

WINDOWS_SHARE = 0.95  # of the progress bar: the windows; the rest decodes the seconds shown


@dataclass
class LongClipAnalysis:
    """Every localizer's per-second answer for a long clip, and the frames of the seconds shown."""

    num_segments: int
    classes: tuple[str, ...]
    background_index: int
    localizations: dict[str, Localization]  # spatial_attention: (T, h, w), the mean over windows
    shown_seconds: dict[str, list[int]]  # per model with attention: its most eventful seconds, in order
    frames: dict[int, np.ndarray]  # second -> (S, S, 3) uint8, its middle frame, for every shown second
    config: LocalizeConfig
    warnings: list[str] = field(default_factory=list)

    @property
    def shown_classes(self) -> tuple[str, ...]:
        """The classes plus the display name of an abstained second, for Localization.shown()."""
        return (*self.classes, UNKNOWN_TEXT)


def analyze_long(
    analyzer: Analyzer,
    path: str | Path,
    config: LocalizeConfig,
    top: int,
    progress: Progress | None = None,
) -> LongClipAnalysis:
    """`localize_clip` over the whole clip, then the `top` most eventful seconds of each model."""
    windows = None if progress is None else (lambda f, msg: progress(WINDOWS_SHARE * f, f"windows: {msg}"))
    result = localize_clip(analyzer, path, config, progress=windows)
    localizations = _localizations(result)
    shown = {
        name: most_eventful(loc.event_probability, top)
        for name, loc in localizations.items()
        if loc.spatial_attention is not None
    }
    wanted = sorted({t for seconds in shown.values() for t in seconds})
    if progress is not None:
        progress(WINDOWS_SHARE, f"decoding the {len(wanted)} seconds shown as heatmaps")
    frames = {t: middle_frame(analyzer, path, t) for t in wanted}
    return LongClipAnalysis(
        num_segments=result.num_segments,
        classes=result.classes,
        background_index=background_index(result.classes),
        localizations=localizations,
        shown_seconds=shown,
        frames=frames,
        config=config,
        warnings=list(result.warnings),
    )


def _localizations(result: ClipResult) -> dict[str, Localization]:
    """Each model's track as the app's per-second Localization (attention averaged over windows)."""
    background = background_index(result.classes)
    localizations = {}
    for name, track in result.tracks.items():
        probabilities = track.probabilities  # (T, C)
        attention = track.attention_sum
        if attention is not None:
            attention = attention / np.maximum(track.count, 1)[:, None, None]  # (T, h, w)
        localizations[name] = Localization(
            probabilities=probabilities,
            predicted=probabilities.argmax(axis=-1),
            answered=answered(probabilities, track.threshold),
            event_probability=1.0 - probabilities[:, background],
            spatial_attention=attention,
        )
    return localizations


def most_eventful(event_probability: np.ndarray, top: int) -> list[int]:
    """The `top` seconds of highest event probability (earlier first on ties), in time order."""
    ranked = np.argsort(-event_probability, kind="stable")[:top]
    return sorted(int(t) for t in ranked)


def middle_frame(analyzer: Analyzer, path: str | Path, second: int) -> np.ndarray:
    """(S, S, 3): the frame the localizer drew second `second`'s attention on (its middle sample)."""
    clip = decode_window(path, second, 1, analyzer.extractor.cfg)
    return clip.frames[0, clip.frames.shape[1] // 2]
