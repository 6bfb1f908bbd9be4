"""A clip's or a dataset's analysis -> what the app's tabs display: texts, figures and image files.

Rendered outputs are written into one folder per clip so the app can cache them whole (the same
upload again costs no rendering) and delete them whole when the cache evicts the entry. Each
model's per-second heatmaps are one captioned grid image, not one file per second: a repeat
serves a handful of files. The attention overlay videos and the downloads are made only when
asked for (`make_overlay_videos`, `write_downloads`): the overlay videos from the clip itself,
re-decoded at its own resolution (up to 720p) and frame rate, with the sound kept in the folder.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from PIL import Image

import viz
from avel.analysis.clip import ClipAnalysis, Localization
from avel.analysis.crossmodal import CrossModalState, event_bounds
from avel.analysis.localize import CSV_FIELDS, csv_rows
from avel.analysis.summary import DatasetSummary
from avel.common.calibration import Calibration
from avel.common.classes import UNKNOWN_TEXT, UNSURE_TEXT
from avel.common.config import SummaryConfig
from avel.features.media import decoded_frames, write_clip
from avel.models.output import FEATURE_NAMES

JPEG_QUALITY = 88  # heatmap grids: small files, no visible loss at 224 px per tile
PNG_COMPRESSION = 1  # zlib level of the placement image: fast to write, a little larger
AUDIO_FILE = "audio.npy"  # the clip's sound (float32 mono), for the overlay videos made on demand
HEATMAP_EXPLANATION = (
    "Colour = where the model's visual attention falls in each second: red most, blue least, each second "
    "scaled to its own range (the colour bar under the grid). Background and unsure seconds are dimmed, "
    "not hidden. Caption: the answer and its probability · event = 1 - p(background), the probability "
    "that an audio-visual event happens in that second. On a bundled example a white outline marks the "
    "true object box, where the sounding object is, in each second it is visible."
)
BOX_NOTE = f"outline: {viz.BOX_LEGEND}"  # the overlay videos' legend entry, on a second with a box


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
    analysis: ClipAnalysis  # the answers only (no frames or sound): downloads, scoring, redrawing
    shown_seconds: dict[str, list[int]]  # per localizer with heatmaps: the seconds its grid shows
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
    """Background and abstained seconds: their attention is dimmed (shown, but not as an event's)."""
    return [(not ok) or c == background for c, ok in zip(loc.predicted, loc.answered, strict=True)]


def render_clip(
    analysis: ClipAnalysis,
    folder: Path,
    settings: ViewSettings,
    placement: ClipPlacement | None,
    aspect: float = 1.0,
) -> ClipView:
    """Every view of the Localize tab for a clip of any length, written into `folder` (created).

    A windowed (long) clip has fewer views, as its analysis says: heatmaps of its most eventful
    seconds, and no sound for overlay videos, tags, t-SNE placement or cross-modal matching.
    `aspect` (the clip's width / height) gives the heatmap tiles the clip's shape.
    """
    folder.mkdir(parents=True, exist_ok=True)
    classes, background = analysis.classes, analysis.background_index
    shown_classes, unknown = analysis.shown_classes, len(classes)
    heatmaps, captions, tables = [], [], []
    for index, (name, loc) in enumerate(analysis.localizations.items()):
        answers = [shown_classes[c] for c in loc.shown(unknown)]
        tables.append(viz.top_k_table(loc.probabilities, classes, answers=answers))
        seconds = analysis.shown_seconds.get(name)
        if loc.spatial_attention is None or not seconds:
            heatmaps.append(None)
            captions.append(f"{name} has no spatial attention to show.")
            continue
        frames = _at_aspect([analysis.frames[t] for t in seconds], aspect)  # (n, H, W, 3)
        grid, text = _heatmap_grid(
            loc, frames, seconds, classes, background, settings.columns, folder, index, analysis.object_boxes
        )
        heatmaps.append(grid)
        which = f"its {len(seconds)} most eventful seconds" if analysis.windowed else "per second"
        captions.append(f"**{name}, {which}**:  \n{text}")
    if analysis.waveform is not None:
        np.save(folder / AUDIO_FILE, analysis.waveform.astype(np.float32))
    tags = analysis.tags
    return ClipView(
        summary=clip_summary(analysis, analysis.ground_truth, "Ground truth"),
        timeline=clip_timeline(analysis, analysis.ground_truth, settings.timeline_seconds),
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
        analysis=replace(analysis, frames={}, waveform=None, tags=None),
        shown_seconds=analysis.shown_seconds,
        windowed=analysis.windowed,
        warnings=list(analysis.warnings),
    )


def clip_timeline(analysis: ClipAnalysis, truth: np.ndarray | None, initial_seconds: int) -> go.Figure:
    """The answer rows (and `truth` above them) with the probabilities under them, on one axis."""
    locs = analysis.localizations
    return viz.event_timeline(
        {name: loc.probabilities for name, loc in locs.items()},
        analysis.classes,
        truth,
        analysis.background_index,
        answers={name: loc.shown(len(analysis.classes)) for name, loc in locs.items()},
        initial_seconds=initial_seconds,
        thresholds={name: loc.threshold for name, loc in locs.items()},
    )


def clip_summary(analysis: ClipAnalysis, truth: np.ndarray | None, truth_name: str) -> str:
    """Each model's event spans, and with a truth its per-second accuracy against it."""
    classes, background = analysis.classes, analysis.background_index
    lines = [
        f"**{name}:** {viz.summarize_events(loc.shown(len(classes)), analysis.shown_classes, background)}"
        for name, loc in analysis.localizations.items()
    ]
    if analysis.windowed:
        lines.insert(0, _windowed_note(analysis))
    if analysis.warnings:
        lines.append("**Warnings:** " + "; ".join(analysis.warnings))
    if truth is not None:
        lines.append(f"**{truth_name}:** {viz.summarize_events(truth, classes, background)}")
        lines.append(score_line(analysis, truth))
    return "\n\n".join(lines)


def score_line(analysis: ClipAnalysis, truth: np.ndarray) -> str:
    """Per-second accuracy of every model against `truth` (an unsure second counts as wrong)."""
    parts = []
    for name, loc in analysis.localizations.items():
        right = int((loc.shown(len(analysis.classes)) == truth).sum())
        parts.append(f"{name} {right} of {len(truth)} s right ({100 * right / len(truth):.0f}%)")
    return "**Per-second accuracy:** " + " · ".join(parts) + " (an unsure second counts as wrong)."


def _at_aspect(frames: list[np.ndarray], aspect: float) -> np.ndarray:
    """The square model frames (S, S, 3) stretched back to the clip's width/height, same pixel count."""
    side = frames[0].shape[0]
    width, height = round(side * aspect**0.5), round(side / aspect**0.5)
    if (width, height) == (side, side):
        return np.stack(frames)
    return np.stack([np.asarray(Image.fromarray(f).resize((width, height), Image.BILINEAR)) for f in frames])


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
    boxes: np.ndarray | None = None,
) -> tuple[str, str]:
    """Model `index`'s captioned heatmaps of `seconds` (frames: (n, H, W, 3), one per second) as a
    JPEG grid in `folder`, each with the true object box of a known example (`boxes`: (T, 4)
    fractions, ClipAnalysis.object_boxes), and the same captions as markdown lines (searchable,
    screen-readable).
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
        boxes=None if boxes is None else boxes[seconds],
    )
    path = folder / f"model{index}-heatmaps.jpg"
    Image.fromarray(grid).save(path, quality=JPEG_QUALITY)
    rows = [f"{viz.span_label(t, t + 1)} s: {label}" for t, label in zip(seconds, labels, strict=True)]
    return str(path), "  \n".join(rows)


def make_overlay_videos(view: ClipView, source: str, max_height: int, max_fps: float) -> list[str | None]:
    """Each model's attention over the clip itself, with its sound, written once into the view's folder.

    The clip is decoded again at its own resolution (at most `max_height` rows) and frame rate (at
    most `max_fps`): every frame gets its second's heatmap and caption, so the video plays smoothly
    and stays sharp when enlarged. The analysis kept only one small frame per second.
    """
    if view.overlay_videos is not None and all(v is None or Path(v).is_file() for v in view.overlay_videos):
        return view.overlay_videos
    waveform = np.load(view.folder / AUDIO_FILE)
    analysis = view.analysis
    videos: list[str | None] = []
    for index, loc in enumerate(analysis.localizations.values()):
        if loc.spatial_attention is None:
            videos.append(None)
            continue
        fps, frames = decoded_frames(source, max_height, max_fps, analysis.num_segments)
        labels = [
            f"{viz.span_label(t, t + 1)} s: {_caption(loc, t, analysis.classes, analysis.background_index)}"
            for t in range(analysis.num_segments)
        ]
        boxes = analysis.object_boxes
        overlaid = _overlaid(
            frames, loc.spatial_attention, labels, _muted(loc, analysis.background_index), boxes
        )
        path = view.folder / f"model{index}-attention.mp4"
        write_clip(path, overlaid, Fraction(fps).limit_denominator(1001), waveform, view.sample_rate)
        videos.append(str(path))
    view.overlay_videos = videos
    return videos


def _overlaid(
    frames: Iterator[tuple[float, np.ndarray]],
    attention: np.ndarray,
    labels: list[str],
    muted: list[bool],
    boxes: np.ndarray | None = None,
) -> Iterator[np.ndarray]:
    """Each frame blended with its second's heatmap and outlined true object box (`boxes`: (T, 4)
    fractions of the frame, NaN where hidden; a known example's), the second's caption on a band
    at the top, naming the outline when there is one."""
    second, heat, band, box = -1, None, None, None
    for when, frame in frames:
        t = min(int(when), len(labels) - 1)
        if t != second:  # one heatmap and caption per second, drawn at the frame's size
            second = t
            heat = viz.attention_heat(attention[t], frame.shape[0], frame.shape[1])
            box = None if boxes is None or not np.isfinite(boxes[t]).all() else boxes[t]
            label = labels[t] if box is None else f"{labels[t]} · {BOX_NOTE}"
            band = viz.caption_band(label, frame.shape[1], muted[t])
        image = viz.blend(frame, heat)
        if muted[t]:
            image = viz.mute(image)
        image = viz.draw_box(image, box)
        image[: band.shape[0]] = band
        yield image


def write_downloads(view: ClipView, name: str, truth: np.ndarray | None) -> list[str]:
    """The clip's results to take home, written once into the view's folder: the per-second answers
    as JSON and CSV (the `localize --json` / `--csv` schema, the file named by its upload name), each
    heatmap grid as PNG, the timeline as SVG (matplotlib: plotly needs kaleido for static images).
    """
    folder, stem = view.folder / "downloads", Path(name).stem
    folder.mkdir(exist_ok=True)
    result = view.analysis.to_json()
    result["file"] = Path(name).name  # the user's file name, never the server's copy
    files = [folder / f"{stem}-results.json", folder / f"{stem}-results.csv"]
    files[0].write_text(json.dumps(result, indent=1), encoding="utf-8")
    with files[1].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(csv_rows(result))
    for model, grid in zip(view.analysis.localizations, view.heatmaps, strict=True):
        if grid is not None:
            files.append(folder / f"{stem}-{_slug(model)}-heatmaps.png")
            with Image.open(grid) as image:
                image.save(files[-1], compress_level=PNG_COMPRESSION)
    files.append(folder / f"{stem}-timeline.svg")
    analysis = view.analysis
    figure = viz.timeline_image(
        {n: loc.probabilities for n, loc in analysis.localizations.items()},
        analysis.classes,
        {n: loc.shown(len(analysis.classes)) for n, loc in analysis.localizations.items()},
        analysis.background_index,
        ground_truth=truth,
        thresholds={n: loc.threshold for n, loc in analysis.localizations.items()},
    )
    viz.save_figure(figure, files[-1])
    return [str(f) for f in files]


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


def second_tiles(view: ClipView, second: int) -> tuple[np.ndarray | None, str]:
    """One second's heatmap tiles of every model side by side, and its answers as text."""
    analysis = view.analysis
    if not 0 <= second < analysis.num_segments:
        return None, f"The clip has seconds 0-{analysis.num_segments}."
    tiles, lines = [], []
    for (name, loc), grid in zip(analysis.localizations.items(), view.heatmaps, strict=True):
        lines.append(f"**{name}:** {_caption(loc, second, analysis.classes, analysis.background_index)}")
        seconds = view.shown_seconds.get(name, [])
        if grid is None or second not in seconds:
            continue
        with Image.open(grid) as image:
            cut = viz.gallery_tiles(np.asarray(image.convert("RGB")), len(seconds), view.columns)
        tiles.append(cut[seconds.index(second)])
    title = f"**Second {viz.span_label(second, second + 1)} s**"
    if not tiles:
        return None, "  \n".join([title + " (no heatmap is kept for this second of a long clip)", *lines])
    height = max(tile.shape[0] for tile in tiles)
    padded = [np.pad(t, ((0, height - t.shape[0]), (0, 8), (0, 0)), constant_values=255) for t in tiles]
    return np.concatenate(padded, axis=1), "  \n".join([title, *lines])


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
    attention_note: str = ""
    attention: dict[str, list] = field(default_factory=dict)  # {"headers", "data"}: gr.Dataframe's value


