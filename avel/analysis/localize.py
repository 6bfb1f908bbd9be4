"""Localize events in your own videos, of any length: per-second answers and merged event segments.

    python -m avel localize clip.mp4 videos/ [--checkpoint coatt_sel.pt ...] [--out DIR] [--json] [--csv]
    avel.localize("clip.mp4")  ->  {"file": ..., "models": {NAME: {"seconds": [...], "segments": [...]}}}

A clip is decoded `decode_window` seconds at a time (avel.features.media.decode_window), so memory does
not grow with its length. The models were trained on 10-s clips, so each runs over windows of
`model_window` seconds every `model_hop` seconds, and a second's probabilities are the mean over
the windows that cover it (LocalizeConfig; the choice is measured in docs/localize.md). A second
below a model's calibrated threshold is "unknown" (not one of the trained classes).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from avel.analysis.clip import Analyzer, ModelPaths
from avel.common.calibration import ANSWERED, abstention, softmax
from avel.common.calibration import UNSURE as UNSURE_KIND
from avel.common.classes import UNKNOWN, UNSURE, background_index
from avel.common.config import LocalizeConfig
from avel.common.device import resolve_device
from avel.common.files import atomic_write
from avel.common.metrics import merge_segments
from avel.features.extract import VIDEO_SUFFIXES
from avel.features.extractor import file_sha256
from avel.features.media import MediaError, clip_seconds, decode_window
from avel.training.checkpoint import LoadedModel

log = logging.getLogger(__name__)

BUNDLED = Path(__file__).resolve().parents[2] / "checkpoints"
DEFAULT_MODELS = {"Co-attention": BUNDLED / "coatt_sel.pt", "Baseline": BUNDLED / "baseline_sel.pt"}
RESULT_FORMAT = "avel.localize/1"
TOP_K = 3
CSV_FIELDS = ("file", "model", "start", "end", "label", "probability")
Progress = Callable[[float, str], None]


def window_starts(num_segments: int, window: int, hop: int) -> list[int]:
    """Starts of the model windows: every `hop` s, the last one moved back to end at the clip's end."""
    if num_segments <= window:
        return [0]
    starts = list(range(0, num_segments - window + 1, hop))
    if starts[-1] + window < num_segments:
        starts.append(num_segments - window)
    return starts


@dataclass
class ModelTrack:
    """One model's per-second answer over a whole clip (sums over the windows that covered each second)."""

    probability_sum: np.ndarray  # (T, C)
    count: np.ndarray  # (T,) windows that covered each second
    attention_sum: np.ndarray | None  # (T, h, w), or None for a model without spatial attention
    threshold: float | None
    unsure_mass: float | None = None  # abstained seconds at or above it are "unsure", below "unknown"

    @property
    def probabilities(self) -> np.ndarray:
        return self.probability_sum / np.maximum(self.count, 1)[:, None]  # (T, C) mean over windows

    @classmethod
    def empty(
        cls, num_segments: int, num_classes: int, threshold: float | None, unsure_mass: float | None = None
    ) -> ModelTrack:
        return cls(
            np.zeros((num_segments, num_classes)),
            np.zeros(num_segments, dtype=np.int64),
            None,
            threshold,
            unsure_mass,
        )

    def add(self, start: int, probabilities: np.ndarray, attention: np.ndarray | None) -> None:
        """One window's (L, C) probabilities (and (L, h, w) attention) for seconds start .. start + L."""
        end = start + len(probabilities)
        self.probability_sum[start:end] += probabilities
        self.count[start:end] += 1
        if attention is not None:
            if self.attention_sum is None:
                self.attention_sum = np.zeros((len(self.count), *attention.shape[1:]))
            self.attention_sum[start:end] += attention

    def attention(self, t: int) -> np.ndarray | None:
        return None if self.attention_sum is None else self.attention_sum[t] / max(self.count[t], 1)


