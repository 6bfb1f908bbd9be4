"""Input checks shared by the plotting functions: errors name the argument, expected and received."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Classes = Sequence[str]  # class names indexed by class index, e.g. avel.common.classes.AVE_CLASSES

# Probabilities from a softmax can leave [0, 1] by float rounding only; logits leave it by far.
PROBABILITY_TOLERANCE = 1e-4


def resolve_background(background_index: int | None, num_classes: int) -> int | None:
    """The background class as a non-negative index (None stays None: no background class)."""
    if background_index is None:
        return None
    if not -num_classes <= background_index < num_classes:
        raise ValueError(
            f"background_index: expected an index into {num_classes} classes "
            f"(from {-num_classes} to {num_classes - 1}), got {background_index}"
        )
    return background_index % num_classes


def check_probabilities(name: str, probs: np.ndarray, classes: Classes) -> np.ndarray:
    """A (T, C) float array of probabilities over `classes`, or a ValueError saying what is wrong."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(classes):
        raise ValueError(
            f"{name}: expected shape (T, {len(classes)}) (T segments x classes), got {probs.shape}"
        )
    if probs.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one segment, got shape {probs.shape}")
    low, high = float(probs.min()), float(probs.max())
    if low < -PROBABILITY_TOLERANCE or high > 1 + PROBABILITY_TOLERANCE or not np.isfinite(probs).all():
        raise ValueError(
            f"{name}: expected probabilities in [0, 1] (apply a softmax to logits first), "
            f"got values in [{low:.3g}, {high:.3g}]"
        )
    return probs


def check_labels(name: str, labels: np.ndarray, num_classes: int, length: int | None = None) -> np.ndarray:
    """A (T,) integer array of class indices in [0, num_classes), optionally of a given length."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or (length is not None and labels.shape[0] != length):
        expected = f"({length},)" if length is not None else "(T,)"
        raise ValueError(f"{name}: expected class indices of shape {expected}, got shape {labels.shape}")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name}: expected integer class indices, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"{name}: expected class indices in [0, {num_classes}), got values in "
            f"[{labels.min()}, {labels.max()}]"
        )
    return labels.astype(np.int64)
