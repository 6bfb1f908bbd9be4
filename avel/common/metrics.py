"""Accuracy metrics of the AVE protocol (docs/ave-format.md; paper Sec. IV-A "Evaluation Metrics").

SEL/WSEL are scored per segment over the whole split, background included. CML follows the
official `cmm_test.py`: the event span of the query modality slides over the other modality and
the window with the smallest summed distance must start where the event starts.
All functions take numpy arrays so the app, the CLI and the tests share them without a model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CML_DIRECTIONS = ("a2v", "v2a")
_NO_CML_VIDEO = "no video can be scored for CML: every event is empty, gapped or fills the video"


def _check_same_shape(pred: np.ndarray, truth: np.ndarray) -> None:
    if pred.shape != truth.shape:
        raise ValueError(f"predictions have shape {pred.shape} but labels have shape {truth.shape}")
    if pred.size == 0:
        raise ValueError("no segments to score: predictions and labels are empty")


def segment_accuracy(pred: np.ndarray, truth: np.ndarray) -> float:
    """Share of segments whose predicted class equals the true class (background counted).

    pred, truth: integer class indices of any matching shape, e.g. (N, T).
    """
    _check_same_shape(pred, truth)
    return float(np.mean(pred == truth))


def confusion_matrix(pred: np.ndarray, truth: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) int64 counts; row = true class, column = predicted class; sums to the segment count."""
    _check_same_shape(pred, truth)
    pred, truth = pred.ravel().astype(np.int64), truth.ravel().astype(np.int64)
    for name, values in (("predictions", pred), ("labels", truth)):
        if values.min() < 0 or values.max() >= num_classes:
            raise ValueError(
                f"{name} hold class indices in [{values.min()}, {values.max()}], "
                f"expected [0, {num_classes - 1}]"
            )
    flat = np.bincount(truth * num_classes + pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)  # (C*C,) -> (C, C)


def per_class_accuracy(confusion: np.ndarray) -> np.ndarray:
    """(C,) share of each true class's segments predicted correctly; NaN where a class is absent."""
    totals = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(confusion) / totals, np.nan)


def majority_chance(truth: np.ndarray, num_classes: int) -> float:
    """Chance level of SEL/WSEL: share of the most frequent class among the split's segments.

    The paper quotes background's share (17.1%) as chance; this is the same rule on any split.
    """
    counts = np.bincount(truth.ravel().astype(np.int64), minlength=num_classes)
    return float(counts.max() / counts.sum())


def event_span(event: np.ndarray) -> tuple[int, int] | None:
    """(start, length) of the event in a (T,) 0/1 mask, or None when it is not one contiguous span.

    None also covers an empty mask; an all-event mask returns (0, T) (callers decide to skip it).
    """
    positions = np.flatnonzero(np.asarray(event) > 0.5)
    if positions.size == 0 or positions[-1] - positions[0] + 1 != positions.size:
        return None
    return int(positions[0]), int(positions.size)


def check_span(start: int, end: int, num_segments: int) -> None:
    """The one check of a query span [start, end) against T segments; ValueError says what fits."""
    if not 0 <= start < end <= num_segments:
        raise ValueError(
            f"a span must satisfy 0 <= start < end <= {num_segments} (seconds), got [{start}, {end})"
        )


def cml_window_distances(distances: np.ndarray, start: int, length: int, direction: str) -> np.ndarray:
    """Summed distance of the query span at each of the T - l + 1 positions of the other modality.

    distances: (T, T), entry [i, j] = distance of audio segment i to visual segment j.
    a2v: the audio span [start, start + l) is the query, visual windows are searched:
        score[k] = sum_m distances[start + m, k + m].
    v2a: the visual span is the query, audio windows are searched:
        score[k] = sum_m distances[k + m, start + m].
    """
    if direction not in CML_DIRECTIONS:
        raise ValueError(f"unknown CML direction {direction!r}; valid: {', '.join(CML_DIRECTIONS)}")
    if distances.ndim != 2 or distances.shape[0] != distances.shape[1]:
        raise ValueError(f"distances must be (T, T), got shape {distances.shape}")
    num_segments = distances.shape[0]
    check_span(start, start + length, num_segments)
    pairs = distances if direction == "a2v" else distances.T  # rows: query modality, columns: searched
    offsets = np.arange(length)
    query_rows = start + offsets  # (l,)
    windows = np.arange(num_segments - length + 1)[:, None] + offsets[None, :]  # (T-l+1, l)
    return pairs[query_rows[None, :], windows].sum(axis=1)  # (T-l+1,)


