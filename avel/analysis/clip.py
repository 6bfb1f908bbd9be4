"""One clip -> every model's per-second answer, by one road for any length.

`analyze_clip` reads the clip's length from its header once and decides how to decode it: a clip
up to `LocalizeConfig.whole_clip_seconds` is decoded whole (its frames, sound, backbone tags and
the CML models' distances come along, for every view the app has); a longer one is decoded one
`decode_window` at a time in bounded memory, and only its most eventful seconds' frames are
decoded again for their heatmaps. Either way the localizers run over the same model windows
(avel/analysis/windows.py), so the app, `python -m avel localize` and `avel.localize` give the
same seconds and labels for the same file, and return the same `ClipAnalysis`.

The clip's features are extracted once with the checkpoints' backbones (native dims; whole clips
cached by content hash); each checkpoint then applies its own stored projection, so a model
never sees features of a shape or basis it was not trained on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avel.analysis.crossmodal import CrossModalState
from avel.analysis.windows import DecodedChunk, ModelTrack, WindowScorer
from avel.common.calibration import ANSWERED, UNSURE, abstention
from avel.common.classes import UNKNOWN, UNKNOWN_TEXT, UNSURE_TEXT, background_index
from avel.common.classes import UNSURE as UNSURE_LABEL
from avel.common.config import FeatureConfig, LocalizeConfig
from avel.common.metrics import merge_segments
from avel.features.extractor import BackboneTags, ClipFeatures, FeatureExtractor, file_sha256
from avel.features.media import MediaError, analysed_span, clip_seconds, decode_window, track_ends
from avel.training.checkpoint import LoadedModel, load_checkpoint

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
RESULT_FORMAT = "avel.localize/1"
TOP_K = 3
WINDOWS_SHARE = 0.95  # of a long clip's progress bar: the windows; the rest decodes the seconds shown
MODELS_SHARE = 0.95  # of a whole clip's progress bar: the features; the rest runs the models


class ClipTooLong(MediaError):
    """The header says the clip is longer than `LocalizeConfig.max_seconds`; nothing was decoded."""

    def __init__(self, path: Path, seconds: int, limit: int) -> None:
        super().__init__(f"{path}: {seconds} s, longer than max_seconds={limit}")
        self.path, self.seconds, self.limit = path, seconds, limit


@dataclass(frozen=True)
class ModelPaths:
    """Which checkpoints are compared: display name -> file, per task."""

    localizers: dict[str, Path]  # SEL checkpoints, e.g. {"Co-attention": ..., "Baseline": ...}
    matchers: dict[str, Path]  # CML checkpoints


@dataclass
class Localization:
    """One model's per-second answer for a clip."""

    probabilities: np.ndarray  # (T, C) softmax of the stream scores, averaged over the model windows
    predicted: np.ndarray  # (T,) argmax class index
    answered: np.ndarray  # (T,) bool: False where the top probability is below the threshold (abstain)
    event_probability: np.ndarray  # (T,) 1 - p(background): is anything audio-visual happening?
    spatial_attention: np.ndarray | None  # (T, h, w) attention over the grid, or None
    threshold: float | None = None  # the calibrated abstention threshold (None: never abstains)
    features: dict[str, np.ndarray] = field(default_factory=dict)  # FEATURE_NAMES -> (T, dim)
    # (T,) bool: abstained with the probability on a few trained classes ("unsure"), not on none
    unsure: np.ndarray | None = None
    unsure_mass: float | None = None  # the calibrated rule behind `unsure` (None: never unsure)

    @classmethod
    def from_track(cls, track: ModelTrack, background: int) -> Localization:
        probabilities = track.probabilities  # (T, C)
        kinds = abstention(probabilities, track.threshold, track.unsure_mass)  # (T,)
        return cls(
            probabilities=probabilities,
            predicted=probabilities.argmax(axis=-1),
            answered=kinds == ANSWERED,
            event_probability=1.0 - probabilities[:, background],
            spatial_attention=track.attention,
            threshold=track.threshold,
            features=track.features,
            unsure=kinds == UNSURE,
            unsure_mass=track.unsure_mass,
        )

    def shown(self, num_classes: int) -> np.ndarray:
        """(T,) class index per second, with abstained seconds as `num_classes` (not a known event)
        or, when unsure between trained classes, `num_classes + 1` (ClipAnalysis.shown_classes)."""
        abstained = num_classes + (self.unsure if self.unsure is not None else 0)
        return np.where(self.answered, self.predicted, abstained)


