"""The event timeline as a static matplotlib figure (PNG/SVG), for the app's downloads.

plotly writes static images only with kaleido, an optional package not installed here; this draws
the same content as `viz.event_timeline` (answer cells per model with their legend, the shown
answer's and the event probability per model, the abstention thresholds) on one time axis.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from viz.colors import model_colors
from viz.export import new_figure
from viz.timeline import ABSTENTIONS, GROUND_TRUTH_ROW, AnswerState, answer_styles
from viz.validate import Classes

HATCHES = {"": "", "/": "//", "x": "xx", ".": ".."}  # plotly pattern shape -> matplotlib hatch
INCHES_PER_SECOND = 0.3
MAX_WIDTH_IN = 40.0


def _cells(ax, row: int, cells: np.ndarray, styles: list[tuple[str, str]]) -> None:
    bars = ax.barh([row] * len(cells), 1.0, left=np.arange(len(cells)), height=0.8, edgecolor="white")
    for bar, cell in zip(bars, cells, strict=True):
        color, pattern = styles[cell]
        bar.set_facecolor(color)
        if pattern:
            bar.set_hatch(HATCHES.get(pattern, "//"))
            bar.set_edgecolor("#555555")


def timeline_image(
    probabilities: dict[str, np.ndarray],
    classes: Classes,
    answers: dict[str, np.ndarray],
    background_index: int | None = -1,
    states: tuple[AnswerState, ...] = ABSTENTIONS,
    ground_truth: np.ndarray | None = None,
    thresholds: dict[str, float | None] | None = None,
) -> Figure:
    """Per model: a row of answer cells (indices into (*classes, *states)), and the probabilities below.

    The states default to the plotly timeline's, in Localization.shown's order (C: not a known event,
    C + 1: unsure), so a download draws an abstained second as the page does."""
    names, styles = answer_styles(classes, background_index, states)
    rows = {GROUND_TRUTH_ROW: ground_truth} if ground_truth is not None else {}
    rows.update(answers)
    t_count = len(next(iter(answers.values())))
    fig = new_figure(min(MAX_WIDTH_IN, 4.0 + INCHES_PER_SECOND * t_count), 2.6 + 0.45 * len(rows))
    ax_rows, ax_p = fig.subplots(2, 1, sharex=True, height_ratios=[len(rows), 3])
    for index, cells in enumerate(rows.values()):
        _cells(ax_rows, index, np.asarray(cells), styles)
    ax_rows.set_yticks(range(len(rows)), list(rows))
    ax_rows.invert_yaxis()
    used = sorted({int(c) for cells in rows.values() for c in cells})
    handles = [
        Patch(
            facecolor=styles[c][0], hatch=HATCHES.get(styles[c][1], ""), edgecolor="#555555", label=names[c]
        )
        for c in used
    ]
    ax_rows.legend(
        handles=handles, loc="lower left", bbox_to_anchor=(0, 1.02), ncols=4, fontsize=8, frameon=False
    )
    colors = model_colors(list(probabilities))
    centres = np.arange(t_count) + 0.5
    for name, p in probabilities.items():
        ax_p.plot(centres, p.max(axis=1), color=colors[name], marker=".", label=f"{name}: p(answer)")
        if background_index is not None:
            ax_p.plot(
                centres, 1 - p[:, background_index], color=colors[name], ls="--", label=f"{name}: p(event)"
            )
        threshold = (thresholds or {}).get(name)
        if threshold is not None:
            ax_p.axhline(
                threshold, color=colors[name], ls=":", label=f"{name}: abstains below {threshold:.2f}"
            )
    ax_p.set_ylim(0, 1.02)
    ax_p.set_xlim(0, t_count)
    ax_p.set_xlabel("seconds")
    ax_p.set_ylabel("probability")
    ax_p.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return fig
