"""Event timeline: one row of 1-s cells per model (plus ground truth), coloured by class.

Built from horizontal bars, one trace per row and one bar per second, so each cell carries its
own colour, outline and hover text; seconds where the models disagree are outlined in their
rows and marked in an extra "Disagreement" row.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from avel.common.classes import UNKNOWN_TEXT, UNSURE_TEXT
from viz.colors import class_colors
from viz.summary import span_label, top_k_indices
from viz.validate import Classes, check_labels, check_probabilities

GROUND_TRUTH_ROW = "Ground truth"
DISAGREEMENT_ROW = "Disagreement"
HOVER_TOP_K = 3  # alternatives listed in each cell's hover text
DISAGREE_LINE_WIDTH = 3.0  # outline of a cell where the models disagree (px)
CELL_LINE_WIDTH = 1.0  # thin white gap between ordinary cells (px)
ROW_HEIGHT_PX = 48
DENSE_TICKS_UP_TO = 30  # seconds: a tick per second up to here, a range slider beyond
UNKNOWN_COLOR = "#b0b0b0"  # an abstained second: not one of the trained classes (hatched "/")
UNSURE_COLOR = "#e6d3a3"  # an abstained second, unsure between trained classes (dotted ".")


def _cell_hover(
    row: str, t: int, probs: np.ndarray, classes: Classes, abstained: bool = False, unsure: bool = False
) -> str:
    """'Co-attention, 3-4 s: Bark 81%' and the top-3 below it."""
    ranked = top_k_indices(probs[None], min(HOVER_TOP_K, len(classes)))[0]
    best = ranked[0]
    alternatives = ", ".join(f"{classes[i]} {probs[i]:.0%}" for i in ranked)
    if abstained and unsure:
        answer = f"<b>{UNSURE_TEXT}</b> ({' / '.join(f'{classes[i]} {probs[i]:.0%}' for i in ranked[:2])})"
    elif abstained:
        answer = f"<b>{UNKNOWN_TEXT}</b> (top: {classes[best]} {probs[best]:.0%})"
    else:
        answer = f"<b>{classes[best]}</b> {probs[best]:.0%}"
    return f"{row}, {span_label(t, t + 1)} s: {answer}<br>top-{len(ranked)}: {alternatives}"


def _row_trace(
    row: str,
    labels: np.ndarray,
    hover: list[str],
    colors: list[str],
    outline: np.ndarray,
    abstained: np.ndarray | None = None,
    unsure: np.ndarray | None = None,
) -> go.Bar:
    """A row of 1-s cells: bar t spans [t, t+1) on the x axis; abstained cells are grey and hatched
    (not a known event) or sand-coloured and dotted (unsure between trained classes)."""
    t_count = len(labels)
    muted = np.zeros(t_count, dtype=bool) if abstained is None else abstained
    doubt = muted & (np.zeros(t_count, dtype=bool) if unsure is None else unsure)
    return go.Bar(
        orientation="h",
        y=[row] * t_count,
        x=[1] * t_count,
        base=list(range(t_count)),
        marker={
            "color": [
                (UNSURE_COLOR if d else UNKNOWN_COLOR) if m else colors[i]
                for i, m, d in zip(labels, muted, doubt, strict=True)
            ],
            "pattern": {
                "shape": [("." if d else "/") if m else "" for m, d in zip(muted, doubt, strict=True)]
            },
            "line": {
                "color": ["black" if o else "white" for o in outline],
                "width": [DISAGREE_LINE_WIDTH if o else CELL_LINE_WIDTH for o in outline],
            },
        },
        hovertext=hover,
        hoverinfo="text",
        name=row,
        showlegend=False,
        meta={"role": "row"},
    )


def _disagreement_trace(
    predicted: dict[str, np.ndarray], disagree: np.ndarray, classes: Classes
) -> go.Scatter:
    """A marker at the centre of every second where the models' top classes differ."""
    seconds = np.flatnonzero(disagree)
    hover = [
        f"{span_label(t, t + 1)} s: "
        + ", ".join(f"{name}: {classes[lab[t]]}" for name, lab in predicted.items())
        for t in seconds
    ]
    return go.Scatter(
        x=(seconds + 0.5).tolist(),  # centre of cell [t, t+1)
        y=[DISAGREEMENT_ROW] * len(seconds),
        mode="markers",
        marker={"symbol": "x", "size": 12, "color": "black"},
        hovertext=hover,
        hoverinfo="text",
        name=DISAGREEMENT_ROW,
        showlegend=False,
        meta={"role": "disagreement"},
    )


def _legend_traces(indices: list[int], classes: Classes, colors: list[str]) -> list[go.Scatter]:
    """Empty traces that only put a class-coloured square and the class name in the legend."""
    return [
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            marker={"symbol": "square", "size": 12, "color": colors[index]},
            name=classes[index],
            meta={"role": "legend"},
        )
        for index in indices
    ]


