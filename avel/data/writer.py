"""Write arrays in the official AVE layout, so anything `AVEDirectory` reads can be produced here.

Used by feature extraction, the composite benchmark builder and the tests. The writer checks its
arguments and that the annotations it writes agree with the labels, so a written directory
always passes `AVEDirectory.check_annotations()`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import h5py
import numpy as np

from avel.common.classes import AVE_CLASSES, background_index
from avel.data.annotations import Annotation, check_labels_against_annotations, write_annotations
from avel.data.layout import (
    ANNOTATIONS_FILE,
    AUDIO_FILE,
    BACKGROUND_AUDIO_FILE,
    BACKGROUND_FILES,
    BACKGROUND_LABELS_FILE,
    BACKGROUND_VISUAL_FILE,
    CATEGORIES_FILE,
    DATASET_KEY,
    EVENT_MASK_FILE,
    LABELS_FILE,
    ORDER_KEY,
    SPLITS,
    VIDEO_LABELS_FILE,
    VISUAL_FILE,
    check_binary,
    check_finite,
    check_shape,
    order_file,
)

logger = logging.getLogger(__name__)


def _write_h5(path: Path, array: np.ndarray, key: str = DATASET_KEY) -> None:
    """One dataset per file under AVE's key, as in the official release."""
    with h5py.File(path, "w") as handle:
        handle.create_dataset(key, data=array)


def _span_annotations(
    event_class: np.ndarray, event_mask: np.ndarray, classes: tuple[str, ...]
) -> list[Annotation]:
    """One annotation per row from its event span; AVE rows hold one contiguous event."""
    annotations = []
    for row, (label, mask) in enumerate(zip(event_class, event_mask, strict=True)):
        seconds = np.flatnonzero(mask)
        start, end = (int(seconds[0]), int(seconds[-1]) + 1) if len(seconds) else (0, 0)
        if end - start != len(seconds):
            raise ValueError(
                f"event_mask row {row}: expected one contiguous event span to write Annotations.txt, "
                f"found seconds {seconds.tolist()}; pass annotations= explicitly"
            )
        annotations.append(Annotation(classes[label], f"video{row:05d}", "good", start, end))
    return annotations


def _check_orders(name: str, orders: dict[str, np.ndarray], num_videos: int) -> None:
    """Known split names, 1-D integer rows in [0, N): what `read_order` will demand."""
    for split, rows in orders.items():
        if split not in SPLITS:
            raise ValueError(f"{name}: unknown split {split!r}; valid: {', '.join(SPLITS)}")
        rows = np.asarray(rows)
        check_shape(f"{name}[{split!r}]", rows.shape, (None,))
        if not np.issubdtype(rows.dtype, np.integer) or ((rows < 0) | (rows >= num_videos)).any():
            raise ValueError(
                f"{name}[{split!r}]: expected integer row indices in [0, {num_videos}), found {rows}"
            )


def _check_features(
    audio: np.ndarray,
    visual: np.ndarray,
    background_audio: np.ndarray | None,
    background_visual: np.ndarray | None,
) -> None:
    """Shapes that agree on N and T (and on per-segment sizes with the background set), all finite."""
    check_shape("audio", audio.shape, (None, None, None))
    check_shape("visual", visual.shape, (*audio.shape[:2], None, None, None))
    if (background_audio is None) != (background_visual is None):
        raise ValueError("background_audio and background_visual: expected both or neither, found one")
    arrays = {"audio": audio, "visual": visual}
    if background_audio is not None and background_visual is not None:
        check_shape("background_audio", background_audio.shape, (None, *audio.shape[1:]))
        check_shape("background_visual", background_visual.shape, (len(background_audio), *visual.shape[1:]))
        arrays |= {"background_audio": background_audio, "background_visual": background_visual}
    for name, array in arrays.items():
        check_finite(name, array)


def _check_events(
    event_class: np.ndarray, event_mask: np.ndarray, num_videos: int, num_segments: int, num_classes: int
) -> None:
    """One class per video, a 0/1 mask per second; a background-class video has no event seconds."""
    check_shape("event_class", event_class.shape, (num_videos,))
    check_shape("event_mask", event_mask.shape, (num_videos, num_segments))
    check_binary("event_mask", event_mask)
    if (
        not np.issubdtype(event_class.dtype, np.integer)
        or ((event_class < 0) | (event_class >= num_classes)).any()
    ):
        raise ValueError(
            f"event_class: expected integers in [0, {num_classes}), found {np.unique(event_class)}"
        )
    if (event_mask[event_class == num_classes - 1] > 0).any():
        raise ValueError("event_mask: rows whose event_class is background must have no event seconds")


