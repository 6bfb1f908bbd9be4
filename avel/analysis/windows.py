"""Models trained on 10-s clips, run over a clip of any length: windows, and per-second means over them.

Every localizer runs over windows of `LocalizeConfig.model_window` seconds every `model_hop`
seconds, and a second's probabilities (and attention, and features) are the mean over the windows
that cover it (the choice is measured in docs/localize.md). A clip no longer than one window is one
window: the model sees the whole clip at once. The decoded seconds arrive in chunks (the whole clip
at once, or one decode window at a time), and only the seconds a later window still needs are held.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch

from avel.common.calibration import softmax
from avel.common.config import LocalizeConfig
from avel.models.output import FEATURE_NAMES
from avel.training.checkpoint import LoadedModel


def window_starts(num_segments: int, window: int, hop: int) -> list[int]:
    """Starts of the model windows: every `hop` s, the last one moved back to end at the clip's end."""
    if num_segments <= window:
        return [0]
    starts = list(range(0, num_segments - window + 1, hop))
    if starts[-1] + window < num_segments:
        starts.append(num_segments - window)
    return starts


@dataclass
class DecodedChunk:
    """Consecutive decoded seconds of a clip: native features and each second's middle frame."""

    start: int  # the first second's index in the clip
    audio: np.ndarray  # (n, D_a) native
    visual: np.ndarray  # (n, h, w, C_v) native
    frames: np.ndarray  # (n, S, S, 3) uint8
    warnings: list[str] = field(default_factory=list)


@dataclass
class ModelTrack:
    """One model's per-second answer over a whole clip (sums over the windows that covered each second)."""

    probability_sum: np.ndarray  # (T, C)
    count: np.ndarray  # (T,) windows that covered each second
    attention_sum: np.ndarray | None  # (T, h, w), or None for a model without spatial attention
    threshold: float | None
    feature_sums: dict[str, np.ndarray] | None = None  # FEATURE_NAMES -> (T, dim), when kept
    unsure_mass: float | None = None  # abstained seconds at or above it are "unsure", below "unknown"

    @property
    def probabilities(self) -> np.ndarray:
        return self.probability_sum / self._covered()[:, None]  # (T, C) mean over windows

    @property
    def attention(self) -> np.ndarray | None:
        """(T, h, w) mean attention over the windows, or None."""
        return None if self.attention_sum is None else self.attention_sum / self._covered()[:, None, None]

    @property
    def features(self) -> dict[str, np.ndarray]:
        return {k: v / self._covered()[:, None] for k, v in (self.feature_sums or {}).items()}

    def _covered(self) -> np.ndarray:
        return np.maximum(self.count, 1)

    @classmethod
    def empty(
        cls,
        num_segments: int,
        num_classes: int,
        threshold: float | None,
        keep_features: bool = False,
        unsure_mass: float | None = None,
    ) -> ModelTrack:
        return cls(
            np.zeros((num_segments, num_classes)),
            np.zeros(num_segments, dtype=np.int64),
            None,
            threshold,
            {} if keep_features else None,
            unsure_mass,
        )

    def add(
        self,
        start: int,
        probabilities: np.ndarray,
        attention: np.ndarray | None,
        features: dict[str, np.ndarray] | None = None,
    ) -> None:
        """One window's (L, C) probabilities (and (L, h, w) attention, (L, dim) features) from `start`."""
        end = start + len(probabilities)
        self.probability_sum[start:end] += probabilities
        self.count[start:end] += 1
        if attention is not None:
            if self.attention_sum is None:
                self.attention_sum = np.zeros((len(self.count), *attention.shape[1:]))
            self.attention_sum[start:end] += attention
        if self.feature_sums is not None:
            for name, values in (features or {}).items():
                held = self.feature_sums.setdefault(name, np.zeros((len(self.count), values.shape[-1])))
                held[start:end] += values

    def attention_at(self, t: int) -> np.ndarray | None:
        return None if self.attention_sum is None else self.attention_sum[t] / max(self.count[t], 1)