def event_timeline(
    predictions: dict[str, np.ndarray],
    classes: Classes,
    ground_truth: np.ndarray | None = None,
    background_index: int | None = -1,
    title: str | None = None,
    answered: dict[str, np.ndarray] | None = None,
    initial_seconds: int | None = None,
    unsure: dict[str, np.ndarray] | None = None,
) -> go.Figure:
    """Per-second class timeline of each model, e.g. {"Co-attention": p1, "Baseline": p2}.

    predictions: model name -> (T, C) class probabilities (softmax of the scores), same T for all.
    ground_truth: (T,) class indices, drawn as the top row when given.
    answered: model name -> (T,) bool, False where the model abstains: grey hatched cells named
    UNKNOWN_TEXT in the legend; unsure: model name -> (T,) bool, True where an abstained second is
    unsure between trained classes: sand-coloured dotted cells named UNSURE_TEXT. The x axis can be
    zoomed (drag, or the range slider of long clips);
    initial_seconds: the span shown at first (from 0), e.g. the first minute of a long clip.
    Traces carry `meta["role"]`: "row" (one per row), "disagreement", "legend" (one per class shown).
    """
    if not predictions:
        raise ValueError("predictions: expected at least one model name -> (T, C) probabilities, got none")
    probs = {
        name: check_probabilities(f"predictions[{name!r}]", p, classes) for name, p in predictions.items()
    }
    lengths = {name: p.shape[0] for name, p in probs.items()}
    t_count = next(iter(lengths.values()))
    if len(set(lengths.values())) != 1:
        raise ValueError(f"predictions: expected the same number of segments for every model, got {lengths}")
    colors = class_colors(classes, background_index)
    predicted = {name: p.argmax(axis=1) for name, p in probs.items()}  # name -> (T,) class indices
    stacked = np.stack(list(predicted.values()))  # (models, T)
    disagree = (stacked != stacked[0]).any(axis=0)  # (T,): some model differs from the first

    traces: list[go.BaseTraceType] = []
    rows: list[str] = []
    shown = set()
    if ground_truth is not None:
        truth = check_labels("ground_truth", ground_truth, len(classes), length=t_count)
        hover = [
            f"{GROUND_TRUTH_ROW}, {span_label(t, t + 1)} s: <b>{classes[c]}</b>" for t, c in enumerate(truth)
        ]
        traces.append(_row_trace(GROUND_TRUTH_ROW, truth, hover, colors, np.zeros(t_count, dtype=bool)))
        rows.append(GROUND_TRUTH_ROW)
        shown.update(truth.tolist())
    any_abstained = any_unsure = False
    for name, labels in predicted.items():
        abstained = None if answered is None or name not in answered else ~np.asarray(answered[name], bool)
        if abstained is not None and abstained.shape != (t_count,):
            raise ValueError(f"answered[{name!r}]: expected shape ({t_count},), got {abstained.shape}")
        flags = abstained if abstained is not None else np.zeros(t_count, dtype=bool)
        doubt = flags & np.asarray(unsure[name], bool) if unsure and name in unsure else np.zeros_like(flags)
        hover = [
            _cell_hover(name, t, probs[name][t], classes, bool(flags[t]), bool(doubt[t]))
            for t in range(t_count)
        ]
        traces.append(_row_trace(name, labels, hover, colors, disagree, abstained, doubt))
        rows.append(name)
        shown.update(labels[~flags].tolist())
        any_abstained |= bool((flags & ~doubt).any())
        any_unsure |= bool(doubt.any())
    if len(predicted) > 1:
        traces.append(_disagreement_trace(predicted, disagree, classes))
        rows.append(DISAGREEMENT_ROW)
    traces += _legend_traces(sorted(shown), classes, colors)
    if any_unsure:
        traces += _legend_traces([0], (UNSURE_TEXT,), [UNSURE_COLOR])
    if any_abstained:
        traces += _legend_traces([0], (UNKNOWN_TEXT,), [UNKNOWN_COLOR])

    fig = go.Figure(traces)
    fig.update_layout(
        title=title,
        barmode="overlay",  # one trace per row: no side-by-side slots
        height=120 + ROW_HEIGHT_PX * len(rows),
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        legend={"orientation": "h", "yanchor": "top", "y": -0.25},
        plot_bgcolor="white",
    )
    shown_seconds = t_count if initial_seconds is None else min(t_count, initial_seconds)
    fig.update_xaxes(
        title_text="seconds",
        range=[0, shown_seconds],
        dtick=1 if shown_seconds <= DENSE_TICKS_UP_TO else None,
        showgrid=False,
        # zoom a long clip's timeline: the slider always spans the whole clip
        rangeslider={"visible": t_count > DENSE_TICKS_UP_TO, "range": [0, t_count]},
    )
    fig.update_yaxes(categoryorder="array", categoryarray=rows, autorange="reversed")
    return fig