@dataclass
class ClipAnalysis:
    """Every model's answer for one clip of any length, and what there is to show it on.

    A clip decoded window by window (`windowed`) has fewer views: frames only for its shown
    seconds, and no sound, backbone tags or cross-modal distances.
    """

    file: str  # the path as given
    content_hash: str | None  # sha256 of the file; a long clip's only when the caller gave it
    num_segments: int
    classes: tuple[str, ...]
    localizations: dict[str, Localization]
    shown_seconds: dict[str, list[int]]  # per model with attention: the seconds its heatmaps show
    frames: dict[int, np.ndarray]  # second -> (S, S, 3) uint8, its middle frame, for every shown second
    windowed: bool
    config: LocalizeConfig
    distances: dict[str, np.ndarray] = field(default_factory=dict)  # matcher -> (T, T); whole clips only
    tags: BackboneTags | None = None  # what the backbones perceive per second; whole clips only
    waveform: np.ndarray | None = None  # (T * sample_rate,) mono; whole clips only (overlay videos)
    sample_rate: int = 0
    warnings: list[str] = field(default_factory=list)
    ground_truth: np.ndarray | None = None  # (T,) class per second when known
    # (T, 4) the true object box per second, (x0, y0, x1, y1) as fractions of the frame, NaN where the
    # object is hidden; known for the composite examples only (KnownTruth)
    object_boxes: np.ndarray | None = None

    @property
    def background_index(self) -> int:
        return background_index(self.classes)

    @property
    def shown_classes(self) -> tuple[str, ...]:
        """The classes plus the names of the two kinds of abstained second, for Localization.shown()."""
        return (*self.classes, UNKNOWN_TEXT, UNSURE_TEXT)

    @property
    def cross_modal_state(self) -> CrossModalState:
        return CrossModalState(self.distances, self.num_segments, self.ground_truth, self.background_index)

    def to_json(self) -> dict[str, Any]:
        """The documented schema: {"format", "file", "seconds", "warnings", "models": {NAME: ...}}."""
        models = {name: self._model_json(loc) for name, loc in self.localizations.items()}
        return {
            "format": RESULT_FORMAT,
            "file": self.file,
            "seconds": self.num_segments,
            "warnings": self.warnings,
            "models": models,
        }

    def _model_json(self, loc: Localization) -> dict[str, Any]:
        probabilities, background = loc.probabilities, self.background_index
        ranked = np.argsort(-probabilities, axis=1, kind="stable")[:, :TOP_K]  # (T, k)
        seconds = [
            {
                "start": t,
                "end": t + 1,
                "label": self._label(loc, t),
                "probability": round(float(probabilities[t, loc.predicted[t]]), 4),
                "top3": [
                    {"label": self.classes[c], "probability": round(float(probabilities[t, c]), 4)}
                    for c in ranked[t]
                ],
            }
            for t in range(self.num_segments)
        ]
        segments = [
            {"start": s, "end": e, "label": self.classes[c], "score": round(score, 4)}
            for c, s, e, score in merge_segments(
                loc.shown(len(self.classes)),
                probabilities,
                skip=(background, len(self.classes), len(self.classes) + 1),
            )
        ]
        return {
            "threshold": loc.threshold,
            "unsure_mass": loc.unsure_mass,
            "seconds": seconds,
            "segments": segments,
        }

    def _label(self, loc: Localization, t: int) -> str:
        """The class, "background", or for an abstained second "unsure" or "unknown"."""
        if not loc.answered[t]:
            return UNSURE_LABEL if loc.unsure is not None and loc.unsure[t] else UNKNOWN
        index = int(loc.predicted[t])
        return "background" if index == self.background_index else self.classes[index]


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

    def scorer(self, config: LocalizeConfig, keep_features: bool = False) -> WindowScorer:
        """The localizers over `config`'s model windows, in each model's own basis."""
        return WindowScorer(self.localizers, self.project, self.as_batch, config, keep_features)

    @torch.inference_mode()
    def distances(self, clip: ClipFeatures) -> dict[str, np.ndarray]:
        """Each matcher's (T, T) audio-vs-visual distances over the whole clip (CML is not windowed)."""
        return {
            name: loaded.model(*self.model_inputs(loaded, clip.audio, clip.visual))
            .distances()[0]
            .cpu()
            .numpy()
            for name, loaded in self.matchers.items()
        }


