"""The frames of a composite video: a real photo as backdrop, drifting distractors, the event object.

Photos are resized once and only translated per frame, which keeps a 10-s 256x256 16-fps clip
to a few tens of milliseconds. The event object is drawn last, so it is never occluded and its
box in the manifest is exactly where its pixels are.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from avel.bench.catalog import load_image
from avel.bench.plan import Placement, VideoPlan
from avel.common.config import CompositeConfig


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to (width, height): area averaging when shrinking, bicubic when enlarging."""
    shrink = size[0] * size[1] < image.shape[0] * image.shape[1]
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def backdrop(path: Path, side: int) -> np.ndarray:
    """The photo's centre square scaled to (side, side, 3): a scene that fills the frame."""
    image = load_image(path)
    h, w = image.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return _resize(image[top : top + s, left : left + s], (side, side))


def render_frames(plan: VideoPlan, media_root: Path, cfg: CompositeConfig) -> np.ndarray:
    """All frames of the video, (seconds * fps, frame_size, frame_size, 3) uint8 RGB."""
    frames = np.empty((cfg.frames_per_video, cfg.frame_size, cfg.frame_size, 3), dtype=np.uint8)
    frames[:] = backdrop(media_root / plan.backdrop, cfg.frame_size)
    layers: list[Placement] = [*plan.distractors, plan.event_object]  # drawn in this order
    for layer in layers:
        photo = _resize(load_image(media_root / layer.image), layer.size)  # (h, w, 3)
        w, h = layer.size
        for f in layer.frame_range(cfg.fps):
            x, y = layer.top_left(f, cfg.fps)
            frames[f, y : y + h, x : x + w] = photo
    return frames
