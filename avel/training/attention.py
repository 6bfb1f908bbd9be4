"""Attention accuracy: how often a model's spatial attention lands on the sounding object.

AVE has no boxes, so no AVE code release can measure this; the composite benchmark knows where
its event object is in every second (its manifest, avel/bench/boxes.py). For each event second
of a split whose object box is known, the model's H x W spatial attention (CSPA's Z_att^v, or the
baseline's audio-guided attention) is scored with the sound-source localization metrics of
avel.common.metrics.attention_accuracy: pointing game, mass in the box, IoU AUC over thresholds,
each against its chance level (the box's share of the grid).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from avel.common import metrics
from avel.data import AVESplit

EVAL_BATCH_SIZE = 64  # inference only: any size gives the same numbers


@dataclass(frozen=True)
class ObjectBoxes:
    """Where the event object is, per AVE row and second: boxes (N_rows, T, 4) as (x0, y0, x1, y1)
    in pixels of a square frame of side frame_size, NaN where the object is not visible."""

    boxes: np.ndarray
    frame_size: float

    def __post_init__(self) -> None:
        if self.boxes.ndim != 3 or self.boxes.shape[-1] != 4:
            raise ValueError(f"ObjectBoxes.boxes: expected (N_rows, T, 4), got {self.boxes.shape}")


@torch.no_grad()
def collect_attention(model: nn.Module, dataset: AVESplit, device: torch.device) -> np.ndarray | None:
    """(N, T, H, W) spatial attention of every video of the split; None for a model without one
    (CSEA alone, AVDLN)."""
    model.eval()
    maps = []
    for batch in DataLoader(dataset, batch_size=EVAL_BATCH_SIZE, shuffle=False):
        attention = model(batch["audio"].to(device), batch["visual"].to(device)).spatial_attention
        if attention is None:
            return None
        maps.append(attention.float().cpu())
    return torch.cat(maps).numpy()


def score_attention(
    attention: np.ndarray, dataset: AVESplit, boxes: ObjectBoxes, classes: tuple[str, ...]
) -> dict[str, Any]:
    """attention_accuracy over the split's event seconds with a box, overall and per class."""
    if np.any(dataset.rows < 0) or dataset.rows.max() >= len(boxes.boxes):
        raise ValueError(
            f"the split's rows reach {int(dataset.rows.max())}, but the boxes cover {len(boxes.boxes)} videos"
        )
    video_boxes = boxes.boxes[dataset.rows]  # (N, T, 4)
    scored = (dataset.event > 0) & ~np.isnan(video_boxes).any(axis=-1)  # (N, T)
    grid_h, grid_w = attention.shape[-2:]
    cells = np.stack(
        [metrics.box_cells(box, boxes.frame_size, grid_h, grid_w) for box in video_boxes[scored]]
    ).reshape(-1, grid_h, grid_w)
    result = metrics.attention_accuracy(attention[scored], cells)
    labels = dataset.labels.argmax(-1)[scored]  # (K,)
    result["per_class"] = {
        classes[index]: metrics.attention_accuracy(attention[scored][labels == index], cells[labels == index])
        for index in np.unique(labels)
    }
    return result


def attention_accuracy(
    model: nn.Module, dataset: AVESplit, boxes: ObjectBoxes, classes: tuple[str, ...], device: torch.device
) -> dict[str, Any] | None:
    """score_attention of the model's own maps; None for a model without spatial attention."""
    attention = collect_attention(model, dataset, device)
    return None if attention is None else score_attention(attention, dataset, boxes, classes)