ATTENTION_COLUMNS = {"pointing": "pointing game", "mass": "mass in box", "iou_auc": "AUC"}
NOT_MEASURED = (
    "**Attention accuracy:** not measured for this summary. It needs the object box of every event "
    "second, which a composite benchmark's manifest holds: `python -m avel summarize` on one stores it."
)


def _class_scores(result: dict[str, Any], name: str | None) -> dict[str, Any] | None:
    """One class's attention scores in an attention accuracy result (None: all classes)."""
    return result if name is None else result["per_class"].get(name)


def _percent_or_none(scores: dict[str, Any] | None, key: str) -> float | None:
    return None if scores is None else round(100 * scores[key], 1)


def attention_table(summary: DatasetSummary) -> tuple[str, dict[str, list]]:
    """Each model's attention accuracy, all classes then per class, with the chance level: a note
    that says what the numbers mean and a gr.Dataframe value; "not measured" for a summary without."""
    scored = {name: m.attention for name, m in summary.models.items() if m.attention is not None}
    if not summary.attention_measured or not scored:
        note = (
            NOT_MEASURED if not summary.attention_measured else "**Attention accuracy:** no model has a map."
        )
        return note, {"headers": ["attention accuracy"], "data": []}
    first = next(iter(scored.values()))
    headers = ["class", "event seconds", "chance (%)"] + [
        f"{name}: {label} (%)" for name in scored for label in ATTENTION_COLUMNS.values()
    ]
    data = []
    for name in [None, *(c for c in summary.classes if c in first["per_class"])]:  # None: all classes
        base = _class_scores(first, name)
        cells = [
            _percent_or_none(_class_scores(r, name), key)
            for r in scored.values()
            for key in ATTENTION_COLUMNS
        ]
        data.append([name or "all classes", base["num_seconds"], round(100 * base["chance"], 1), *cells])
    note = (
        f"**Attention accuracy** on the {first['num_seconds']} event seconds whose object box is known: "
        "pointing game = the share of seconds whose attention peak lies in the true object box; mass in "
        "box = the mean share of the attention inside it; AUC = the mean IoU of the thresholded map with "
        "the box over thresholds; chance = the box's share of the grid (a uniform map's score)."
    )
    without = [name for name, m in summary.models.items() if m.attention is None]
    if without:
        note += f" {', '.join(without)}: no spatial attention."
    return note, {"headers": headers, "data": data}


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
    note, table = attention_table(summary)
    return DatasetView(text, confusions, per_class, tsne, note, table)
