"""Attention accuracy (avel/training/attention.py): the metrics, the manifest's boxes, `evaluate --json`."""

from __future__ import annotations

import numpy as np
import pytest

from avel.bench.boxes import object_boxes
from avel.common.classes import AVE_CLASSES, BACKGROUND_INDEX
from avel.common.config import ModelConfig
from avel.common.metrics import attention_accuracy, box_cells
from avel.data import AVESplit
from avel.models import build_model
from avel.training.attention import ObjectBoxes, collect_attention, score_attention


def test_box_cells_are_the_cells_whose_centre_is_inside() -> None:
    cells = box_cells((0, 0, 16, 30), frame_size=30, grid_h=3, grid_w=3)  # centres at 5, 15, 25
    np.testing.assert_array_equal(cells, [[True, True, False]] * 3)


def test_attention_accuracy_on_known_maps() -> None:
    box = np.zeros((3, 3), dtype=bool)
    box[0, :2] = True  # 2 of 9 cells
    on_box, off_box, uniform = np.zeros((3, 3)), np.zeros((3, 3)), np.full((3, 3), 1 / 9)
    on_box[0, 0], off_box[2, 2] = 1.0, 1.0
    hit = attention_accuracy(on_box[None], box[None])
    assert (hit["pointing"], hit["mass"], hit["iou_auc"], hit["chance"]) == pytest.approx((1, 1, 0.5, 2 / 9))
    miss = attention_accuracy(off_box[None], box[None])
    assert (miss["pointing"], miss["mass"], miss["iou_auc"]) == (0.0, 0.0, 0.0)
    flat = attention_accuracy(uniform[None], box[None])  # chance: every metric at the box's share
    assert flat["mass"] == pytest.approx(2 / 9) and flat["iou_auc"] == pytest.approx(2 / 9)
    with pytest.raises(ValueError, match="no second to score"):
        attention_accuracy(np.zeros((0, 3, 3)), np.zeros((0, 3, 3), dtype=bool))


def _split(labels: np.ndarray, rows: np.ndarray) -> AVESplit:
    n, t = labels.shape
    return AVESplit(
        audio=np.zeros((n, t, 2)),
        visual=np.zeros((n, t, 3, 3, 2)),
        labels=np.eye(len(AVE_CLASSES))[labels],
        event=(labels != BACKGROUND_INDEX).astype(float),
        video_labels=np.zeros((n, len(AVE_CLASSES))),
        rows=rows,
    )


def test_score_attention_scores_event_seconds_with_a_box_per_class() -> None:
    labels = np.array([[0, 0, BACKGROUND_INDEX], [1, 1, 1]])
    dataset = _split(labels, rows=np.array([2, 0]))  # split item i is AVE row rows[i]
    boxes = np.full((3, 3, 4), np.nan)
    boxes[2, :2] = (0, 0, 10, 10)  # item 0: top-left cell, both event seconds
    boxes[0, 0] = (20, 20, 30, 30)  # item 1: bottom-right cell, first second only (then hidden)
    attention = np.zeros((2, 3, 3, 3))
    attention[:, :, 0, 0] = 1.0  # always the top-left cell
    result = score_attention(attention, dataset, ObjectBoxes(boxes, frame_size=30), AVE_CLASSES)
    assert result["num_seconds"] == 3 and result["pointing"] == pytest.approx(2 / 3)
    assert result["chance"] == pytest.approx(1 / 9)
    per_class = result["per_class"]
    assert set(per_class) == {AVE_CLASSES[0], AVE_CLASSES[1]}
    assert (per_class[AVE_CLASSES[0]]["pointing"], per_class[AVE_CLASSES[1]]["pointing"]) == (1.0, 0.0)


def test_object_boxes_follow_the_rows_of_the_ave_layout() -> None:
    """Rows are the event and open-set videos (write_features_and_labels); background-only
    videos live apart and have no row."""
    manifest = {
        "config": {"seconds": 2, "frame_size": 256},
        "videos": [
            {"kind": "event", "bbox": [[0, 0, 10, 10], None]},
            {"kind": "background", "bbox": [None, None]},
            {"kind": "open", "bbox": [[1, 1, 2, 2], None]},
            {"kind": "event", "bbox": [None, [5, 5, 20, 20]]},
        ],
    }
    boxes = object_boxes(manifest)
    assert boxes.frame_size == 256 and boxes.boxes.shape == (3, 2, 4)
    assert np.isnan(boxes.boxes[0, 1]).all() and boxes.boxes[2, 1].tolist() == [5, 5, 20, 20]


def test_a_model_without_spatial_attention_has_none() -> None:
    cfg = ModelConfig(ablation="csea", audio_dim=2, visual_dim=2, grid_h=3, grid_w=3)
    assert collect_attention(build_model(cfg), _split(np.zeros((1, 2), int), np.array([0])), "cpu") is None
