"""Class-level evaluation plots: confusion matrix (Fig. 4(a, b)) and per-class accuracy (Fig. 4(c)).

Inputs are counts and accuracies already computed (avel's metrics); these functions only draw.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from viz.colors import model_colors
from viz.export import new_figure
from viz.validate import Classes

ANNOTATE_MAX_CLASSES = 12  # write the value in each cell only while the cells stay legible
INCHES_PER_CLASS = 0.36  # figure grows with the classes shown so tick labels do not overlap
MIN_SIDE_IN = 4.0
TICK_FONT_PT = 10  # class names on the axes: legible when the app shows the figure at its width
BAR_GROUP_IN = 0.45  # width of one class's group of bars, whatever the number of models


def _check_counts(cm: np.ndarray, classes: Classes) -> np.ndarray:
    cm = np.asarray(cm)
    c = len(classes)
    if cm.shape != (c, c):
        raise ValueError(f"cm: expected a ({c}, {c}) count matrix (rows = truth), got shape {cm.shape}")
    if not np.isfinite(cm).all() or (cm < 0).any():
        raise ValueError("cm: expected non-negative finite counts")
    return cm.astype(np.float64)


def normalize_rows(cm: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (the recall of each true class); empty rows stay zero."""
    totals = cm.sum(axis=1, keepdims=True)  # (C, 1)
    return np.divide(cm, totals, out=np.zeros_like(cm, dtype=np.float64), where=totals > 0)


def confusion_matrix_figure(
    cm: np.ndarray,
    classes: Classes,
    normalize: bool = True,
    title: str = "Confusion matrix",
    keep_all: bool = False,
) -> Figure:
    """Heat map of a (C, C) confusion matrix of counts: rows = true class, columns = predicted.

    normalize: show row fractions (each true class sums to 1) instead of counts.
    keep_all: show every class; by default only classes that occur as truth or prediction.
    The drawn matrix is `fig.axes[0].images[0].get_array()`.
    """
    counts = _check_counts(cm, classes)
    occurs = (counts.sum(axis=0) + counts.sum(axis=1)) > 0
    keep = np.arange(len(classes)) if keep_all else np.flatnonzero(occurs)
    if keep.size == 0:
        raise ValueError("cm: all counts are zero; nothing to draw")
    shown = counts[np.ix_(keep, keep)]  # (K, K) rows/cols of the kept classes
    values = normalize_rows(shown) if normalize else shown
    names = [f"{i} {classes[i]}" for i in keep]  # the index as in the paper's Fig. 4, then the name

    side = max(MIN_SIDE_IN, INCHES_PER_CLASS * len(keep) + 3.0)
    fig = new_figure(side + 1.0, side)
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else max(values.max(), 1.0))
    fig.colorbar(image, ax=ax, label="fraction of true class" if normalize else "segments")
    ax.set_xticks(range(len(keep)), names, rotation=90, fontsize=TICK_FONT_PT)
    ax.set_yticks(range(len(keep)), names, fontsize=TICK_FONT_PT)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"{title} ({int(counts.sum())} segments)")
    if len(keep) <= ANNOTATE_MAX_CLASSES:
        threshold = image.norm.vmax / 2  # white text on dark cells
        for (row, col), value in np.ndenumerate(values):
            text = f"{value:.2f}" if normalize else f"{int(value)}"
            ax.text(
                col,
                row,
                text,
                ha="center",
                va="center",
                fontsize=TICK_FONT_PT - 2,
                color="white" if value > threshold else "black",
            )
    return fig


def per_class_accuracy_figure(
    acc_by_model: dict[str, np.ndarray],
    classes: Classes,
    counts: np.ndarray | None = None,
    title: str = "Per-class accuracy",
) -> Figure:
    """Grouped bars, one group per class and one bar per model (the paper's Fig. 4(c)).

    acc_by_model: model name -> (C,) accuracy in [0, 1] (NaN where the class has no segments).
    counts: optional (C,) segments per class; classes with none are left out and n is shown.
    """
    if not acc_by_model:
        raise ValueError("acc_by_model: expected at least one model name -> (C,) accuracies, got none")
    c = len(classes)
    accs = {name: np.asarray(acc, dtype=np.float64) for name, acc in acc_by_model.items()}
    for name, acc in accs.items():
        finite = acc[np.isfinite(acc)]
        if acc.shape != (c,) or (finite < 0).any() or (finite > 1).any():
            raise ValueError(
                f"acc_by_model[{name!r}]: expected ({c},) accuracies in [0, 1], got shape {acc.shape}"
            )
    if counts is not None:
        counts = np.asarray(counts)
        if counts.shape != (c,):
            raise ValueError(f"counts: expected ({c},) segments per class, got shape {counts.shape}")
        keep = np.flatnonzero(counts > 0)
    else:
        keep = np.flatnonzero(np.isfinite(np.stack(list(accs.values()))).any(axis=0))
    if keep.size == 0:
        raise ValueError("acc_by_model/counts: no class has an accuracy to draw")
    names = [f"{i} {classes[i]}" + (f" (n={int(counts[i])})" if counts is not None else "") for i in keep]

    fig = new_figure(max(MIN_SIDE_IN + 2, BAR_GROUP_IN * len(keep) + 1.5), 7.0)
    ax = fig.add_subplot()
    width = 0.8 / len(accs)  # the models share 80% of each class slot, side by side
    colors = model_colors(list(accs))
    for m, (name, acc) in enumerate(accs.items()):
        offsets = np.arange(len(keep)) - 0.4 + width * (m + 0.5)
        ax.bar(offsets, np.nan_to_num(acc[keep]) * 100.0, width=width, label=name, color=colors[name])
    ax.set_xticks(range(len(keep)), names, rotation=90, fontsize=TICK_FONT_PT)
    ax.set_ylabel("accuracy (%)")
    ax.set_xlim(-0.6, len(keep) - 0.4)
    ax.set_ylim(0, 100)
    ax.set_title(title)
    fig.legend(loc="outside upper center", ncols=len(accs), frameon=False)  # above, off the bars
    return fig
