"""Metrics of the AVE protocol on hand-made cases whose answers are worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from avel.common.metrics import (
    cml_accuracy,
    cml_chance,
    cml_predictions,
    cml_spans,
    cml_window_distances,
    confusion_matrix,
    event_span,
    majority_chance,
    per_class_accuracy,
    segment_accuracy,
)

PRED = np.array([[0, 1, 2], [2, 2, 1]])
TRUTH = np.array([[0, 1, 1], [2, 0, 1]])


def test_segment_accuracy_counts_every_segment() -> None:
    assert segment_accuracy(PRED, TRUTH) == pytest.approx(4 / 6)


def test_confusion_rows_are_truth_and_sum_to_segments() -> None:
    confusion = confusion_matrix(PRED, TRUTH, num_classes=4)
    expected = np.array([[1, 0, 1, 0], [0, 2, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(confusion, expected)
    assert confusion.sum() == PRED.size


def test_per_class_accuracy_is_nan_for_absent_classes() -> None:
    accuracy = per_class_accuracy(confusion_matrix(PRED, TRUTH, num_classes=4))
    np.testing.assert_allclose(accuracy[:3], [0.5, 2 / 3, 1.0])
    assert np.isnan(accuracy[3])


def test_majority_chance_is_share_of_most_frequent_class() -> None:
    assert majority_chance(TRUTH, num_classes=4) == pytest.approx(3 / 6)


def test_bad_inputs_name_expected_and_received() -> None:
    with pytest.raises(ValueError, match=r"shape \(2, 3\).*shape \(6,\)"):
        segment_accuracy(PRED, TRUTH.ravel())
    with pytest.raises(ValueError, match=r"expected \[0, 1\]"):
        confusion_matrix(PRED, TRUTH, num_classes=2)


@pytest.mark.parametrize(
    ("mask", "span"),
    [
        ([0, 1, 1, 0, 0], (1, 2)),
        ([1, 1, 1, 1, 1], (0, 5)),
        ([0, 0, 0, 0, 0], None),
        ([1, 0, 1, 0, 0], None),
    ],
)
def test_event_span(mask: list[int], span: tuple[int, int] | None) -> None:
    assert event_span(np.array(mask)) == span


def _hand_built_case() -> tuple[np.ndarray, np.ndarray]:
    """Five videos, T=5: two scorable, one all-event, one empty, one gapped."""
    first = np.full((5, 5), 5.0)
    first[1, 3] = first[2, 4] = 0.0  # audio 1-2 look like visual 3-4: A2V picks the wrong start 3
    first[1, 1] = first[2, 2] = 1.0  # the true alignment wins when visual 1-2 query the audio (V2A)
    aligned = 1.0 - np.eye(5)  # zero distance only on the true pairs
    distances = np.stack([first, aligned, aligned, aligned, aligned])
    event_mask = np.array(
        [
            [0, 1, 1, 0, 0],
            [1, 1, 1, 1, 1],  # all event: skipped
            [0, 0, 0, 0, 0],  # no event: skipped
            [1, 0, 1, 0, 0],  # gapped event: skipped
            [0, 0, 0, 1, 0],
        ]
    )
    return distances, event_mask


def test_cml_window_distances_both_directions() -> None:
    distances, _ = _hand_built_case()
    # a2v: score[k] = d[1, k] + d[2, k + 1]
    np.testing.assert_array_equal(cml_window_distances(distances[0], 1, 2, "a2v"), [10, 2, 10, 0])
    # v2a: score[k] = d[k, 1] + d[k + 1, 2]
    np.testing.assert_array_equal(cml_window_distances(distances[0], 1, 2, "v2a"), [10, 2, 10, 10])


def test_cml_accuracy_skips_unscorable_videos() -> None:
    distances, event_mask = _hand_built_case()
    assert cml_spans(event_mask) == [(0, 1, 2), (4, 3, 1)]
    assert cml_predictions(distances, event_mask, "a2v") == [(1, 3), (3, 3)]
    assert cml_accuracy(distances, event_mask, "a2v") == pytest.approx(0.5)
    assert cml_accuracy(distances, event_mask, "v2a") == pytest.approx(1.0)
    assert cml_chance(event_mask) == pytest.approx((1 / 4 + 1 / 5) / 2)


def _official_start(distances: np.ndarray, event: np.ndarray, direction: str) -> int:
    """The loop of AVE-ECCV18 cmm_test.py, written out literally (seg = event indices)."""
    seg = np.flatnonzero(event)
    length, num_segments = len(seg), len(event)
    scores = []
    for nn in range(num_segments - length + 1):
        if direction == "a2v":  # "given audio clip": visual window nn.. vs audio seg
            scores.append(sum(distances[seg[i], nn + i] for i in range(length)))
        else:  # "given video clip": audio window nn.. vs visual seg
            scores.append(sum(distances[nn + i, seg[i]] for i in range(length)))
    return int(np.argmin(scores))


@pytest.mark.parametrize("direction", ["a2v", "v2a"])
def test_cml_matches_official_loop_on_random_videos(direction: str) -> None:
    rng = np.random.default_rng(0)
    distances = rng.random((40, 10, 10))
    event_mask = np.zeros((40, 10))
    for row in event_mask:
        start = rng.integers(0, 9)
        row[start : start + rng.integers(1, 10 - start)] = 1
    predicted = [start for _, start in cml_predictions(distances, event_mask, direction)]
    official = [_official_start(d, e, direction) for d, e in zip(distances, event_mask, strict=True)]
    assert predicted == official
    assert len(set(predicted)) > 3  # the random case exercises many different windows


def test_cml_rejects_bad_direction_and_unscorable_split() -> None:
    distances, event_mask = _hand_built_case()
    with pytest.raises(ValueError, match="valid: a2v, v2a"):
        cml_accuracy(distances, event_mask, "audio")
    with pytest.raises(ValueError, match="no video can be scored"):
        cml_accuracy(distances[1:4], event_mask[1:4], "a2v")


def test_segments_merge_runs_and_skip_background() -> None:
    from avel.common.metrics import merge_segments

    predicted = np.array([3, 1, 1, 3, 2, 2, 2, 4])
    probabilities = np.full((8, 5), 0.1)
    probabilities[1:3, 1] = [0.8, 0.6]
    assert merge_segments(predicted, probabilities, skip=(3, 4)) == [
        (1, 1, 3, pytest.approx(0.7)),
        (2, 4, 7, pytest.approx(0.1)),
    ]


def test_segment_map_matches_by_temporal_iou() -> None:
    from avel.common.metrics import average_precision, segment_map, temporal_iou

    assert temporal_iou((0, 4), (2, 6)) == pytest.approx(2 / 6)
    truths = [[(0, 2, 6)], [(0, 0, 3), (1, 5, 9)]]
    perfect = [[(0, 2, 6, 0.9)], [(0, 0, 3, 0.8), (1, 5, 9, 0.7)]]
    assert segment_map(perfect, truths, 3) == pytest.approx(1.0)
    # class 0: a wrong-place detection ranked first (tIoU 1/3 < 0.5), then the two right ones:
    # precision 1/2 and 2/3 at recall 1/2 and 1, enveloped to 2/3 at both; class 1 is never found
    ranked = [[(0, 4, 8, 0.95), (0, 2, 6, 0.9)], [(0, 0, 3, 0.8)]]
    assert segment_map(ranked, truths, 3) == pytest.approx((2 / 3 + 0) / 2)
    assert average_precision(np.array([1.0, 0.0, 1.0]), 2) == pytest.approx(0.5 + 0.5 * 2 / 3)
    duplicate = [[(0, 2, 6, 0.9), (0, 2, 6, 0.8)], []]  # a true segment is matched once
    assert segment_map(duplicate, [[(0, 2, 6)], []], 1) == pytest.approx(1.0)