@dataclass
class ClipResult:
    """A clip's per-second answers from every model."""

    file: str
    num_segments: int
    classes: tuple[str, ...]
    tracks: dict[str, ModelTrack]
    warnings: list[str]

    def to_json(self) -> dict[str, Any]:
        """The documented schema: {"file", "seconds", "models": {NAME: {"seconds", "segments"}}}."""
        background = background_index(self.classes)
        models = {}
        for name, track in self.tracks.items():
            probabilities = track.probabilities  # (T, C)
            predicted = probabilities.argmax(axis=1)
            kinds = abstention(probabilities, track.threshold, track.unsure_mass)  # (T,)
            sure = kinds == ANSWERED
            ranked = np.argsort(-probabilities, axis=1, kind="stable")[:, :TOP_K]  # (T, k)
            seconds = []
            for t in range(self.num_segments):
                label = self._label(int(predicted[t]), int(kinds[t]), background)
                seconds.append(
                    {
                        "start": t,
                        "end": t + 1,
                        "label": label,
                        "probability": round(float(probabilities[t, predicted[t]]), 4),
                        "top3": [
                            {"label": self.classes[c], "probability": round(float(probabilities[t, c]), 4)}
                            for c in ranked[t]
                        ],
                    }
                )
            shown = np.where(sure, predicted, len(self.classes))  # abstained seconds: the unknown row
            segments = [
                {"start": s, "end": e, "label": self.classes[c], "score": round(score, 4)}
                for c, s, e, score in merge_segments(
                    shown, probabilities, skip=(background, len(self.classes))
                )
            ]
            models[name] = {
                "threshold": track.threshold,
                "unsure_mass": track.unsure_mass,
                "seconds": seconds,
                "segments": segments,
            }
        return {
            "format": RESULT_FORMAT,
            "file": self.file,
            "seconds": self.num_segments,
            "warnings": self.warnings,
            "models": models,
        }

    def _label(self, index: int, kind: int, background: int) -> str:
        if kind != ANSWERED:
            return UNSURE if kind == UNSURE_KIND else UNKNOWN
        return "background" if index == background else self.classes[index]


