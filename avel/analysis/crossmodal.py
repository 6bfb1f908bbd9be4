"""Cross-modality localization of an analysed clip (Sec. III-D, the CML protocol): slide a span of one
modality over the other with each CML model and judge the answer when the clip's truth is known.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avel.common.metrics import cml_window_distances, event_span


@dataclass
class CrossModalState:
    """What cross-modal matching needs of an analysed clip: kept per app session, a few KB."""

    distances: dict[str, np.ndarray]  # matcher name -> (T, T) audio-vs-visual segment distances
    num_segments: int
    ground_truth: np.ndarray | None  # (T,) class per second when known
    background_index: int


@dataclass
class CrossModalResult:
    """The sliding-window search of one matcher for one query span."""

    window_distances: np.ndarray  # (T - l + 1,) summed distance at each candidate start
    best_start: int
    correct: bool | None = None  # None: the truth of this query is unknown


@dataclass
class CrossModalMatch:
    """Every matcher's answer to one query, judged against the clip's ground truth when known."""

    direction: str  # "a2v" or "v2a"
    span: tuple[int, int]  # the query [start, end) in seconds
    results: dict[str, CrossModalResult]
    truth_span: tuple[int, int] | None  # the true event [start, end), when the clip's labels are known
    true_start: int | None  # where the query truly matches; None unless the query is the true event


def event_bounds(labels: np.ndarray, background: int) -> tuple[int, int] | None:
    """[start, end) seconds of the one contiguous event in (T,) per-second labels, else None."""
    span = event_span(labels != background)  # (start, length)
    return None if span is None else (span[0], span[0] + span[1])


def cross_modal_search(distances: np.ndarray, start: int, end: int, direction: str) -> CrossModalResult:
    """Slide the query span [start, end) of one modality over the other (the CML protocol)."""
    windows = cml_window_distances(distances, start, end - start, direction)  # checks the span
    return CrossModalResult(window_distances=windows, best_start=int(np.argmin(windows)))


def match_cross_modal(state: CrossModalState, direction: str, start: int, end: int) -> CrossModalMatch:
    """Run every matcher on the query and judge each answer when the clip's truth is known.

    In a synchronised clip the true match of the true event span is the same span, so only that
    query can be judged; any other query has no known answer.
    """
    direction = direction.lower()
    truth_span = None
    if state.ground_truth is not None:
        truth_span = event_bounds(state.ground_truth, state.background_index)
    true_start = start if truth_span == (start, end) else None
    results = {}
    for name, distances in state.distances.items():
        result = cross_modal_search(distances, start, end, direction)
        result.correct = None if true_start is None else result.best_start == true_start
        results[name] = result
    return CrossModalMatch(direction, (start, end), results, truth_span, true_start)
