"""The frames of a composite video: a real photo as backdrop, drifting distractors, the event object,
then the camera (zoom, pan, shake) and its degradations (blur, resolution, exposure, colour, noise).

Photos are resized once and only translated per frame, which keeps a 10-s 256x256 16-fps clip
to a few tens of milliseconds before the camera. The event object is drawn last, so it is never
occluded, and the camera moves every layer alike, so its box in the manifest (Placement.
boxes_per_second with the plan's Camera) is exactly where its pixels are.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from avel.bench.catalog import load_image
from avel.bench.plan import Camera, Look, Placement, VideoPlan
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
        if layer.fill:
            photo = backdrop(media_root / layer.image, cfg.frame_size)
        else:
            photo = _resize(load_image(media_root / layer.image), layer.size)  # (h, w, 3)
        w, h = layer.size
        for f in layer.frame_range(cfg.fps):
            x, y = layer.top_left(f, cfg.fps)
            frames[f, y : y + h, x : x + w] = photo
    grade = colour_table(plan.look)
    noise = sensor_noise(plan.look, frames.shape[1:])
    for f in range(len(frames)):
        frame = capture(film(frames[f], plan.camera, f, len(frames)), plan.look)
        frames[f] = expose(
            frame, plan.look.saturation, grade, None if noise is None else noise[f % len(noise)]
        )
    return frames


def film(frame: np.ndarray, camera: Camera, index: int, frames: int) -> np.ndarray:
    """The composed picture as the camera frames it on frame `index` (Camera.transform)."""
    if camera.still:
        return frame
    zoom, dx, dy = camera.transform(index, frames)
    c = camera.side / 2
    matrix = np.float32([[zoom, 0, c * (1 - zoom) + dx], [0, zoom, c * (1 - zoom) + dy]])
    side = frame.shape[1], frame.shape[0]
    return cv2.warpAffine(frame, matrix, side, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def capture(frame: np.ndarray, look: Look) -> np.ndarray:
    """The optics of a capture: a lower resolution (upscaled back) and lens blur."""
    h, w = frame.shape[:2]
    if look.capture_scale < 1:
        small = (max(8, round(w * look.capture_scale)), max(8, round(h * look.capture_scale)))
        frame = cv2.resize(cv2.resize(frame, small, interpolation=cv2.INTER_AREA), (w, h))
    if look.blur_sigma > 0.1:
        frame = cv2.GaussianBlur(frame, (0, 0), look.blur_sigma)
    return frame


def colour_table(look: Look) -> np.ndarray:
    """(256, 1, 3) uint8 lookup table: contrast about mid-grey, then brightness and tint per channel."""
    levels = np.arange(256, dtype=np.float32)[:, None]  # (256, 1)
    gains = look.brightness * np.float32(look.tint)[None]  # (1, 3)
    table = ((levels - 128.0) * look.contrast + 128.0) * gains  # (256, 3)
    return np.clip(table + 0.5, 0, 255).astype(np.uint8)[:, None, :]


NOISE_FRAMES = 7  # sensor noise frames drawn per video and cycled (drawing 160 costs seconds)


def sensor_noise(look: Look, shape: tuple[int, ...]) -> np.ndarray | None:
    """(NOISE_FRAMES, H, W, 3) int16 Gaussian noise of `noise_sigma` grey levels, or None."""
    if look.noise_sigma <= 0:
        return None
    rng = np.random.default_rng(look.noise_seed)
    return np.rint(rng.standard_normal((NOISE_FRAMES, *shape), dtype=np.float32) * look.noise_sigma).astype(
        np.int16
    )


def expose(frame: np.ndarray, saturation: float, table: np.ndarray, noise: np.ndarray | None) -> np.ndarray:
    """Saturation (a blend with the frame's grey), the colour table, then sensor noise; uint8."""
    if saturation != 1:
        grey = cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        frame = cv2.addWeighted(frame, saturation, grey, 1 - saturation, 0)
    frame = cv2.LUT(frame, table)
    if noise is not None:
        frame = np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return frame