def cml_spans(event_mask: np.ndarray) -> list[tuple[int, int, int]]:
    """(video index, event start, event length) of every video the CML protocol evaluates.

    Skipped, as in the official cmm_test.py: videos whose segments are all event (nothing to
    search). Also skipped here: an empty event, and an event that is not one contiguous span
    (the official code would index an empty span or slide a gapped query; AVE has neither).
    """
    if event_mask.ndim != 2:
        raise ValueError(f"event_mask must be (N, T), got shape {event_mask.shape}")
    spans = []
    for index, event in enumerate(event_mask):
        span = event_span(event)
        if span is not None and span[1] < len(event):
            spans.append((index, *span))
    return spans


def cml_predictions(distances: np.ndarray, event_mask: np.ndarray, direction: str) -> list[tuple[int, int]]:
    """(true start, predicted start) of every video in `cml_spans`; ties go to the earliest window.

    distances: (N, T, T) audio-vs-visual distances; event_mask: (N, T) 0/1.
    """
    if distances.ndim != 3 or event_mask.shape != distances.shape[:2]:
        raise ValueError(
            f"expected distances (N, T, T) and event_mask (N, T), "
            f"got {distances.shape} and {event_mask.shape}"
        )
    return [
        (start, int(np.argmin(cml_window_distances(distances[index], start, length, direction))))
        for index, start, length in cml_spans(event_mask)
    ]


def cml_accuracy(distances: np.ndarray, event_mask: np.ndarray, direction: str) -> float:
    """Share of evaluated videos whose best window starts at the true event start (A2V or V2A)."""
    results = cml_predictions(distances, event_mask, direction)
    if not results:
        raise ValueError(_NO_CML_VIDEO)
    return float(np.mean([truth == predicted for truth, predicted in results]))


def cml_chance(event_mask: np.ndarray) -> float:
    """Chance level of CML: mean of 1 / (T - l + 1) over the videos the protocol evaluates."""
    spans = cml_spans(event_mask)
    if not spans:
        raise ValueError(_NO_CML_VIDEO)
    num_segments = event_mask.shape[1]
    return float(np.mean([1.0 / (num_segments - length + 1) for _, _, length in spans]))


Segment = tuple[int, int, int, float]  # (class, start, end exclusive, score)


def merge_segments(
    predicted: np.ndarray, probabilities: np.ndarray, skip: Sequence[int] = ()
) -> list[Segment]:
    """Runs of equal per-second labels as (class, start, end, score); labels in `skip` (background,
    the abstention row) make no segment. score = the mean probability of the class over the run."""
    segments = []
    start = 0
    for t in range(1, len(predicted) + 1):
        if t == len(predicted) or predicted[t] != predicted[start]:
            label = int(predicted[start])
            if label not in skip:
                score = float(probabilities[start:t, label].mean())
                segments.append((label, start, t, score))
            start = t
    return segments


