"""A clip's or a dataset's analysis -> what the app's tabs display: texts, figures and image files.

Rendered outputs are written into one folder per clip so the app can cache them whole (the same
upload again costs no rendering) and delete them whole when the cache evicts the entry. Each
model's per-second heatmaps are one captioned grid image, not one file per second: a repeat
serves a handful of files. The attention overlay videos are made only when asked for
(`make_overlay_videos`), from the grid and the clip's sound kept in the same folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from PIL import Image

import viz
from avel.analysis.clip import ClipAnalysis, Localization
from avel.analysis.crossmodal import CrossModalState, event_bounds
from avel.analysis.summary import DatasetSummary
from avel.common.calibration import Calibration
from avel.common.classes import UNKNOWN_TEXT, UNSURE_TEXT
from avel.common.config import SummaryConfig
from avel.features.media import write_clip
from avel.models.output import FEATURE_NAMES

JPEG_QUALITY = 88  # heatmap grids: small files, no visible loss at 224 px per tile
PNG_COMPRESSION = 1  # zlib level of the placement image: fast to write, a little larger
AUDIO_FILE = "audio.npy"  # the clip's sound (float32 mono), for the overlay videos made on demand


@dataclass(frozen=True)
class ViewSettings:
    """How the Localize tab draws a clip (AppConfig's heatmap_columns and timeline_seconds)."""

    columns: int  # seconds per row of each model's heatmap grid
    timeline_seconds: int  # the timeline opens on this many first seconds (a range slider zooms)


@dataclass
class ClipView:
    """Everything the Localize tab shows for one clip, files included (under `folder`)."""

    summary: str
    timeline: go.Figure
    heatmaps: list[str | None]  # per localizer: its captioned grid of per-second heatmaps, or None
    captions: list[str]  # per localizer: the grid's captions as markdown (one line per second)
    tables: list[list[list]]  # per localizer: top-3 rows
    tags: list[list]  # the backbones' own tags per second
    placement: str | None  # the t-SNE placement image file, or None without a stored summary
    span: tuple[int, int]  # the cross-modal sliders' initial span
    state: CrossModalState
    folder: Path
    columns: int  # of the heatmap grids, to cut them back into seconds for the videos
    sample_rate: int  # of the clip's sound in folder / AUDIO_FILE
    overlay_videos: list[str | None] | None = None  # per localizer, once made (make_overlay_videos)
    windowed: bool = False  # a long clip: localized in windows, heatmaps of its most eventful seconds
    warnings: list[str] = field(default_factory=list)  # the analysis's, shown again on every cached repeat


def real_footage_text(records: dict[str, dict[str, Any] | None]) -> str:
    """One sentence of how the models score on real clips (`score-clips --store`), or "" if never scored."""
    scored = {name: r for name, r in records.items() if r}
    if not scored:
        return ""
    first = next(iter(scored.values()))
    figures = "; ".join(
        f"{name} labels {100 * r['known_accuracy']:.0f}% of the seconds of known events right and claims a "
        f"trained class on {100 * r['other_claim_rate']:.0f}% of the seconds of other events"
        for name, r in scored.items()
    )
    return (
        f" They were trained only on the composite benchmark (photos and recordings composed into "
        f"videos); on {first['clips']} real clips ({first['folder']}, {first['known_clips']} of known "
        f"classes) {figures}."
    )


def known_classes_text(
    events: tuple[str, ...],
    calibrations: dict[str, Calibration | None],
    real_footage: dict[str, dict[str, Any] | None] | None = None,
) -> str:
    """The UI's statement of what the models know, how they do on real footage and when they
    abstain (all from the checkpoints)."""
    rules = [
        f"{name} names a class only at probability >= {c.threshold:.2f}, which keeps "
        f"{100 * c.kept_correct:.0f}% of its correct {c.split} seconds and answers "
        f"{100 * c.coverage:.0f}% of them"
        if c is not None
        else f"{name} is not calibrated and never abstains"
        for name, c in calibrations.items()
    ]
    return (
        f"**The bundled models know {len(events)} event classes** (and background): {', '.join(events)}."
        + real_footage_text(real_footage or {})
        + f" A second no model can name is marked *{UNSURE_TEXT}* when its probability sits on a few "
        f"trained classes and *{UNKNOWN_TEXT}* when it sits on none ({'; '.join(rules)})."
    )


def _caption(loc: Localization, t: int, classes: tuple[str, ...], background: int) -> str:
    """'3-4 s: Bark 0.81 · event 0.93', the second's answer with its probabilities."""
    best = int(loc.predicted[t])
    p, event = float(loc.probabilities[t, best]), float(loc.event_probability[t])
    if not loc.answered[t]:
        second = int(np.argsort(loc.probabilities[t])[-2])
        answer = (
            f"{UNSURE_TEXT} ({classes[best]} {p:.2f} / {classes[second]} {loc.probabilities[t, second]:.2f})"
            if loc.unsure is not None and loc.unsure[t]
            else f"{UNKNOWN_TEXT} (top: {classes[best]} {p:.2f})"
        )
    elif best == background:
        answer = f"background {p:.2f}"
    else:
        answer = f"{classes[best]} {p:.2f}"
    return f"{answer} · event {event:.2f}"


def _muted(loc: Localization, background: int) -> list[bool]:
    """Background and abstained seconds: their attention says little, so they are greyed out."""
    return [(not ok) or c == background for c, ok in zip(loc.predicted, loc.answered, strict=True)]


def render_clip(
    analysis: ClipAnalysis, folder: Path, settings: ViewSettings, placement: ClipPlacement | None
) -> ClipView:
    """Every view of the Localize tab for a clip of any length, written into `folder` (created).

    A windowed (long) clip has fewer views, as its analysis says: heatmaps of its most eventful
    seconds, and no sound for overlay videos, tags, t-SNE placement or cross-modal matching.
    """
    folder.mkdir(parents=True, exist_ok=True)
    classes, background = analysis.classes, analysis.background_index
    shown_classes, unknown = analysis.shown_classes, len(classes)
    timeline = viz.event_timeline(
        {name: loc.probabilities for name, loc in analysis.localizations.items()},
        classes,
        analysis.ground_truth,
        background,
        answered={name: loc.answered for name, loc in analysis.localizations.items()},
        unsure={name: loc.unsure for name, loc in analysis.localizations.items() if loc.unsure is not None},
        initial_seconds=settings.timeline_seconds,
    )
    lines = [
        f"**{name}:** {viz.summarize_events(loc.shown(unknown), shown_classes, background)}"
        for name, loc in analysis.localizations.items()
    ]
    if analysis.windowed:
        lines.insert(0, _windowed_note(analysis))
    if analysis.warnings:
        lines.append("**Warnings:** " + "; ".join(analysis.warnings))
    if analysis.ground_truth is not None:
        lines.append(f"**Ground truth:** {viz.summarize_events(analysis.ground_truth, classes, background)}")
    heatmaps, captions, tables = [], [], []
    for index, (name, loc) in enumerate(analysis.localizations.items()):
        answers = [shown_classes[c] for c in loc.shown(unknown)]
        tables.append(viz.top_k_table(loc.probabilities, classes, answers=answers))
        seconds = analysis.shown_seconds.get(name)
        if loc.spatial_attention is None or not seconds:
            heatmaps.append(None)
            captions.append(f"{name} has no spatial attention to show.")
            continue
        frames = np.stack([analysis.frames[t] for t in seconds])  # (n, S, S, 3)
        grid, text = _heatmap_grid(loc, frames, seconds, classes, background, settings.columns, folder, index)
        heatmaps.append(grid)
        which = f"its {len(seconds)} most eventful seconds" if analysis.windowed else "per second"
        captions.append(f"**{name}, {which}**:  \n{text}")
    if analysis.waveform is not None:
        np.save(folder / AUDIO_FILE, analysis.waveform.astype(np.float32))
    tags = analysis.tags
    return ClipView(
        summary="\n\n".join(lines),
        timeline=timeline,
        heatmaps=heatmaps,
        captions=captions,
        tables=tables,
        tags=[] if tags is None else viz.tags_table(tags.audio, tags.visual),
        placement=None if placement is None else placement.image(analysis, folder / "placement.png"),
        span=_initial_span(analysis),
        state=analysis.cross_modal_state,
        folder=folder,
        columns=settings.columns,
        sample_rate=analysis.sample_rate,
        windowed=analysis.windowed,
        warnings=list(analysis.warnings),
    )


def _windowed_note(analysis: ClipAnalysis) -> str:
    config = analysis.config
    return (
        f"**A long clip ({analysis.num_segments} s)**, localized as `python -m avel localize` does: the "
        f"models run over {config.model_window}-s windows every {config.model_hop} s, averaged per second. "
        f"Over {config.whole_clip_seconds} s the tab shows each model's most eventful seconds as heatmaps, "
        "and no overlay videos, t-SNE placement, backbone tags or cross-modal matching."
    )


def _heatmap_grid(
    loc: Localization,
    frames: np.ndarray,
    seconds: list[int],
    classes: tuple[str, ...],
    background: int,
    columns: int,
    folder: Path,
    index: int,
) -> tuple[str, str]:
    """Model `index`'s captioned heatmaps of `seconds` (frames: (n, S, S, 3), one per second) as a
    JPEG grid in `folder`, and the same captions as markdown lines (searchable, screen-readable).
    """
    labels = [_caption(loc, t, classes, background) for t in seconds]
    muted = _muted(loc, background)
    grid = viz.attention_gallery(
        frames,
        loc.spatial_attention[seconds],
        labels,
        columns,
        muted=[muted[t] for t in seconds],
        seconds=seconds,
    )
    path = folder / f"model{index}-heatmaps.jpg"
    Image.fromarray(grid).save(path, quality=JPEG_QUALITY)
    rows = [f"{viz.span_label(t, t + 1)} s: {label}" for t, label in zip(seconds, labels, strict=True)]
    return str(path), "  \n".join(rows)


def make_overlay_videos(view: ClipView, fps: int) -> list[str | None]:
    """Each model's heatmaps as a video with the clip's sound, written once into the view's folder.

    The frames are the grid's captioned tiles (one per second, held for `fps` frames), so the
    video shows exactly what the grid shows, without keeping the clip's frames in memory.
    """
    if view.overlay_videos is not None and all(v is None or Path(v).is_file() for v in view.overlay_videos):
        return view.overlay_videos
    waveform = np.load(view.folder / AUDIO_FILE)
    seconds = view.state.num_segments
    videos: list[str | None] = []
    for index, grid_path in enumerate(view.heatmaps):
        if grid_path is None:
            videos.append(None)
            continue
        with Image.open(grid_path) as image:
            grid = np.asarray(image.convert("RGB"))
        tiles = np.stack(viz.gallery_tiles(grid, seconds, view.columns))  # (T, H, W, 3)
        path = view.folder / f"model{index}-attention.mp4"
        write_clip(path, np.repeat(tiles, fps, axis=0), fps, waveform, view.sample_rate)
        videos.append(str(path))
    view.overlay_videos = videos
    return videos


def _initial_span(analysis: ClipAnalysis) -> tuple[int, int]:
    """The true event span when known, else the first localizer's predicted one, else the clip."""
    labels = analysis.ground_truth
    if labels is None and analysis.localizations:
        labels = next(iter(analysis.localizations.values())).predicted
    span = None if labels is None else event_bounds(labels, analysis.background_index)
    return span if span is not None else (0, analysis.num_segments)


class ClipPlacement:
    """The stored t-SNE maps, drawn once, on which each clip's seconds are placed as stars."""

    def __init__(self, summary: DatasetSummary, config: SummaryConfig) -> None:
        self.summary, self.config = summary, config
        self.titles = {feature: feature.replace("_", " ") for feature in summary.maps}
        self.maps = viz.HighlightedMaps(
            {self.titles[f]: (m.coords, m.labels) for f, m in summary.maps.items()},
            summary.classes,
            title=f"This clip's seconds (stars) on {summary.map_model}'s maps of {summary.source}",
        )

    def image(self, analysis: ClipAnalysis, path: Path) -> str | None:
        """The maps with the clip's seconds placed by their nearest stored points, as a PNG file."""
        loc = analysis.localizations.get(self.summary.map_model)
        if loc is None:
            return None
        highlights = {
            self.titles[feature]: fmap.place(loc.features[feature], self.config.neighbours)
            for feature, fmap in self.summary.maps.items()
            if feature in loc.features
        }
        if not highlights:
            return None
        Image.fromarray(self.maps.image(highlights)).save(path, compress_level=PNG_COMPRESSION)
        return str(path)


@dataclass
class DatasetView:
    """What the dataset tab shows for one summary."""

    text: str
    confusions: list
    per_class: object
    tsne: object


def render_dataset(summary: DatasetSummary) -> DatasetView:
    """Confusion matrices, per-class accuracy and the t-SNE maps of a summary with maps."""
    classes = summary.classes
    confusions = [
        viz.confusion_matrix_figure(model.confusion, classes, title=f"{name}: confusion ({summary.split})")
        for name, model in summary.models.items()
    ]
    per_class = viz.per_class_accuracy_figure(
        {name: model.per_class for name, model in summary.models.items()},
        classes,
        counts=np.bincount(summary.labels.ravel(), minlength=len(classes)),
    )
    panels = {
        feature.replace("_", " "): (summary.maps[feature].coords, summary.maps[feature].labels)
        for feature in FEATURE_NAMES
        if feature in summary.maps
    }
    tsne = viz.tsne_figure(panels, classes) if panels else None
    points = len(next(iter(summary.maps.values())).labels) if summary.maps else 0
    accuracy = " · ".join(f"**{name}:** {100 * m.accuracy:.1f}%" for name, m in summary.models.items())
    text = (
        f"**{summary.source}**: segment accuracy {accuracy}\n\n"
        f"t-SNE of {summary.map_model}'s features: {points} of {summary.labels.size} seconds "
        "(stratified sample)."
    )
    return DatasetView(text, confusions, per_class, tsne)