def write_ave_layout(
    out_dir: Path,
    *,
    audio: np.ndarray,
    visual: np.ndarray,
    event_class: np.ndarray,
    event_mask: np.ndarray,
    orders: dict[str, np.ndarray],
    match_orders: dict[str, np.ndarray] | None = None,
    background_audio: np.ndarray | None = None,
    background_visual: np.ndarray | None = None,
    annotations: list[Annotation] | None = None,
    classes: tuple[str, ...] = AVE_CLASSES,
) -> None:
    """Write a dataset in the AVE layout (features as float32, labels, orders, classes, annotations).

    audio [N, T, C_a], visual [N, T, H, W, C_v]; event_class [N] the video's class (background =
    last index allowed only with an empty event_mask row); event_mask [N, T] 0/1; orders maps
    "train"/"val"/"test" to row indices; match_orders (the CML split) defaults to orders;
    background_audio/visual [M, T, ...] are the background-only videos (both or neither);
    annotations default to one span per row with ids "video00000"...
    """
    out_dir = Path(out_dir)
    audio, visual = np.asarray(audio), np.asarray(visual)
    has_background = background_audio is not None and background_visual is not None
    if has_background:
        background_audio, background_visual = np.asarray(background_audio), np.asarray(background_visual)
    _check_features(audio, visual, background_audio, background_visual)
    num_videos, num_segments = audio.shape[:2]
    num_classes, background = len(classes), background_index(classes)
    event_class, event_mask = np.asarray(event_class), np.asarray(event_mask, dtype=np.float32)
    _check_events(event_class, event_mask, num_videos, num_segments, num_classes)
    match_orders = orders if match_orders is None else match_orders
    _check_orders("orders", orders, num_videos)
    _check_orders("match_orders", match_orders, num_videos)

    one_hot = np.eye(num_classes, dtype=np.float32)
    video_labels = one_hot[event_class]  # (N, C)
    labels = one_hot[np.where(event_mask > 0.5, event_class[:, None], background)]  # (N, T, C)
    if annotations is None:
        annotations = _span_annotations(event_class, event_mask, classes)
    problems = check_labels_against_annotations(labels, annotations, classes)
    if problems:
        raise ValueError(f"annotations disagree with event_class/event_mask: {'; '.join(problems[:3])}")

    out_dir.mkdir(parents=True, exist_ok=True)
    written = {
        AUDIO_FILE: audio.astype(np.float32, copy=False),
        VISUAL_FILE: visual.astype(np.float32, copy=False),
        LABELS_FILE: labels,
        EVENT_MASK_FILE: event_mask,
        VIDEO_LABELS_FILE: video_labels,
    }
    if has_background:
        written |= {
            BACKGROUND_LABELS_FILE: np.repeat(one_hot[background][None], len(background_audio), axis=0),
            BACKGROUND_AUDIO_FILE: background_audio.astype(np.float32, copy=False),
            BACKGROUND_VISUAL_FILE: background_visual.astype(np.float32, copy=False),
        }
    for name, array in written.items():
        _write_h5(out_dir / name, array)
    for match, split_orders in ((False, orders), (True, match_orders)):
        for split in SPLITS:
            path = out_dir / order_file(split, match)
            if split in split_orders:
                _write_h5(path, np.asarray(split_orders[split], dtype=np.int64), key=ORDER_KEY)
            else:
                path.unlink(missing_ok=True)  # a stale split from an earlier write would be read back
    if not has_background:
        for name in BACKGROUND_FILES:
            (out_dir / name).unlink(missing_ok=True)  # likewise stale background videos
    (out_dir / CATEGORIES_FILE).write_text("".join(f"{name}\n" for name in classes[:-1]), encoding="utf-8")
    write_annotations(out_dir / ANNOTATIONS_FILE, annotations)
    logger.info("wrote %d videos (%d classes, T=%d) to %s", num_videos, num_classes, num_segments, out_dir)
