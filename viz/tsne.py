"""t-SNE of segment features before and after the co-attention streams (the paper's Fig. 7).

t-SNE is quadratic-ish in the number of points, so large feature sets are subsampled first,
stratified by class when labels are given so that rare events keep some points.
"""

from __future__ import annotations

import logging
import threading

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from sklearn.manifold import TSNE

from viz.colors import class_colors
from viz.export import new_figure
from viz.validate import Classes, check_labels

logger = logging.getLogger(__name__)

PERPLEXITY = 30.0  # van der Maaten & Hinton's usual value; lowered for tiny sets (must be < n)
PANEL_SIDE_IN = 3.5
POINT_SIZE = 6
HIGHLIGHT_SIZE = 90  # a highlighted point (a clip's second) on top of the stored ones


def stratified_subsample(labels: np.ndarray, max_points: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of `max_points` items whose class proportions follow `labels`.

    Each class gets its share rounded by largest remainder (so the total is exact), then its
    items are drawn at random without replacement.
    """
    if max_points >= len(labels):
        return np.arange(len(labels))  # nothing to drop
    classes, sizes = np.unique(labels, return_counts=True)
    quota = sizes * max_points / len(labels)  # (K,) ideal, fractional
    take = np.floor(quota).astype(np.int64)
    for k in np.argsort(-(quota - take), kind="stable")[: max_points - take.sum()]:
        take[k] += 1  # largest remainders first
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(labels == cls), size=n, replace=False)
        for cls, n in zip(classes, take, strict=True)
    ]
    return np.sort(np.concatenate(chosen))


def tsne_embedding(
    features: np.ndarray, seed: int = 0, max_points: int = 2000, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """2-D t-SNE coordinates of (N, D) features: returns (coords (n, 2), kept_indices (n,)).

    With more than `max_points` rows a seeded subsample is embedded (stratified by `labels`
    when given); `kept_indices` says which rows, so labels can be matched: labels[kept_indices].
    """
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2 or features.shape[0] < 3 or not np.isfinite(features).all():
        raise ValueError(f"features: expected finite (N, D) features with N >= 3, got shape {features.shape}")
    if max_points < 3:
        raise ValueError(f"max_points: expected >= 3, got {max_points}")
    n = features.shape[0]
    if labels is not None:
        labels = check_labels("labels", labels, int(np.max(labels)) + 1, length=n)
    if n <= max_points:
        kept = np.arange(n)
    elif labels is not None:
        kept = stratified_subsample(labels, max_points, seed)
    else:
        kept = np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))
    logger.info("t-SNE on %d of %d points", len(kept), n)
    perplexity = min(PERPLEXITY, (len(kept) - 1) / 3)  # sklearn requires perplexity < n
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    coords = tsne.fit_transform(features[kept])  # (n, 2)
    return coords, kept


def tsne_figure(
    panels: dict[str, tuple[np.ndarray, np.ndarray]],
    classes: Classes,
    background_index: int | None = -1,
    columns: int = 3,
    highlights: dict[str, np.ndarray] | None = None,
) -> Figure:
    """Scatter panels of 2-D embeddings coloured by class, with one legend of class names.

    panels: title -> (coords (n, 2), labels (n,)), e.g. "Audio raw", "Audio CSPA", "Audio CSEA",
    "Visual raw", ... as in Fig. 7. Colours follow `class_colors`, the same in every panel.
    highlights: title -> (m, 2) extra points (a clip's seconds), drawn as black stars numbered
    by their row (second t is labelled t).
    """
    if not panels:
        raise ValueError("panels: expected at least one title -> (coords, labels), got none")
    if columns < 1:
        raise ValueError(f"columns: expected >= 1, got {columns}")
    colors = class_colors(classes, background_index)
    checked = {}
    for title, (coords, labels) in panels.items():
        coords = np.asarray(coords)
        if coords.ndim != 2 or coords.shape[1] != 2:
            raise ValueError(f"panels[{title!r}]: expected coords of shape (n, 2), got {coords.shape}")
        checked[title] = (
            coords,
            check_labels(f"panels[{title!r}] labels", labels, len(classes), len(coords)),
        )

    cols = min(columns, len(checked))
    rows = -(-len(checked) // cols)  # ceil
    fig = new_figure(PANEL_SIDE_IN * cols + 2.5, PANEL_SIDE_IN * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    present = sorted({int(c) for _, labels in checked.values() for c in labels})
    for ax, (title, (coords, labels)) in zip(axes, checked.items(), strict=False):
        for index in present:
            mask = labels == index
            if mask.any():
                ax.scatter(
                    *coords[mask].T, s=POINT_SIZE, color=colors[index], label=f"{index} {classes[index]}"
                )
        if highlights is not None and title in highlights:
            _highlight(ax, highlights[title])
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[len(checked) :]:
        ax.set_visible(False)
    handles = [
        Line2D([], [], marker="o", linestyle="", color=colors[i], label=f"{i} {classes[i]}") for i in present
    ]
    fig.legend(handles=handles, loc="outside right center", fontsize=8, title="class")
    return fig


def _highlight(ax: Axes, marks: np.ndarray) -> list[Artist]:
    """Black stars at (m, 2) points, numbered by row; returns the artists added to `ax`."""
    marks = np.asarray(marks)
    if marks.ndim != 2 or marks.shape[1] != 2:
        raise ValueError(f"highlights: expected points of shape (m, 2), got {marks.shape}")
    stars = ax.scatter(*marks.T, s=HIGHLIGHT_SIZE, marker="*", color="black", edgecolors="white", zorder=3)
    numbers = [
        ax.annotate(str(t), (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points", zorder=4)
        for t, (x, y) in enumerate(marks)
    ]
    return [stars, *numbers]


class HighlightedMaps:
    """`tsne_figure` drawn once; `image` stamps a clip's points on a copy of it (Agg blitting).

    Drawing thousands of stored points takes about a second, a clip's stars a few milliseconds:
    the stored maps are drawn when this is built and each call draws only its own marks.
    """

    def __init__(
        self,
        panels: dict[str, tuple[np.ndarray, np.ndarray]],
        classes: Classes,
        background_index: int | None = -1,
        columns: int = 3,
        title: str | None = None,
    ) -> None:
        self.figure = tsne_figure(panels, classes, background_index, columns)
        if title:
            self.figure.suptitle(title)
        self.axes = dict(zip(panels, self.figure.axes, strict=False))  # subplots' order, as drawn
        self.canvas = self.figure.canvas
        self.canvas.draw()
        for ax in self.axes.values():
            ax.set_autoscale_on(False)  # a mark never moves the stored map under it
        self.base = self.canvas.copy_from_bbox(self.figure.bbox)
        self._lock = threading.Lock()  # one canvas: one drawing at a time

    def image(self, highlights: dict[str, np.ndarray]) -> np.ndarray:
        """(H, W, 3) uint8: the maps with each panel's (m, 2) points as numbered stars."""
        unknown = set(highlights) - set(self.axes)
        if unknown:
            raise ValueError(f"highlights: no panel named {sorted(unknown)}; panels: {list(self.axes)}")
        with self._lock:
            self.canvas.restore_region(self.base)
            added = [
                artist
                for title, marks in highlights.items()
                for artist in _highlight(self.axes[title], marks)
            ]
            try:
                for artist in added:
                    artist.axes.draw_artist(artist)
                return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()
            finally:
                for artist in added:
                    artist.remove()