def analyze_clip(
    analyzer: Analyzer,
    path: str | Path,
    config: LocalizeConfig | None = None,
    progress: Progress | None = None,
    *,
    content_hash: str | None = None,
    on_final: Callable[..., None] | None = None,
) -> ClipAnalysis:
    """Every model over the clip at `path`, decoded whole or window by window (see the module docstring).

    `content_hash` (the file's sha256, when the caller has it) spares a second pass over the bytes;
    `on_final(tracks, held, start, end)` sees each run of seconds once no later window changes them
    (the `localize --heatmaps` overlays). Raises MediaError (ClipTooLong past `config.max_seconds`).
    """
    config = config or LocalizeConfig()
    path = Path(path)
    try:
        seconds: int | None = clip_seconds(path)  # the one header read
    except MediaError:
        seconds = None  # no duration header: the whole decode finds the length (and its limit) itself
    if seconds is not None and seconds > config.max_seconds:
        raise ClipTooLong(path, seconds, config.max_seconds)
    whole_limit = min(config.whole_clip_seconds, analyzer.feature_config.max_seconds)
    if seconds is None or seconds <= whole_limit:
        return _analyze_whole(analyzer, path, config, progress, content_hash, on_final)
    # The header may overstate the video (a track ending early): the packets say where each ends,
    # so a long clip is scored over the seconds it has, with decode_clip's warnings, never "unknown".
    # It stays on this road even when its video is short: a whole decode goes by the header's length.
    seconds, warnings = analysed_span(track_ends(path), path)
    return _analyze_windowed(analyzer, path, seconds, config, progress, content_hash, on_final, warnings)


def _analyze_whole(
    analyzer: Analyzer,
    path: Path,
    config: LocalizeConfig,
    progress: Progress | None,
    content_hash: str | None,
    on_final: Callable[..., None] | None,
) -> ClipAnalysis:
    """Decoded at once (features cached by content): every second's frame, the sound, tags, distances."""

    def features(fraction: float, message: str) -> None:
        if progress is not None:
            progress(MODELS_SHARE * fraction, message)

    clip = analyzer.extractor.extract_clip(path, progress=features, content_hash=content_hash)
    if progress:
        progress(MODELS_SHARE, "running the models")
    chunk = DecodedChunk(0, clip.audio, clip.visual, clip.frames)
    tracks = analyzer.scorer(config, keep_features=True).score(
        [chunk], clip.num_segments, len(analyzer.classes), on_final
    )
    localizations = _localizations(tracks, analyzer.classes)
    every_second = list(range(clip.num_segments))
    return ClipAnalysis(
        file=str(path),
        content_hash=clip.content_hash,
        num_segments=clip.num_segments,
        classes=analyzer.classes,
        localizations=localizations,
        shown_seconds={
            n: every_second for n, loc in localizations.items() if loc.spatial_attention is not None
        },
        frames=dict(enumerate(clip.frames)),
        windowed=False,
        config=config,
        distances=analyzer.distances(clip),
        tags=analyzer.extractor.tags(clip),
        waveform=clip.waveform,
        sample_rate=clip.sample_rate,
        warnings=list(clip.warnings),
    )


def _analyze_windowed(
    analyzer: Analyzer,
    path: Path,
    num_segments: int,
    config: LocalizeConfig,
    progress: Progress | None,
    content_hash: str | None,
    on_final: Callable[..., None] | None,
    warnings: list[str],
) -> ClipAnalysis:
    """Decoded `decode_window` seconds at a time; then each model's most eventful seconds' frames.

    `warnings` are the whole clip's (analysed_span): a window's own audio gap is part of them."""
    chunks = _decode_windows(analyzer, path, num_segments, config, progress)
    tracks = analyzer.scorer(config).score(chunks, num_segments, len(analyzer.classes), on_final)
    localizations = _localizations(tracks, analyzer.classes)
    shown = {
        name: most_eventful(loc.event_probability, config.heatmap_seconds)
        for name, loc in localizations.items()
        if loc.spatial_attention is not None
    }
    wanted = sorted({t for seconds in shown.values() for t in seconds})
    if progress is not None:
        progress(WINDOWS_SHARE, f"decoding the {len(wanted)} seconds shown as heatmaps")
    return ClipAnalysis(
        file=str(path),
        content_hash=content_hash,  # not hashed here: an hour of video is GBs that nothing else reads
        num_segments=num_segments,
        classes=analyzer.classes,
        localizations=localizations,
        shown_seconds=shown,
        frames={t: middle_frame(analyzer, path, t) for t in wanted},
        windowed=True,
        config=config,
        warnings=warnings,
    )