def temporal_iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    """Intersection over union of two [start, end) intervals."""
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def average_precision(tp: np.ndarray, num_truth: int) -> float:
    """AP of ranked detections (1 = true positive), with the precision envelope (ActivityNet/VOC)."""
    if num_truth == 0:
        return float("nan")
    if tp.size == 0:
        return 0.0
    hits = np.cumsum(tp)
    recall = np.concatenate([[0.0], hits / num_truth, [1.0]])
    precision = np.concatenate([[0.0], hits / np.arange(1, tp.size + 1), [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # the envelope: best precision at >= recall
    changes = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return float(np.sum((recall[changes] - recall[changes - 1]) * precision[changes]))


def segment_map(
    predictions: Sequence[Sequence[Segment]],
    truths: Sequence[Sequence[tuple[int, int, int]]],
    num_classes: int,
    tiou: float = 0.5,
) -> float:
    """Event-segment mAP at one tIoU (UnAV-100's metric): per class, detections of all videos ranked
    by score, each matched greedily to the best unmatched true segment of its video with tIoU >=
    `tiou`; the mean AP over the classes that have true segments.

    predictions[v]: (class, start, end, score) of video v; truths[v]: (class, start, end).
    """
    if len(predictions) != len(truths):
        raise ValueError(f"expected one prediction list per video, got {len(predictions)} and {len(truths)}")
    aps = []
    for label in range(num_classes):
        true_by_video = [[(s, e) for c, s, e in video if c == label] for video in truths]
        num_truth = sum(len(video) for video in true_by_video)
        if num_truth == 0:
            continue
        detections = sorted(
            (
                (score, v, (s, e))
                for v, video in enumerate(predictions)
                for c, s, e, score in video
                if c == label
            ),
            key=lambda item: -item[0],
        )
        used = [np.zeros(len(video), dtype=bool) for video in true_by_video]
        tp = np.zeros(len(detections))
        for i, (_, v, span) in enumerate(detections):
            overlaps = np.array([temporal_iou(span, truth) for truth in true_by_video[v]])
            free = [j for j in np.argsort(-overlaps, kind="stable") if not used[v][j] and overlaps[j] >= tiou]
            if free:
                used[v][free[0]] = True
                tp[i] = 1
        aps.append(average_precision(tp, num_truth))
    return float(np.mean(aps)) if aps else float("nan")


# ---- attention accuracy: does the spatial attention land on the sounding object? -------------
# Sound-source localization metrics on the H x W attention grid, against the event object's box.
# A cell is "in the box" when its centre is: the box's share of the grid is then the chance level of
# all three (a uniform map puts that mass in the box, a random peak hits it that often, and its
# thresholded map is the whole grid, whose IoU with the box is that share at every threshold).
ATTENTION_THRESHOLDS = np.linspace(0.05, 1.0, 20)  # of the map's maximum: the IoU curve's x axis


def box_cells(box: Sequence[float], frame_size: float, grid_h: int, grid_w: int) -> np.ndarray:
    """(H, W) bool: the cells whose centre lies inside `box` = (x0, y0, x1, y1) in pixels of a
    square frame of side `frame_size` (the grid covers the whole frame)."""
    x0, y0, x1, y1 = (float(value) / frame_size for value in box)
    rows = (np.arange(grid_h) + 0.5) / grid_h
    columns = (np.arange(grid_w) + 0.5) / grid_w
    return ((rows >= y0) & (rows <= y1))[:, None] & ((columns >= x0) & (columns <= x1))[None, :]


def _threshold_iou(attention: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """(K,) mean over the thresholds of IoU(attention / its max >= threshold, box cells)."""
    flat_att = attention.reshape(len(attention), -1)
    flat_box = cells.reshape(len(cells), -1)
    normalised = flat_att / np.maximum(flat_att.max(axis=1, keepdims=True), 1e-12)
    selected = normalised[:, None, :] >= ATTENTION_THRESHOLDS[None, :, None]  # (K, thresholds, P)
    inter = (selected & flat_box[:, None, :]).sum(-1)
    union = (selected | flat_box[:, None, :]).sum(-1)
    return (inter / np.maximum(union, 1)).mean(axis=1)


def attention_accuracy(attention: np.ndarray, cells: np.ndarray) -> dict[str, float | int]:
    """Pointing game, attention mass in the box and the IoU AUC over thresholds, with their chance.

    attention: (K, H, W) maps summing to 1 (one per scored second); cells: (K, H, W) bool box cells
    (box_cells). "pointing": share of seconds whose peak cell is in the box; "mass": mean attention
    inside it; "iou_auc": mean over ATTENTION_THRESHOLDS of the IoU between the map thresholded at
    that share of its maximum and the box; "chance": mean box share of the grid.
    """
    if attention.shape != cells.shape or attention.ndim != 3:
        raise ValueError(f"attention {attention.shape} and box cells {cells.shape}: expected equal (K, H, W)")
    if len(attention) == 0:
        raise ValueError("no second to score: no event second has a box")
    flat_att, flat_box = attention.reshape(len(attention), -1), cells.reshape(len(cells), -1)
    peak = flat_att.argmax(axis=1)
    return {
        "pointing": float(flat_box[np.arange(len(peak)), peak].mean()),
        "mass": float((flat_att * flat_box).sum(axis=1).mean()),
        "iou_auc": float(_threshold_iou(attention, cells).mean()),
        "chance": float(flat_box.mean()),
        "num_seconds": len(attention),
    }
