"""When a classifier should abstain: a threshold on its top class probability, set on validation.

A softmax always names a class, so a model shown a bus it never learned answers with one of its
trained classes, often confidently. The threshold cannot be learned from unknown classes we do
not have; it is set so that `keep_correct` of the validation seconds the model answers correctly
stay answered (config.CalibrationConfig), and the share of all seconds it then still answers
(coverage) and their accuracy are stored beside it so the UI can say what the rule costs.

An abstained second is then one of two things, told apart by a second rule also set on
validation: **unsure between known classes** (the probability sits on a few trained classes:
the two most probable hold at least `unsure_mass` of it) or **not one of the known classes** (it
is spread out). `unsure_mass` is the value that best separates, among the abstained validation
seconds, those of open-set events (a non-AVE object heard and seen: the composite benchmark's
open-set videos) from all others (largest balanced accuracy). Without open-set seconds it stays
None and every abstained second is "not one of the known classes", as before.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Calibration:
    """A checkpoint's abstention rule and what it measured when it was set."""

    threshold: float  # answer a second only when its top probability >= threshold
    split: str  # where it was set ("val")
    keep_correct: float  # the target: share of correct seconds kept
    kept_correct: float  # measured on `split`
    coverage: float  # share of all seconds answered on `split`
    accuracy_answered: float  # accuracy on the answered seconds
    accuracy_all: float  # accuracy without abstention
    num_seconds: int
    # abstained seconds whose top-2 probability mass reaches this are "unsure"; None: never
    unsure_mass: float | None = None
    open_seconds: int = 0  # open-set event seconds on `split` (0: unsure_mass could not be set)
    open_flagged: float | None = None  # share of them labelled "not one of the known classes"
    open_claimed: float | None = None  # share of them answered with a trained event class
    known_flagged: float | None = None  # share of known-event seconds labelled "not one of the known"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Calibration:
        return cls(**record)


def calibrate(probabilities: np.ndarray, truth: np.ndarray, keep_correct: float, split: str) -> Calibration:
    """The largest threshold that keeps `keep_correct` of the correct seconds.

    probabilities: (N, C) softmax per second; truth: (N,) class per second.
    """
    if probabilities.ndim != 2 or truth.shape != probabilities.shape[:1] or truth.size == 0:
        raise ValueError(
            f"expected (N, C) probabilities and (N,) truth, got {probabilities.shape} and {truth.shape}"
        )
    top, predicted = probabilities.max(axis=1), probabilities.argmax(axis=1)  # (N,) each
    correct = predicted == truth
    if not correct.any():
        raise ValueError("the model gets no second right on this split: nothing to calibrate on")
    # the (1 - keep) quantile of the correct seconds' confidence, taken from below so >= keeps at least `keep`
    threshold = float(np.quantile(top[correct], 1.0 - keep_correct, method="lower"))
    answered = top >= threshold
    return Calibration(
        threshold=threshold,
        split=split,
        keep_correct=keep_correct,
        kept_correct=float(answered[correct].mean()),
        coverage=float(answered.mean()),
        accuracy_answered=float(correct[answered].mean()),
        accuracy_all=float(correct.mean()),
        num_seconds=int(truth.size),
    )


def top2_mass(probabilities: np.ndarray) -> np.ndarray:
    """(..., C) -> (...,) the two largest probabilities summed: how concentrated the answer is."""
    return np.sort(probabilities, axis=-1)[..., -2:].sum(axis=-1)


def fit_unsure_mass(
    probabilities: np.ndarray, truth: np.ndarray, open_event: np.ndarray, calibration: Calibration
) -> Calibration:
    """`calibration` with `unsure_mass` set on the same seconds, and what it measured there.

    probabilities (N, C), truth (N,) (background = C - 1), open_event (N,) bool: the seconds where an
    event of another kind is seen and heard (labelled background). Candidate values are the
    abstained seconds' own masses; the one with the largest balanced accuracy of "open event or
    not" among the abstained seconds wins.
    """
    if not open_event.any():
        return calibration
    abstained = probabilities.max(axis=1) < calibration.threshold  # (N,)
    mass, is_open = top2_mass(probabilities)[abstained], open_event[abstained]
    best, best_score = 1.0, -1.0
    for candidate in np.unique(mass):
        flagged = mass < candidate  # "not one of the known classes"
        score = _balanced_accuracy(flagged, is_open)
        if score > best_score:
            best, best_score = float(candidate), score
    return _measured(replace(calibration, unsure_mass=best), probabilities, truth, open_event)


def _balanced_accuracy(flagged: np.ndarray, positive: np.ndarray) -> float:
    """Mean of the true-positive and true-negative rates (a missing class counts as 0.5)."""
    tpr = flagged[positive].mean() if positive.any() else 0.5
    tnr = (~flagged[~positive]).mean() if (~positive).any() else 0.5
    return float(tpr + tnr) / 2


def _measured(
    calibration: Calibration, probabilities: np.ndarray, truth: np.ndarray, open_event: np.ndarray
) -> Calibration:
    kinds = abstention(probabilities, calibration.threshold, calibration.unsure_mass)
    predicted, background = probabilities.argmax(axis=1), probabilities.shape[1] - 1
    known = truth != background
    return replace(
        calibration,
        open_seconds=int(open_event.sum()),
        open_flagged=float((kinds[open_event] == NOT_KNOWN).mean()),
        open_claimed=float(((kinds == ANSWERED) & (predicted != background))[open_event].mean()),
        known_flagged=float((kinds[known] == NOT_KNOWN).mean()) if known.any() else None,
    )


ANSWERED, UNSURE, NOT_KNOWN = 0, 1, 2  # what abstention() says of a second


def abstention(probabilities: np.ndarray, threshold: float | None, unsure_mass: float | None) -> np.ndarray:
    """(..., C) -> (...,) ANSWERED, UNSURE (between known classes) or NOT_KNOWN per second."""
    kinds = np.where(answered(probabilities, threshold), ANSWERED, NOT_KNOWN)
    if unsure_mass is not None:
        kinds[(kinds == NOT_KNOWN) & (top2_mass(probabilities) >= unsure_mass)] = UNSURE
    return kinds


def softmax(scores: np.ndarray) -> np.ndarray:
    """Class probabilities of (..., C) scores: what the app shows and the threshold applies to."""
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def answered(probabilities: np.ndarray, threshold: float | None) -> np.ndarray:
    """(..., C) probabilities -> (...,) True where the top class is confident enough to be named."""
    top = probabilities.max(axis=-1)
    return np.ones(top.shape, dtype=bool) if threshold is None else top >= threshold
