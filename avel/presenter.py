"""A clip's or a dataset's analysis -> what the app's tabs display: texts, figures and image files.

Rendered outputs are written into one folder per clip so the app can cache them whole (the same
upload again costs no rendering) and delete them whole when the cache evicts the entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from PIL import Image

import viz
from avel.analyze import ClipAnalysis, CrossModalState, Localization, event_bounds
from avel.calibration import Calibration
from avel.classes import UNKNOWN_TEXT
from avel.config import SummaryConfig
from avel.explore import DatasetSummary
from avel.media import write_clip
from avel.models.output import FEATURE_NAMES

JPEG_QUALITY = 88  # heatmap tiles: small files, no visible loss at 224 px


@dataclass
class ClipView:
    """Everything the Localize tab shows for one clip, files included (under `folder`)."""

    summary: str
    timeline: go.Figure
    galleries: list[list[tuple[str, str]]]  # per localizer: (image file, caption) per second
    overlay_videos: list[str | None]  # per localizer: the attention overlay video, or None
    tables: list[list[list]]  # per localizer: top-3 rows
    tags: list[list]  # the backbones' own tags per second
    placement: str | None  # the t-SNE placement image file, or None without a stored summary
    span: tuple[int, int]  # the cross-modal sliders' initial span
    state: CrossModalState
    folder: Path


def known_classes_text(events: tuple[str, ...], calibrations: dict[str, Calibration | None]) -> str:
    """The UI's statement of what the models know and when they abstain (from the checkpoints)."""
    rules = [
        f"{name} names a class only at probability >= {c.threshold:.2f}, which keeps "
        f"{100 * c.kept_correct:.0f}% of its correct {c.split} seconds and answers "
        f"{100 * c.coverage:.0f}% of them"
        if c is not None
        else f"{name} is not calibrated and never abstains"
        for name, c in calibrations.items()
    ]
    return (
        f"**The bundled models know {len(events)} event classes** (and background): {', '.join(events)}. "
        f"Anything else is not one of them: a second where a model is unsure is marked *{UNKNOWN_TEXT}* "
        f"({'; '.join(rules)})."
    )


def _caption(loc: Localization, t: int, classes: tuple[str, ...], background: int) -> str:
    """'3-4 s: Bark 0.81 · event 0.93', the second's answer with its probabilities."""
    best = int(loc.predicted[t])
    p, event = float(loc.probabilities[t, best]), float(loc.event_probability[t])
    if not loc.answered[t]:
        answer = f"{UNKNOWN_TEXT} (unsure: {classes[best]} {p:.2f})"
    elif best == background:
        answer = f"background {p:.2f}"
    else:
        answer = f"{classes[best]} {p:.2f}"
    return f"{answer} · event {event:.2f}"


def _muted(loc: Localization, background: int) -> list[bool]:
    """Background and abstained seconds: their attention says little, so they are greyed out."""
    return [(not ok) or c == background for c, ok in zip(loc.predicted, loc.answered, strict=True)]


def render_clip(
    analysis: ClipAnalysis,
    folder: Path,
    overlay_fps: int,
    summary: DatasetSummary | None,
    summary_config: SummaryConfig,
) -> ClipView:
    """Render every view of the Localize tab into `folder` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    classes, background = analysis.classes, analysis.background_index
    shown_classes = analysis.shown_classes
    unknown = len(classes)
    timeline = viz.event_timeline(
        {name: loc.probabilities for name, loc in analysis.localizations.items()},
        classes,
        analysis.ground_truth,
        background,
        answered={name: loc.answered for name, loc in analysis.localizations.items()},
    )
    lines = [
        f"**{name}:** {viz.summarize_events(loc.shown(unknown), shown_classes, background)}"
        for name, loc in analysis.localizations.items()
    ]
    if analysis.ground_truth is not None:
        lines.append(f"**Ground truth:** {viz.summarize_events(analysis.ground_truth, classes, background)}")
    galleries, videos, tables = [], [], []
    for index, loc in enumerate(analysis.localizations.values()):
        answers = [shown_classes[c] for c in loc.shown(unknown)]
        tables.append(viz.top_k_table(loc.probabilities, classes, answers=answers))
        if loc.spatial_attention is None:
            galleries.append([])
            videos.append(None)
            continue
        captions = [_caption(loc, t, classes, background) for t in range(len(loc.predicted))]
        overlays = viz.attention_overlays(
            analysis.clip.frames, loc.spatial_attention, captions, muted=_muted(loc, background)
        )
        tiles = []
        for t, (image, caption) in enumerate(overlays):
            path = folder / f"model{index}-{t:05d}.jpg"
            Image.fromarray(image).save(path, quality=JPEG_QUALITY)
            tiles.append((str(path), caption))
        galleries.append(tiles)
        videos.append(_overlay_video(analysis, [image for image, _ in overlays], folder, index, overlay_fps))
    tags = analysis.tags
    tag_rows = [] if tags is None else viz.tags_table(tags.audio, tags.visual)
    placement = None
    if summary is not None and summary.maps:
        placement = _placement_image(analysis, summary, summary_config, folder / "placement.png")
    return ClipView(
        summary="\n\n".join(lines),
        timeline=timeline,
        galleries=galleries,
        overlay_videos=videos,
        tables=tables,
        tags=tag_rows,
        placement=placement,
        span=_initial_span(analysis),
        state=analysis.cross_modal_state,
        folder=folder,
    )


def _overlay_video(
    analysis: ClipAnalysis, overlays: list[np.ndarray], folder: Path, index: int, fps: int
) -> str:
    """The per-second overlays as a video with the clip's own audio."""
    frames = np.repeat(np.stack(overlays), fps, axis=0)  # (T, H, W, 3) -> (T * fps, H, W, 3)
    path = folder / f"model{index}-attention.mp4"
    write_clip(path, frames, fps, analysis.clip.waveform, analysis.clip.sample_rate)
    return str(path)


def _initial_span(analysis: ClipAnalysis) -> tuple[int, int]:
    """The true event span when known, else the first localizer's predicted one, else the clip."""
    labels = analysis.ground_truth
    if labels is None and analysis.localizations:
        labels = next(iter(analysis.localizations.values())).predicted
    span = None if labels is None else event_bounds(labels, analysis.background_index)
    return span if span is not None else (0, analysis.clip.num_segments)


def _placement_image(
    analysis: ClipAnalysis, summary: DatasetSummary, config: SummaryConfig, path: Path
) -> str | None:
    """The stored t-SNE maps with the clip's seconds placed on them (stars numbered by second)."""
    loc = analysis.localizations.get(summary.map_model)
    if loc is None:
        return None
    panels, highlights = {}, {}
    for feature, fmap in summary.maps.items():
        if feature not in loc.features:
            continue
        title = feature.replace("_", " ")
        panels[title] = (fmap.coords, fmap.labels)
        highlights[title] = fmap.place(loc.features[feature], config.neighbours)
    if not panels:
        return None
    figure = viz.tsne_figure(panels, summary.classes, highlights=highlights)
    figure.suptitle(f"This clip's seconds (stars) on {summary.map_model}'s maps of {summary.source}")
    Image.fromarray(viz.figure_to_image(figure)).save(path)
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
