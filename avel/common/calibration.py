"""When a classifier should abstain: a threshold on its top class probability, set on validation.

A softmax always names a class, so a model shown a bus it never learned answers with one of its
trained classes, often confidently. The threshold cannot be learned from unknown classes we do
not have; it is set so that `keep_correct` of the validation seconds the model answers correctly
stay answered (config.CalibrationConfig), and the share of all seconds it then still answers
(coverage) and their accuracy are stored beside it so the UI can say what the rule costs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
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


def softmax(scores: np.ndarray) -> np.ndarray:
    """Class probabilities of (..., C) scores: what the app shows and the threshold applies to."""
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def answered(probabilities: np.ndarray, threshold: float | None) -> np.ndarray:
    """(..., C) probabilities -> (...,) True where the top class is confident enough to be named."""
    top = probabilities.max(axis=-1)
    return np.ones(top.shape, dtype=bool) if threshold is None else top >= threshold
