"""One clip -> everything the app shows, for the co-attention model and the baseline side by side.

The clip's features are extracted once with the checkpoints' backbones (native dims, cached by
content hash); each checkpoint then applies its own stored projection, so a model never sees
features of a shape or basis it was not trained on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from avel.common.calibration import answered, softmax
from avel.common.classes import UNKNOWN_TEXT, background_index
from avel.common.config import FeatureConfig
from avel.common.metrics import cml_window_distances, event_span
from avel.features.extractor import BackboneTags, ClipFeatures, FeatureExtractor, file_sha256
from avel.models.output import FEATURE_NAMES
from avel.training.checkpoint import LoadedModel, load_checkpoint

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class ModelPaths:
    """Which checkpoints the app compares: display name -> file, per task."""

    localizers: dict[str, Path]  # SEL checkpoints, e.g. {"Co-attention": ..., "Baseline": ...}
    matchers: dict[str, Path]  # CML checkpoints


@dataclass
class Localization:
    """One model's per-second answer for a clip."""

    probabilities: np.ndarray  # (T, C) softmax over classes of the averaged stream scores
    predicted: np.ndarray  # (T,) argmax class index
    answered: np.ndarray  # (T,) bool: False where the top probability is below the threshold (abstain)
    event_probability: np.ndarray  # (T,) 1 - p(background): is anything audio-visual happening?
    spatial_attention: np.ndarray | None  # (T, h, w) attention over the grid, or None
    features: dict[str, np.ndarray] = field(default_factory=dict)  # FEATURE_NAMES -> (T, dim)

    def shown(self, num_classes: int) -> np.ndarray:
        """(T,) class index per second, with abstained seconds as `num_classes` (the unknown row)."""
        return np.where(self.answered, self.predicted, num_classes)


@dataclass
class ClipAnalysis:
    """What the app renders for one clip."""

    clip: ClipFeatures
    classes: tuple[str, ...]
    background_index: int
    localizations: dict[str, Localization]
    distances: dict[str, np.ndarray]  # matcher name -> (T, T) audio-vs-visual segment distances
    tags: BackboneTags | None = None  # what YAMNet and the visual CNN perceive, per second
    ground_truth: np.ndarray | None = None  # (T,) class per second when known
    warnings: list[str] = field(default_factory=list)

    @property
    def cross_modal_state(self) -> CrossModalState:
        return CrossModalState(
            self.distances, self.clip.num_segments, self.ground_truth, self.background_index
        )

    @property
    def shown_classes(self) -> tuple[str, ...]:
        """The classes plus the display name of an abstained second, for Localization.shown()."""
        return (*self.classes, UNKNOWN_TEXT)


@dataclass
class CrossModalState:
    """What cross-modal matching needs of an analysed clip: kept per app session, a few KB."""

    distances: dict[str, np.ndarray]  # matcher name -> (T, T) audio-vs-visual segment distances
    num_segments: int
    ground_truth: np.ndarray | None  # (T,) class per second when known
    background_index: int


@dataclass
class CrossModalResult:
    """The sliding-window search of one matcher for one query span."""

    window_distances: np.ndarray  # (T - l + 1,) summed distance at each candidate start
    best_start: int
    correct: bool | None = None  # None: the truth of this query is unknown


@dataclass
class CrossModalMatch:
    """Every matcher's answer to one query, judged against the clip's ground truth when known."""

    direction: str  # "a2v" or "v2a"
    span: tuple[int, int]  # the query [start, end) in seconds
    results: dict[str, CrossModalResult]
    truth_span: tuple[int, int] | None  # the true event [start, end), when the clip's labels are known
    true_start: int | None  # where the query truly matches; None unless the query is the true event


