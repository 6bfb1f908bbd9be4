"""One clip -> everything the app shows, for the co-attention model and the baseline side by side.

The clip's features are extracted once with the checkpoints' backbones (native dims, cached by
content hash); each checkpoint then applies its own stored projection, so a model never sees
features of a shape or basis it was not trained on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from avel.checkpoint import LoadedModel, load_checkpoint
from avel.classes import background_index
from avel.config import FeatureConfig
from avel.features import ClipFeatures, FeatureExtractor, file_sha256
from avel.metrics import cml_window_distances
from avel.projection import Projection

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
    spatial_attention: np.ndarray | None  # (T, h, w) attention over the grid, or None


@dataclass
class ClipAnalysis:
    """What the app renders for one clip."""

    clip: ClipFeatures
    classes: tuple[str, ...]
    background_index: int
    localizations: dict[str, Localization]
    distances: dict[str, np.ndarray]  # matcher name -> (T, T) audio-vs-visual segment distances
    ground_truth: np.ndarray | None = None  # (T,) class per second when known
    warnings: list[str] = field(default_factory=list)


@dataclass
class CrossModalResult:
    """The sliding-window search of one matcher for one query span."""

    window_distances: np.ndarray  # (T - l + 1,) summed distance at each candidate start
    best_start: int


def _projection_of(loaded: LoadedModel) -> Projection | None:
    stored = (loaded.features or {}).get("projection")
    return Projection.from_dict(stored) if stored is not None else None


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
    ) -> None:
        self.device = torch.device(device)
        self.localizers = {name: load_checkpoint(p, self.device) for name, p in paths.localizers.items()}
        self.matchers = {name: load_checkpoint(p, self.device) for name, p in paths.matchers.items()}
        models = [*self.localizers.values(), *self.matchers.values()]
        if not models:
            raise ValueError("no checkpoints given: the app needs at least one SEL or CML checkpoint")
        self.classes = models[0].classes
        self._check_agree(models)
        self.projections = {id(m): _projection_of(m) for m in models}
        info = (models[0].features or {}).get("info") or {}
        defaults = FeatureConfig()
        self.feature_config = feature_config or FeatureConfig(
            visual_backbone=info.get("visual_backbone", defaults.visual_backbone),
            audio_backbone=info.get("audio_backbone", defaults.audio_backbone),
            frames_per_segment=int(info.get("frames_per_segment", defaults.frames_per_segment)),
        )
        self.extractor = FeatureExtractor(self.feature_config, cache_dir=cache_dir, device=str(self.device))

    def _check_agree(self, models: list[LoadedModel]) -> None:
        """All compared models must share classes and backbones, or a side-by-side view lies."""
        for loaded in models:
            if loaded.classes != self.classes:
                raise ValueError(f"{loaded.path}: its classes differ from {models[0].path}'s")
            info = (loaded.features or {}).get("info") or {}
            first = (models[0].features or {}).get("info") or {}
            for key in ("visual_backbone", "audio_backbone"):
                if info.get(key) != first.get(key):
                    raise ValueError(
                        f"{loaded.path}: {key} {info.get(key)!r} differs from "
                        f"{models[0].path}'s {first.get(key)!r}"
                    )

    def _inputs(self, loaded: LoadedModel, clip: ClipFeatures) -> tuple[torch.Tensor, torch.Tensor]:
        """The clip's features in this model's basis, as a batch of one."""
        audio, visual = clip.audio, clip.visual
        projection = self.projections[id(loaded)]
        if projection is not None:
            audio, visual = projection.apply_audio(audio), projection.apply_visual(visual)
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
        localizations = {}
        for name, loaded in self.localizers.items():
            output = loaded.model(*self._inputs(loaded, clip))
            probabilities = torch.softmax(output.scores()[0], dim=-1).cpu().numpy()  # (T, C)
            attention = output.spatial_attention
            localizations[name] = Localization(
                probabilities=probabilities,
                predicted=probabilities.argmax(axis=-1),
                spatial_attention=None if attention is None else attention[0].cpu().numpy(),
            )
        distances = {
            name: loaded.model(*self._inputs(loaded, clip)).distances()[0].cpu().numpy()
            for name, loaded in self.matchers.items()
        }
        return ClipAnalysis(
            clip=clip,
            classes=self.classes,
            background_index=background_index(self.classes),
            localizations=localizations,
            distances=distances,
            warnings=list(clip.warnings),
        )


def cross_modal_search(distances: np.ndarray, start: int, end: int, direction: str) -> CrossModalResult:
    """Slide the query span [start, end) of one modality over the other (the CML protocol)."""
    num_segments = distances.shape[0]
    if not 0 <= start < end <= num_segments:
        raise ValueError(f"query span must satisfy 0 <= start < end <= {num_segments}, got [{start}, {end})")
    windows = cml_window_distances(distances, start, end - start, direction)
    return CrossModalResult(window_distances=windows, best_start=int(np.argmin(windows)))


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
