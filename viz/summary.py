"""Plain-language summaries of per-second predictions: event spans and top-k tables.

Time convention (used across viz/): segment t covers the time [t, t+1) seconds of the clip, and
spans are written by their time boundaries, like AVE's annotations: segments 3, 4, 5 and 6
are "seconds 3-7" (from second 3 to second 7).
"""

from __future__ import annotations

import numpy as np

from viz.validate import Classes, check_labels, check_probabilities, resolve_background

NO_EVENT = "no event detected"


def span_label(start: int, end: int) -> str:
    """Time boundaries of segments [start, end), e.g. (3, 7) -> "3-7"."""
    return f"{start}-{end}"


def label_spans(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """Runs of equal labels as (class_index, start, end) with `end` exclusive, in time order."""
    labels = np.asarray(labels)
    spans: list[tuple[int, int, int]] = []
    start = 0
    for t in range(1, len(labels) + 1):
        if t == len(labels) or labels[t] != labels[start]:
            spans.append((int(labels[start]), start, t))
            start = t
    return spans


def summarize_events(labels: np.ndarray, classes: Classes, background_index: int | None = -1) -> str:
    """One sentence per event span, joined by "; ": "Bark, seconds 3-7; Cat, seconds 8-10".

    Background spans are left out; a clip with none but background gives "no event detected".
    """
    labels = check_labels("labels", labels, len(classes))
    background = resolve_background(background_index, len(classes))
    parts = [
        f"{classes[index]}, seconds {span_label(start, end)}"
        for index, start, end in label_spans(labels)
        if index != background
    ]
    return "; ".join(parts) if parts else NO_EVENT


def top_k_indices(probs: np.ndarray, k: int) -> np.ndarray:
    """(T, k) class indices per segment, most probable first (ties: lower index first)."""
    if not 1 <= k <= probs.shape[1]:
        raise ValueError(f"k: expected 1 <= k <= {probs.shape[1]} (the number of classes), got {k}")
    return np.argsort(-probs, axis=1, kind="stable")[:, :k]


def top_k_headers(k: int = 3) -> list[str]:
    """Column names matching `top_k_table` rows, for a gr.Dataframe."""
    return ["Seconds", "Answer"] + [name for rank in range(1, k + 1) for name in (f"Top {rank}", f"P {rank}")]


def top_k_table(
    probs: np.ndarray, classes: Classes, k: int = 3, answers: list[str] | None = None
) -> list[list]:
    """One row per segment: ["3-4", answer, class 1, p 1, class 2, p 2, ...], best first.

    `answers` is what the app says for the second (the top class, or that it abstains); default
    the top class. Probabilities are floats (3 decimals) so a table widget can sort them.
    """
    probs = check_probabilities("probs", probs, classes)
    if answers is not None and len(answers) != len(probs):
        raise ValueError(f"answers: expected one per segment ({len(probs)}), got {len(answers)}")
    rows: list[list] = []
    for t, ranked in enumerate(top_k_indices(probs, k)):
        row: list = [span_label(t, t + 1), classes[ranked[0]] if answers is None else answers[t]]
        for index in ranked:
            row += [classes[index], round(float(probs[t, index]), 3)]
        rows.append(row)
    return rows


TAG_HEADERS = ["Seconds", "YAMNet hears (AudioSet)", "The visual CNN sees (ImageNet)"]


def tags_table(
    audio: list[list[tuple[str, float]]] | None, visual: list[list[tuple[str, float]]] | None
) -> list[list]:
    """Per second: the backbones' own top classes as "Dog 0.39, Bark 0.31", for a gr.Dataframe."""
    count = len(audio if audio is not None else visual or [])

    def cell(tags: list[list[tuple[str, float]]] | None, t: int) -> str:
        return "n/a (no classifier)" if tags is None else ", ".join(f"{n} {p:.2f}" for n, p in tags[t])

    return [[span_label(t, t + 1), cell(audio, t), cell(visual, t)] for t in range(count)]