class Analyzer:
    """Holds the loaded models and the feature extractor; analyses clips on demand.

    Models are loaded once at construction (not per request); the feature extractor caches per
    file content, so analysing the same upload twice costs one model pass and no extraction.
    """

    def __init__(
        self,
        paths: ModelPaths,
        cache_dir: Path | None = None,
        device: str = "cpu",
        feature_config: FeatureConfig | None = None,
        cache_max_bytes: int | None = None,
        max_seconds: int | None = None,
        batch_frames: int | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.localizers = {name: load_checkpoint(p, self.device) for name, p in paths.localizers.items()}
        self.matchers = {name: load_checkpoint(p, self.device) for name, p in paths.matchers.items()}
        models = [*self.localizers.values(), *self.matchers.values()]
        if not models:
            raise ValueError("no checkpoints given: the app needs at least one SEL or CML checkpoint")
        self.classes = models[0].classes
        self._check_agree(models)
        info, defaults = models[0].features_info, FeatureConfig()
        self.feature_config = feature_config or (
            defaults
            if info is None
            else replace(
                defaults,
                visual_backbone=info.visual_backbone,
                audio_backbone=info.audio_backbone,
                frames_per_segment=info.frames_per_segment,
            )
        )
        if max_seconds is not None:
            self.feature_config = replace(self.feature_config, max_seconds=max_seconds)
        if batch_frames is not None:  # speed vs memory only: the features do not change
            self.feature_config = replace(self.feature_config, batch_frames=batch_frames)
        self.extractor = FeatureExtractor(
            self.feature_config, cache_dir=cache_dir, device=str(self.device), cache_max_bytes=cache_max_bytes
        )

    @property
    def trained_events(self) -> tuple[str, ...]:
        """The event classes every localizer saw in training (from its checkpoint), background excluded.

        A checkpoint that does not record them counts as knowing all its classes.
        """
        background = self.classes[background_index(self.classes)]
        known = [set(m.trained_classes or m.classes) for m in self.localizers.values()]
        shared = set.intersection(*known) if known else set(self.classes)
        return tuple(name for name in self.classes if name in shared and name != background)

    def _check_agree(self, models: list[LoadedModel]) -> None:
        """All compared models must share classes and backbones, or a side-by-side view lies."""

        def backbones(loaded: LoadedModel) -> tuple[str | None, str | None]:
            info = loaded.features_info
            return (None, None) if info is None else (info.visual_backbone, info.audio_backbone)

        for loaded in models:
            if loaded.classes != self.classes:
                raise ValueError(f"{loaded.path}: its classes differ from {models[0].path}'s")
            if backbones(loaded) != backbones(models[0]):
                raise ValueError(
                    f"{loaded.path}: backbones (visual, audio) {backbones(loaded)} differ from "
                    f"{models[0].path}'s {backbones(models[0])}"
                )

    def _inputs(self, loaded: LoadedModel, clip: ClipFeatures) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model_inputs(loaded, clip.audio, clip.visual)

    def model_inputs(
        self, loaded: LoadedModel, audio: np.ndarray, visual: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Native features (T, D_a) and (T, h, w, C_v) in this model's basis, as a batch of one."""
        return self.as_batch(loaded, *self.project(loaded, audio, visual))

    @staticmethod
    def project(loaded: LoadedModel, audio: np.ndarray, visual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Native features in the model's basis (its stored PCA, if any)."""
        projection = loaded.projection
        if projection is None:
            return audio, visual
        return projection.apply_audio(audio), projection.apply_visual(visual)

    def as_batch(
        self, loaded: LoadedModel, audio: np.ndarray, visual: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Features already in the model's basis, checked against its sizes, as a batch of one."""
        dims = loaded.feature_dims
        if audio.shape[-1] != dims.audio_dim or visual.shape[-3:] != (
            dims.grid_h,
            dims.grid_w,
            dims.visual_dim,
        ):
            raise ValueError(
                f"{loaded.path}: expects audio dim {dims.audio_dim} and visual {dims.grid_h}x{dims.grid_w}x"
                f"{dims.visual_dim}, the clip's features are {audio.shape[-1]} and {visual.shape[-3:]}"
            )
        audio_t = torch.as_tensor(np.ascontiguousarray(audio), dtype=torch.float32, device=self.device)
        visual_t = torch.as_tensor(np.ascontiguousarray(visual), dtype=torch.float32, device=self.device)
        return audio_t[None], visual_t[None]

    @torch.inference_mode()
    def analyze(self, path: str | Path, progress: Progress | None = None) -> ClipAnalysis:
        """Extract (or reuse) the clip's features and run every model on them."""
        clip = self.extractor.extract_clip(path, progress=progress)
        if progress:
            progress(0.95, "running the models")
        background = background_index(self.classes)
        localizations = {}
        for name, loaded in self.localizers.items():
            output = loaded.model(*self._inputs(loaded, clip))
            probabilities = softmax(output.scores()[0].float().cpu().numpy())  # (T, C)
            attention = output.spatial_attention
            localizations[name] = Localization(
                probabilities=probabilities,
                predicted=probabilities.argmax(axis=-1),
                answered=answered(probabilities, loaded.abstain_threshold),
                event_probability=1.0 - probabilities[:, background],
                spatial_attention=None if attention is None else attention[0].cpu().numpy(),
                features={k: v[0].cpu().numpy() for k, v in output.features.items() if k in FEATURE_NAMES},
            )
        distances = {
            name: loaded.model(*self._inputs(loaded, clip)).distances()[0].cpu().numpy()
            for name, loaded in self.matchers.items()
        }
        return ClipAnalysis(
            clip=clip,
            classes=self.classes,
            background_index=background,
            localizations=localizations,
            distances=distances,
            tags=self.extractor.tags(clip),
            warnings=list(clip.warnings),
        )


def event_bounds(labels: np.ndarray, background: int) -> tuple[int, int] | None:
    """[start, end) seconds of the one contiguous event in (T,) per-second labels, else None."""
    span = event_span(labels != background)  # (start, length)
    return None if span is None else (span[0], span[0] + span[1])


def cross_modal_search(distances: np.ndarray, start: int, end: int, direction: str) -> CrossModalResult:
    """Slide the query span [start, end) of one modality over the other (the CML protocol)."""
    windows = cml_window_distances(distances, start, end - start, direction)  # checks the span
    return CrossModalResult(window_distances=windows, best_start=int(np.argmin(windows)))


def match_cross_modal(state: CrossModalState, direction: str, start: int, end: int) -> CrossModalMatch:
    """Run every matcher on the query and judge each answer when the clip's truth is known.

    In a synchronised clip the true match of the true event span is the same span, so only that
    query can be judged; any other query has no known answer.
    """
    direction = direction.lower()
    truth_span = None
    if state.ground_truth is not None:
        truth_span = event_bounds(state.ground_truth, state.background_index)
    true_start = start if truth_span == (start, end) else None
    results = {}
    for name, distances in state.distances.items():
        result = cross_modal_search(distances, start, end, direction)
        result.correct = None if true_start is None else result.best_start == true_start
        results[name] = result
    return CrossModalMatch(direction, (start, end), results, truth_span, true_start)


def load_ground_truths(folder: Path) -> dict[str, np.ndarray]:
    """Per-second labels of the example clips, keyed by the clip's content hash.

    Each example `X.mp4` has a sidecar `X.json` whose "label_indices" hold its T classes;
    keying by content means a re-uploaded copy of an example still shows its ground truth.
    """
    truths = {}
    for clip in sorted(Path(folder).glob("*.mp4")):
        sidecar = clip.with_suffix(".json")
        if sidecar.is_file():
            record = json.loads(sidecar.read_text(encoding="utf-8"))
            truths[file_sha256(clip)] = np.asarray(record["label_indices"], dtype=np.int64)
    return truths
