"""Cross-modality localization (CML) at a glance: the distance of every candidate window.

A2V: an audio query span is matched against every equally long window of the visual segments
(V2A the other way round); the window with the smallest distance, averaged over the CSPA and
CSEA streams (Sec. III-D), is the answer. The bars show how clear that choice was.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from viz.colors import BEST_COLOR, TRUTH_COLOR
from viz.summary import span_label

DIRECTIONS = {"a2v": ("audio", "visual"), "v2a": ("visual", "audio")}  # (query, searched) modality
OTHER_COLOR = "#9ecae1"  # pale blue: the candidates that were not chosen


def cml_distance_figure(
    window_distances: np.ndarray,
    best: int,
    true_start: int | None,
    query_span: tuple[int, int],
    direction: str,
) -> go.Figure:
    """One bar per candidate window start, the chosen window red, the true window outlined green.

    window_distances: (n_windows,) distance of the window starting at segment i (length =
    query span length). best: the chosen window start; true_start: the correct one, if known.
    Traces: "windows" (bars, colour per bar) and, with a truth, "truth" (a marker on its bar).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction: unknown {direction!r}; valid: {', '.join(DIRECTIONS)}")
    distances = np.asarray(window_distances, dtype=np.float64)
    if distances.ndim != 1 or distances.size == 0 or not np.isfinite(distances).all():
        raise ValueError(
            f"window_distances: expected finite (n_windows,) distances, got shape {distances.shape}"
        )
    n = distances.size
    for name, value in (("best", best), ("true_start", true_start)):
        if value is not None and not 0 <= value < n:
            raise ValueError(f"{name}: expected a window start in [0, {n}), got {value}")
    start, end = query_span
    if not 0 <= start < end:
        raise ValueError(f"query_span: expected (start, end) with 0 <= start < end, got {query_span}")
    length = end - start  # every candidate window has the query's length
    query, searched = DIRECTIONS[direction]

    labels = [span_label(i, i + length) for i in range(n)]
    colors = [BEST_COLOR if i == best else OTHER_COLOR for i in range(n)]
    outline = [TRUTH_COLOR if i == true_start else "rgba(0,0,0,0)" for i in range(n)]
    traces: list[go.BaseTraceType] = [
        go.Bar(
            x=labels,
            y=distances.tolist(),
            marker={"color": colors, "line": {"color": outline, "width": 3}},
            hovertext=[
                f"{searched} seconds {label}: distance {d:.3f}"
                for label, d in zip(labels, distances, strict=True)
            ],
            hoverinfo="text",
            name="windows",
            showlegend=False,
        )
    ]
    if true_start is not None:
        traces.append(
            go.Scatter(
                x=[labels[true_start]],
                y=[float(distances[true_start])],
                mode="markers+text",
                marker={"symbol": "star", "size": 14, "color": TRUTH_COLOR},
                text=["truth"],
                textposition="top center",
                name="truth",
                showlegend=False,
            )
        )
    verdict = "" if true_start is None else (" (correct)" if best == true_start else " (wrong)")
    fig = go.Figure(traces)
    fig.update_layout(
        title=(
            f"{direction.upper()}: {query} seconds {span_label(start, end)} -> best {searched} window "
            f"{labels[best]}{verdict}"
        ),
        xaxis_title=f"{searched} window (seconds)",
        yaxis_title="distance (lower = better match)",
        plot_bgcolor="white",
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    return fig