def _clip_windows(
    analyzer: Analyzer, path: Path, num_segments: int, config: LocalizeConfig
) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray, list[str]]]:
    """(start, native audio, native visual, middle frames, warnings) per decode window, in order."""
    extractor = analyzer.extractor
    for start in range(0, num_segments, config.decode_window):
        seconds = min(config.decode_window, num_segments - start)
        clip = decode_window(path, start, seconds, extractor.cfg)
        audio, visual = extractor.encode(clip)
        middle = clip.frames[:, clip.frames.shape[1] // 2]  # (n, S, S, 3)
        yield start, audio, visual, middle, clip.warnings


def _basis(loaded: LoadedModel) -> str:
    """Models that share a projection share its projected features (computed once per second)."""
    return "native" if loaded.projection is None else loaded.projection.id


class _Rolling:
    """The last seconds of features (per basis) and frames, enough for the model windows to come."""

    def __init__(self) -> None:
        self.start = 0  # absolute second of row 0
        self.length = 0
        self.features: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # basis -> (audio, visual)
        self.frames = np.zeros((0, 1, 1, 3), np.uint8)

    @property
    def end(self) -> int:
        return self.start + self.length

    def append(self, features: dict[str, tuple[np.ndarray, np.ndarray]], frames: np.ndarray) -> None:
        for basis, (audio, visual) in features.items():
            held = self.features.get(basis)
            self.features[basis] = (
                (audio, visual)
                if held is None
                else (
                    np.concatenate([held[0], audio]),
                    np.concatenate([held[1], visual]),
                )
            )
        self.frames = frames if self.length == 0 else np.concatenate([self.frames, frames])
        self.length += len(frames)

    def span(self, basis: str, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        audio, visual = self.features[basis]
        return audio[start - self.start : end - self.start], visual[start - self.start : end - self.start]

    def frame(self, t: int) -> np.ndarray:
        return self.frames[t - self.start]

    def drop_before(self, t: int) -> None:
        cut = max(0, t - self.start)
        self.features = {b: (a[cut:], v[cut:]) for b, (a, v) in self.features.items()}
        self.frames = self.frames[cut:]
        self.start += cut
        self.length -= cut


@torch.inference_mode()
def localize_clip(
    analyzer: Analyzer,
    path: str | Path,
    config: LocalizeConfig | None = None,
    heatmap_dir: Path | None = None,
    progress: Progress | None = None,
) -> ClipResult:
    """Every localizer over the whole clip, window by window; see the module docstring."""
    config = config or LocalizeConfig()
    path = Path(path)
    num_segments = clip_seconds(path)
    if num_segments < 1:
        raise MediaError(f"{path}: shorter than 1 s; at least one whole second is needed")
    if num_segments > config.max_seconds:
        raise MediaError(f"{path}: {num_segments} s, longer than max_seconds={config.max_seconds}")
    classes = analyzer.classes
    tracks = {
        name: ModelTrack.empty(num_segments, len(classes), loaded.abstain_threshold, loaded.unsure_mass)
        for name, loaded in analyzer.localizers.items()
    }
    starts = window_starts(num_segments, config.model_window, config.model_hop)
    pending, finished_until, warnings = 0, 0, []
    buffer = _Rolling()
    models = list(analyzer.localizers.values())
    for start, audio, visual, frames, clip_warnings in _clip_windows(analyzer, path, num_segments, config):
        warnings += [f"{start}-{start + len(audio)} s: {w}" for w in clip_warnings]
        buffer.append({_basis(m): analyzer.project(m, audio, visual) for m in models}, frames)
        while (
            pending < len(starts) and min(starts[pending] + config.model_window, num_segments) <= buffer.end
        ):
            window_start = starts[pending]
            window_end = min(window_start + config.model_window, num_segments)
            _score_window(analyzer, tracks, buffer, window_start, window_end)
            pending += 1
        # seconds no later window covers are final: write their heatmaps, then forget them
        final = min(starts[pending], buffer.end) if pending < len(starts) else buffer.end
        if heatmap_dir is not None:
            _write_heatmaps(tracks, buffer, finished_until, final, heatmap_dir)
        finished_until = final
        buffer.drop_before(final)
        if progress is not None:
            progress(buffer.end / num_segments, f"{buffer.end} of {num_segments} s")
    return ClipResult(str(path), num_segments, classes, tracks, warnings)


def _score_window(
    analyzer: Analyzer, tracks: dict[str, ModelTrack], buffer: _Rolling, start: int, end: int
) -> None:
    for name, loaded in analyzer.localizers.items():
        output = loaded.model(*analyzer.as_batch(loaded, *buffer.span(_basis(loaded), start, end)))
        probabilities = softmax(output.scores()[0].float().cpu().numpy())  # (L, C)
        attention = output.spatial_attention
        tracks[name].add(
            start, probabilities, None if attention is None else attention[0].float().cpu().numpy()
        )


def _write_heatmaps(
    tracks: dict[str, ModelTrack], buffer: _Rolling, start: int, end: int, folder: Path
) -> None:
    """The CSPA overlay of every second in [start, end) and model, as JPEGs named by model and second."""
    from viz import attention_overlay  # drawing only when asked

    for name, track in tracks.items():
        if track.attention_sum is None:
            continue
        model_dir = folder / name.lower().replace(" ", "-")
        model_dir.mkdir(parents=True, exist_ok=True)
        for t in range(start, end):
            image = attention_overlay(buffer.frame(t), track.attention(t))
            Image.fromarray(image).save(model_dir / f"{t:06d}.jpg", quality=88)


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
    """Python API: one clip's JSON result (see ClipResult.to_json) from the bundled models or yours.

    `checkpoints` maps a display name to an SEL/WSEL checkpoint (default: the bundled two).
    Raises avel.features.media.MediaError for a file that cannot be analysed.
    """
    analyzer = load_analyzer(checkpoints, device)
    return localize_clip(analyzer, path, config).to_json()


def load_analyzer(
    checkpoints: dict[str, str | Path] | None, device: str, batch_frames: int | None = None
) -> Analyzer:
    models = {name: Path(p) for name, p in (checkpoints or DEFAULT_MODELS).items()}
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
        return localize_clip(analyzer, path, config).to_json()
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
    heatmap_dir = out / f"{path.stem}-{digest[:12]}-heatmaps" if heatmaps else None
    result = localize_clip(analyzer, path, config, heatmap_dir).to_json()
    atomic_write(target, json.dumps({"settings": settings, "result": result}).encode())  # resumable
    return result