def basis(loaded: LoadedModel) -> str:
    """Models that share a projection share its projected features (computed once per second)."""
    return "native" if loaded.projection is None else loaded.projection.id


class RollingSeconds:
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
        for name, (audio, visual) in features.items():
            held = self.features.get(name)
            self.features[name] = (
                (audio, visual)
                if held is None
                else (np.concatenate([held[0], audio]), np.concatenate([held[1], visual]))
            )
        self.frames = frames if self.length == 0 else np.concatenate([self.frames, frames])
        self.length += len(frames)

    def span(self, name: str, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        audio, visual = self.features[name]
        return audio[start - self.start : end - self.start], visual[start - self.start : end - self.start]

    def frame(self, t: int) -> np.ndarray:
        return self.frames[t - self.start]

    def drop_before(self, t: int) -> None:
        cut = max(0, t - self.start)
        self.features = {b: (a[cut:], v[cut:]) for b, (a, v) in self.features.items()}
        self.frames = self.frames[cut:]
        self.start += cut
        self.length -= cut


# Called with the tracks, the held seconds and [start, end): seconds no later window changes.
FinalSeconds = Callable[[dict[str, ModelTrack], RollingSeconds, int, int], None]
# (project, as_batch) of the Analyzer: native features -> a model's basis -> a batch of one.
Project = Callable[[LoadedModel, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
AsBatch = Callable[[LoadedModel, np.ndarray, np.ndarray], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class WindowScorer:
    """Runs every localizer over the model windows as the chunks of a clip arrive."""

    localizers: dict[str, LoadedModel]
    project: Project
    as_batch: AsBatch
    config: LocalizeConfig
    keep_features: bool = False  # the per-second FEATURE_NAMES (t-SNE placement); not for long clips

    @torch.inference_mode()
    def score(
        self,
        chunks: Iterable[DecodedChunk],
        num_segments: int,
        num_classes: int,
        on_final: FinalSeconds | None = None,
    ) -> dict[str, ModelTrack]:
        tracks = {
            name: ModelTrack.empty(
                num_segments, num_classes, loaded.abstain_threshold, self.keep_features, loaded.unsure_mass
            )
            for name, loaded in self.localizers.items()
        }
        window, models = self.config.model_window, list(self.localizers.values())
        starts = window_starts(num_segments, window, self.config.model_hop)
        pending, finished_until, held = 0, 0, RollingSeconds()
        for chunk in chunks:
            held.append({basis(m): self.project(m, chunk.audio, chunk.visual) for m in models}, chunk.frames)
            while pending < len(starts) and min(starts[pending] + window, num_segments) <= held.end:
                self._score_window(tracks, held, starts[pending], min(starts[pending] + window, num_segments))
                pending += 1
            # seconds no later window covers are final: hand them on, then forget them
            final = min(starts[pending], held.end) if pending < len(starts) else held.end
            if on_final is not None:
                on_final(tracks, held, finished_until, final)
            finished_until = final
            held.drop_before(final)
        unscored = [name for name, track in tracks.items() if not track.count.all()]
        if unscored:  # never an all-zero row shown as "unknown" at probability 0
            first = int(np.argmin(tracks[unscored[0]].count))
            raise ValueError(f"second {first} of {num_segments} was never scored: the clip ended early")
        return tracks

    def _score_window(
        self, tracks: dict[str, ModelTrack], held: RollingSeconds, start: int, end: int
    ) -> None:
        for name, loaded in self.localizers.items():
            output = loaded.model(*self.as_batch(loaded, *held.span(basis(loaded), start, end)))
            probabilities = softmax(output.scores()[0].float().cpu().numpy())  # (L, C)
            attention = output.spatial_attention
            features = (
                {k: v[0].float().cpu().numpy() for k, v in output.features.items() if k in FEATURE_NAMES}
                if self.keep_features
                else None
            )
            tracks[name].add(
                start,
                probabilities,
                None if attention is None else attention[0].float().cpu().numpy(),
                features,
            )
