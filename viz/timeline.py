"""Event timeline: one row of 1-s cells per model (plus ground truth), with the per-second
probabilities of every model on the same time axis below it.

The cells show each model's *answer* for the second: a class, background, or a state that is not
a class ("Not a known event" or "Unsure between trained classes" when the model abstains;
`AnswerState`, so another state can be added without touching the drawing). Seconds where the
answers differ are outlined in their rows and marked in an extra "Disagreement" row; the outline
has its own legend entry.

Below, a line per model gives the probability of the answer shown (its top class, also when it
abstains) and a dashed one the event probability (1 - p(background)); each model's abstention
threshold is a dotted line. Built from horizontal bars, one trace per row and one bar per second,
so each cell carries its own colour, outline and hover text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from avel.common.classes import UNKNOWN_TEXT, UNSURE_TEXT
from viz.colors import class_colors, model_colors
from viz.summary import span_label, top_k_indices
from viz.validate import Classes, check_labels, check_probabilities

GROUND_TRUTH_ROW = "Ground truth"
DISAGREEMENT_ROW = "Disagreement"
DISAGREEMENT_LEGEND = "thick outline / x: the models' answers differ"
HOVER_TOP_K = 3  # alternatives listed in each cell's hover text
DISAGREE_LINE_WIDTH = 3.0  # outline of a cell where the models disagree (px)
CELL_LINE_WIDTH = 1.0  # thin white gap between ordinary cells (px)
ROW_HEIGHT_PX = 44
PROBABILITY_PANEL_PX = 190  # the probabilities under the rows
LEGEND_PX = 70  # the legend above the rows (two lines of entries)
DENSE_TICKS_UP_TO = 30  # seconds: a tick per second up to here, a range slider beyond
RANGE_SLIDER_PX = 60


@dataclass(frozen=True)
class AnswerState:
    """A per-second answer that is not a class: its name, cell colour and hatch pattern."""

    name: str
    color: str
    pattern: str  # plotly bar pattern shape: "/", "x", "." ...


NOT_KNOWN = AnswerState(UNKNOWN_TEXT, "#ffffff", "x")  # white, cross-hatched: unlike background's grey
UNSURE = AnswerState(UNSURE_TEXT, "#e6d3a3", ".")  # sand, dotted: hesitating between trained classes
ABSTENTIONS = (NOT_KNOWN, UNSURE)  # in the order of Localization.shown: index C, then C + 1


def answer_styles(
    classes: Classes, background_index: int | None, states: tuple[AnswerState, ...]
) -> tuple[tuple[str, ...], list[tuple[str, str]]]:
    """The names and (colour, hatch) of every answer a cell can show: the classes, then the states."""
    names = (*classes, *(s.name for s in states))
    styles = [(c, "") for c in class_colors(classes, background_index)] + [
        (s.color, s.pattern) for s in states
    ]
    return names, styles


def _cell_hover(row: str, t: int, probs: np.ndarray, classes: Classes, answer: str) -> str:
    """'Co-attention, 3-4 s: Bark (top class 81%)' and the top-3 below it: the answer shown first."""
    ranked = top_k_indices(probs[None], min(HOVER_TOP_K, len(classes)))[0]
    alternatives = ", ".join(f"{classes[i]} {probs[i]:.0%}" for i in ranked)
    return f"{row}, {span_label(t, t + 1)} s: <b>{answer}</b><br>top-{len(ranked)}: {alternatives}"


def _row_trace(
    row: str, cells: np.ndarray, hover: list[str], styles: list[tuple], outline: np.ndarray
) -> go.Bar:
    """A row of 1-s cells: bar t spans [t, t+1) on the x axis, styled by its answer's (colour, pattern)."""
    t_count = len(cells)
    return go.Bar(
        orientation="h",
        y=[row] * t_count,
        x=[1] * t_count,
        base=list(range(t_count)),
        marker={
            "color": [styles[c][0] for c in cells],
            "pattern": {"shape": [styles[c][1] for c in cells], "fgcolor": "#555555", "size": 6},
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


def _disagreement_trace(answers: dict[str, np.ndarray], disagree: np.ndarray, names: Classes) -> go.Scatter:
    """A marker at the centre of every second where the models' shown answers differ."""
    seconds = np.flatnonzero(disagree)
    hover = [
        f"{span_label(t, t + 1)} s: " + ", ".join(f"{name}: {names[a[t]]}" for name, a in answers.items())
        for t in seconds
    ]
    return go.Scatter(
        x=(seconds + 0.5).tolist(),  # centre of cell [t, t+1)
        y=[DISAGREEMENT_ROW] * len(seconds),
        mode="markers",
        marker={"symbol": "x", "size": 12, "color": "black"},
        hovertext=hover,
        hoverinfo="text",
        name=DISAGREEMENT_LEGEND,
        showlegend=True,
        legendrank=2000,  # after the classes
        meta={"role": "disagreement"},
    )


def _legend_traces(indices: list[int], names: Classes, styles: list[tuple]) -> list[go.Bar]:
    """Empty bars that only put each answer's swatch (colour and hatch) and name in the legend."""
    return [
        go.Bar(
            x=[None],
            y=[None],
            orientation="h",
            marker={
                "color": styles[index][0],
                "pattern": {"shape": styles[index][1], "fgcolor": "#555555", "size": 6},
                "line": {"color": "#555555", "width": 1},
            },
            name=names[index],
            meta={"role": "legend"},
        )
        for index in indices
    ]


def _probability_traces(
    probs: dict[str, np.ndarray], background: int | None, thresholds: dict[str, float | None]
) -> list[go.Scatter]:
    """Per model: p(answer shown) solid, p(event) = 1 - p(background) dashed, its threshold dotted."""
    colors = model_colors(list(probs))
    traces = []
    for name, p in probs.items():
        t_count = p.shape[0]
        centres = (np.arange(t_count) + 0.5).tolist()
        traces.append(
            go.Scatter(
                x=centres,
                y=p.max(axis=1).round(3).tolist(),
                mode="lines+markers",
                line={"color": colors[name], "width": 2},
                marker={"size": 5},
                name=f"{name}: p(answer)",
                hovertemplate=f"{name}, %{{x:.0f}} s: p(answer) %{{y:.2f}}<extra></extra>",
                meta={"role": "probability"},
            )
        )
        if background is not None:
            traces.append(
                go.Scatter(
                    x=centres,
                    y=(1.0 - p[:, background]).round(3).tolist(),
                    mode="lines",
                    line={"color": colors[name], "width": 1.5, "dash": "dash"},
                    name=f"{name}: p(event) = 1 - p(background)",
                    hovertemplate=f"{name}, %{{x:.0f}} s: p(event) %{{y:.2f}}<extra></extra>",
                    meta={"role": "event-probability"},
                )
            )
        threshold = thresholds.get(name)
        if threshold is not None:
            traces.append(
                go.Scatter(
                    x=[0, t_count],
                    y=[threshold, threshold],
                    mode="lines",
                    line={"color": colors[name], "width": 1.5, "dash": "dot"},
                    name=f"{name}: abstains below {threshold:.2f}",
                    hoverinfo="name",
                    meta={"role": "threshold"},
                )
            )
    return traces


def _answers(
    probs: dict[str, np.ndarray], answers: dict[str, np.ndarray] | None, names: Classes, t_count: int
) -> dict[str, np.ndarray]:
    """Each model's shown answer per second (indices into `names`): given, else its top class."""
    shown = {}
    for name, p in probs.items():
        given = None if answers is None else answers.get(name)
        shown[name] = (
            p.argmax(axis=1)
            if given is None
            else check_labels(f"answers[{name!r}]", given, len(names), t_count)
        )
    return shown


def event_timeline(
    predictions: dict[str, np.ndarray],
    classes: Classes,
    ground_truth: np.ndarray | None = None,
    background_index: int | None = -1,
    title: str | None = None,
    answers: dict[str, np.ndarray] | None = None,
    states: tuple[AnswerState, ...] = ABSTENTIONS,
    initial_seconds: int | None = None,
    thresholds: dict[str, float | None] | None = None,
) -> go.Figure:
    """Per-second answers of each model, e.g. {"Co-attention": p1, "Baseline": p2}, and their probabilities.

    predictions: model name -> (T, C) class probabilities (softmax of the scores), same T for all.
    ground_truth: (T,) class indices, drawn as the top row when given.
    answers: model name -> (T,) index into (*classes, *state names): what the page says for each
    second (default: the top class); index C + i is `states[i]` (by default C: not a known event,
    C + 1: unsure between trained classes).
    thresholds: model name -> its abstention threshold, drawn in the probability panel.
    The x axis is shared by both panels and can be zoomed (drag, or the range slider of long clips);
    initial_seconds: the span shown at first (from 0), e.g. the first minute of a long clip.
    Traces carry `meta["role"]`: "row", "disagreement", "legend", "probability", "event-probability",
    "threshold".
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
    names, styles = answer_styles(classes, background_index, states)
    shown_answers = _answers(probs, answers, names, t_count)
    stacked = np.stack(list(shown_answers.values()))  # (models, T)
    disagree = (stacked != stacked[0]).any(axis=0)  # (T,): some model's answer differs from the first

    rows: list[go.BaseTraceType] = []
    used: set[int] = set()
    if ground_truth is not None:
        truth = check_labels("ground_truth", ground_truth, len(classes), length=t_count)
        hover = [
            f"{GROUND_TRUTH_ROW}, {span_label(t, t + 1)} s: <b>{classes[c]}</b>" for t, c in enumerate(truth)
        ]
        rows.append(_row_trace(GROUND_TRUTH_ROW, truth, hover, styles, np.zeros(t_count, dtype=bool)))
        used.update(truth.tolist())
    for name, cells in shown_answers.items():
        hover = [_cell_hover(name, t, probs[name][t], classes, names[cells[t]]) for t in range(t_count)]
        rows.append(_row_trace(name, cells, hover, styles, disagree))
        used.update(cells.tolist())
    if len(shown_answers) > 1:
        rows.append(_disagreement_trace(shown_answers, disagree, names))
    row_names = [trace.name for trace in rows if trace.meta["role"] == "row"]
    if len(shown_answers) > 1:
        row_names.append(DISAGREEMENT_ROW)
    return _layout(
        rows + _legend_traces(sorted(used), names, styles),
        _probability_traces(probs, None if background_index is None else background_index, thresholds or {}),
        row_names,
        t_count,
        initial_seconds,
        title,
    )


def _layout(
    rows: list[go.BaseTraceType],
    lines: list[go.Scatter],
    row_names: list[str],
    t_count: int,
    initial_seconds: int | None,
    title: str | None,
) -> go.Figure:
    """The cells above, the probabilities below, one x axis; the legend on top, clear of both.

    Two y axes over one x axis (x2 matched to x), laid out by hand: plotly's make_subplots costs
    a tenth of a second per figure, more than the rest of the page's drawing.
    """
    rows_px = ROW_HEIGHT_PX * len(row_names)
    slider = t_count > DENSE_TICKS_UP_TO
    top = LEGEND_PX + (30 if title else 0)
    bottom = 50 + (RANGE_SLIDER_PX if slider else 0)
    gap = 30
    plot_px = rows_px + gap + PROBABILITY_PANEL_PX
    split = PROBABILITY_PANEL_PX / plot_px  # the probability panel's share of the plot height
    shown_seconds = t_count if initial_seconds is None else min(t_count, initial_seconds)
    ticks = {"dtick": 1} if shown_seconds <= DENSE_TICKS_UP_TO else {}
    for trace in lines:
        trace.update(xaxis="x2", yaxis="y2")
    layout = {
        "title": title,
        "barmode": "overlay",  # one trace per row: no side-by-side slots
        "height": top + plot_px + bottom,
        "margin": {"l": 10, "r": 10, "t": top, "b": bottom},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0, "font": {"size": 11}},
        "plot_bgcolor": "white",
        "hovermode": "closest",
        "xaxis": {
            "range": [0, shown_seconds],
            "showgrid": False,
            "matches": "x2",
            "showticklabels": False,
            "anchor": "y",
            **ticks,
        },
        "xaxis2": {
            "range": [0, shown_seconds],
            "showgrid": False,
            "anchor": "y2",
            "title": {"text": "seconds"},
            # zoom a long clip's timeline: the slider always spans the whole clip
            "rangeslider": {"visible": slider, "range": [0, t_count], "thickness": 0.08},
            **ticks,
        },
        "yaxis": {
            "domain": [split + gap / plot_px, 1.0],
            "categoryorder": "array",
            "categoryarray": row_names,
            "autorange": "reversed",
            "anchor": "x",
        },
        "yaxis2": {
            "domain": [0.0, split],
            "range": [0, 1.02],
            "title": {"text": "probability"},
            "gridcolor": "#eeeeee",
            "anchor": "x2",
        },
    }
    return go.Figure(data=[*rows, *lines], layout=layout)