def _decode_windows(
    analyzer: Analyzer,
    path: Path,
    num_segments: int,
    config: LocalizeConfig,
    progress: Progress | None,
) -> Iterator[DecodedChunk]:
    """The clip's decode windows in order, native features embedded; a window short of its seconds
    is a MediaError (its missing seconds would be left unscored)."""
    extractor = analyzer.extractor
    for start in range(0, num_segments, config.decode_window):
        seconds = min(config.decode_window, num_segments - start)
        clip = decode_window(path, start, seconds, extractor.cfg)
        if clip.num_segments < seconds:
            raise MediaError(
                f"{path}: the video stops at {start + clip.num_segments} s, before the {num_segments} s "
                "its packets announce; the file is corrupt"
            )

        def embedding(fraction: float, message: str, start: int = start, seconds: int = seconds) -> None:
            if progress is not None:  # each backbone batch: a caller may pause here (the app does)
                progress(WINDOWS_SHARE * (start + fraction * seconds) / num_segments, message)

        audio, visual = extractor.encode(clip, embedding)
        yield DecodedChunk(start, audio, visual, clip.frames[:, clip.frames.shape[1] // 2])
        if progress is not None:
            end = start + seconds
            progress(WINDOWS_SHARE * end / num_segments, f"windows: {end} of {num_segments} s")


def _localizations(tracks: dict[str, ModelTrack], classes: tuple[str, ...]) -> dict[str, Localization]:
    background = background_index(classes)
    return {name: Localization.from_track(track, background) for name, track in tracks.items()}


def most_eventful(event_probability: np.ndarray, top: int) -> list[int]:
    """The `top` seconds of highest event probability (earlier first on ties), in time order."""
    ranked = np.argsort(-event_probability, kind="stable")[:top]
    return sorted(int(t) for t in ranked)


def middle_frame(analyzer: Analyzer, path: str | Path, second: int) -> np.ndarray:
    """(S, S, 3): the frame the localizer drew second `second`'s attention on (its middle sample)."""
    clip = decode_window(path, second, 1, analyzer.extractor.cfg)
    return clip.frames[0, clip.frames.shape[1] // 2]


@dataclass(frozen=True)
class KnownTruth:
    """What an example clip's sidecar says is in it (ClipAnalysis.ground_truth, .object_boxes)."""

    labels: np.ndarray  # (T,) class per second
    boxes: np.ndarray | None  # (T, 4) object box per second as fractions of the frame, NaN: hidden

    def apply_to(self, analysis: ClipAnalysis) -> None:
        """Give the analysis of the example's clip its truth: the timeline's labels, the heatmaps' boxes."""
        analysis.ground_truth, analysis.object_boxes = self.labels, self.boxes


def _fractional_boxes(record: dict[str, Any]) -> np.ndarray | None:
    """(T, 4) the sidecar's per-second "bbox" (pixels of its square "frame_size" frame) as fractions
    of the frame, NaN where null; None for a sidecar without boxes."""
    if "bbox" not in record:
        return None
    boxes = [[np.nan] * 4 if box is None else box for box in record["bbox"]]
    return np.asarray(boxes, dtype=float) / float(record["frame_size"])


def load_ground_truths(folder: Path) -> dict[str, KnownTruth]:
    """Per-second labels (and object boxes) of the example clips, keyed by the clip's content hash.

    Each example `X.mp4` has a sidecar `X.json` whose "label_indices" hold its T classes and, for a
    composite example (`python -m avel bench examples`), "bbox" its object's box per second;
    keying by content means a re-uploaded copy of an example still shows its ground truth.
    """
    truths = {}
    for clip in sorted(Path(folder).glob("*.mp4")):
        sidecar = clip.with_suffix(".json")
        if sidecar.is_file():
            record = json.loads(sidecar.read_text(encoding="utf-8"))
            labels = np.asarray(record["label_indices"], dtype=np.int64)
            boxes = _fractional_boxes(record)
            if boxes is not None and boxes.shape != (len(labels), 4):
                raise ValueError(
                    f"{sidecar.name}: expected one [x0, y0, x1, y1] or null per second in its bbox "
                    f"({len(labels)} seconds), got an array of shape {boxes.shape}"
                )
            truths[file_sha256(clip)] = KnownTruth(labels, boxes)
    return truths
