"""Reader for a directory in the layout of the official AVE release, and its torch Datasets.

Cheap to open: the constructor reads only the small label files, so the metadata works
without the multi-GB feature files; feature files are checked when a split is requested, and
only that split's rows are loaded, once, as float32.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from avel.common.classes import AVE_CLASSES, background_index, read_categories
from avel.common.config import MODALITIES, TASKS, check_choice
from avel.data.annotations import (
    Annotation,
    check_labels_against_annotations,
    derive_labels,
    read_annotations,
)
from avel.data.layout import (
    ANNOTATIONS_FILE,
    AUDIO_FILE,
    BACKGROUND_AUDIO_FILE,
    BACKGROUND_FILES,
    BACKGROUND_LABELS_FILE,
    BACKGROUND_VISUAL_FILE,
    CATEGORIES_FILE,
    EVENT_MASK_FILE,
    LABELS_FILE,
    SPLITS,
    VIDEO_LABELS_FILE,
    VISUAL_FILE,
    AVEFormatError,
    check_binary,
    check_one_hot,
    check_shape,
    h5_shape,
    order_file,
    read_h5,
    read_order,
    read_rows,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeatureDims:
    """Feature sizes read from the files (AVE: T=10, C_a=128, C_v=512, 7x7 grid)."""

    num_segments: int  # T
    audio_dim: int  # C_a
    visual_dim: int  # C_v
    grid_h: int  # H
    grid_w: int  # W


class AVESplit(Dataset):
    """One split held in memory as float32 arrays; item i is video `rows[i]` of the files.

    Public arrays (first axis = item): audio (N, T, C_a), visual (N, T, H, W, C_v), labels
    (N, T, C) one-hot, event (N, T) CML relevance y^r, video_labels (N, C), rows (N,) int64 where
    background-only extra videos get -1 - k (k = their row in the *_noisy.h5 files).
    """

    def __init__(
        self,
        *,
        audio: np.ndarray,
        visual: np.ndarray,
        labels: np.ndarray,
        event: np.ndarray,
        video_labels: np.ndarray,
        rows: np.ndarray,
    ) -> None:
        arrays = {
            "audio": audio,
            "visual": visual,
            "labels": labels,
            "event": event,
            "video_labels": video_labels,
        }
        for name, array in arrays.items():
            if len(array) != len(rows):
                raise ValueError(f"AVESplit: {name} has {len(array)} items, expected {len(rows)} (len(rows))")
        # asarray: no copy for float32 input (the caller's preallocated feature arrays).
        self.audio = np.asarray(audio, dtype=np.float32)
        self.visual = np.asarray(visual, dtype=np.float32)
        self.labels = np.asarray(labels, dtype=np.float32)
        self.event = np.asarray(event, dtype=np.float32)
        self.video_labels = np.asarray(video_labels, dtype=np.float32)
        self.rows = np.asarray(rows, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        """One video: tensors share memory with the split's arrays (the default collate copies)."""
        return {
            "audio": torch.from_numpy(self.audio[i]),  # (T, C_a)
            "visual": torch.from_numpy(self.visual[i]),  # (T, H, W, C_v)
            "labels": torch.from_numpy(self.labels[i]),  # (T, C)
            "event": torch.from_numpy(self.event[i]),  # (T,)
            "video_label": torch.from_numpy(self.video_labels[i]),  # (C,)
            "index": torch.tensor(self.rows[i], dtype=torch.int64),  # ()
        }


class AVEDirectory:
    """A directory in the AVE layout (see docs/ave-format.md); row i of every h5 file = video i."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise AVEFormatError(f"{self.root}: expected an AVE dataset directory, found none")
        categories = self.root / CATEGORIES_FILE
        try:
            self.classes: tuple[str, ...] = (
                read_categories(categories) if categories.is_file() else AVE_CLASSES
            )
        except ValueError as err:
            raise AVEFormatError(str(err)) from err
        num_classes = len(self.classes)
        # labels_closs.h5 fixes N and T; mil_labels.h5 must agree with it and with the classes.
        self._event_mask = read_h5(self.root / EVENT_MASK_FILE, (None, None))  # (N, T)
        check_binary(self.root / EVENT_MASK_FILE, self._event_mask)
        self.num_videos: int = len(self._event_mask)
        self._num_segments = self._event_mask.shape[1]
        mil_path = self.root / VIDEO_LABELS_FILE
        mil_shape = h5_shape(mil_path)
        if len(mil_shape) == 2 and mil_shape[1] != num_classes:
            raise AVEFormatError(
                f"{mil_path}: expected {num_classes} classes "
                f"({'categories.txt + background' if categories.is_file() else 'AVE default'}), "
                f"found {mil_shape[1]}"
            )
        self._video_labels = read_h5(mil_path, (self.num_videos, num_classes))  # (N, C)
        check_one_hot(mil_path, self._video_labels)

    def __repr__(self) -> str:
        return f"AVEDirectory({str(self.root)!r}, videos={self.num_videos}, classes={len(self.classes)})"

    @cached_property
    def dims(self) -> FeatureDims:
        """Feature sizes from the headers of audio_feature.h5 and visual_feature.h5 (no data read)."""
        audio_path, visual_path = self.root / AUDIO_FILE, self.root / VISUAL_FILE
        audio_shape = h5_shape(audio_path)
        why = f"N, T from {EVENT_MASK_FILE}"
        check_shape(audio_path, audio_shape, (self.num_videos, self._num_segments, None), why)
        visual_shape = h5_shape(visual_path)
        check_shape(visual_path, visual_shape, (self.num_videos, self._num_segments, None, None, None), why)
        _, num_segments, audio_dim = audio_shape
        _, _, grid_h, grid_w, visual_dim = visual_shape
        return FeatureDims(num_segments, audio_dim, visual_dim, grid_h, grid_w)

    def labels(self) -> np.ndarray:
        """Per-second one-hot labels [N, T, C]: labels.h5 when present, else derived."""
        path = self.root / LABELS_FILE
        if not path.is_file():
            logger.debug("%s absent: deriving it from %s and %s", path, EVENT_MASK_FILE, VIDEO_LABELS_FILE)
            return derive_labels(self._event_mask, self._video_labels)
        labels = read_h5(path, (self.num_videos, self._num_segments, len(self.classes)))
        check_one_hot(path, labels)
        return labels

    def event_mask(self) -> np.ndarray:
        """[N, T] float32, 1 = audio-visual event second (labels_closs.h5)."""
        return self._event_mask.copy()

    def video_labels(self) -> np.ndarray:
        """[N, C] float32 one-hot video class (mil_labels.h5)."""
        return self._video_labels.copy()

    def annotations(self) -> list[Annotation]:
        """The rows of Annotations.txt (row i = video i)."""
        return read_annotations(self.root / ANNOTATIONS_FILE)

    def check_annotations(self) -> list[str]:
        """Mismatches between `labels()` and Annotations.txt; empty = every row agrees."""
        return check_labels_against_annotations(self.labels(), self.annotations(), self.classes)

    def order(self, split: str, task: str, match: bool | None = None) -> np.ndarray:
        """Row indices of a split; task "cml" uses the separate *_order_match.h5 split, and so
        does any task with `match=True` (an SEL init for CML that never saw its test rows)."""
        check_choice("split", split, SPLITS)
        check_choice("task", task, TASKS)
        match = task == "cml" if match is None else match
        return read_order(self.root / order_file(split, match=match), self.num_videos)

    def cml_test_overlap(self, rows: Sequence[int] | np.ndarray) -> int:
        """How many of `rows` are CML test rows (test_order_match): a model trained on them has
        seen the videos a CML model is tested on."""
        return len(set(self.order("test", "cml").tolist()) & set(np.asarray(rows).tolist()))

    def has_background_videos(self) -> bool:
        """True when all three files of the background-only set (*_noisy.h5) exist."""
        return all((self.root / name).is_file() for name in BACKGROUND_FILES)

    def dataset(
        self,
        split: str,
        task: str,
        *,
        background: bool = True,
        modalities: str = "both",
        match: bool | None = None,
    ) -> AVESplit:
        """Load a split into memory; WSEL train appends the background-only videos.

        `background=False` leaves them out (TrainConfig.weak_background). `modalities` "audio" or
        "visual" zeroes the other modality (TrainConfig.modalities: single-modality controls).
        `match` picks the order files as in `order`.
        """
        check_choice("modalities", modalities, MODALITIES)
        rows = self.order(split, task, match)
        dims = self.dims
        wants_background = task == "wsel" and split == "train" and background
        background_labels = self._background_labels() if wants_background else None  # (M, C) or None
        extra = 0 if background_labels is None else len(background_labels)
        total = len(rows) + extra
        audio = np.empty((total, dims.num_segments, dims.audio_dim), dtype=np.float32)  # (N, T, C_a)
        visual = np.empty(  # (N, T, H, W, C_v)
            (total, dims.num_segments, dims.grid_h, dims.grid_w, dims.visual_dim), dtype=np.float32
        )
        if modalities != "visual":
            read_rows(self.root / AUDIO_FILE, rows, audio[: len(rows)])
        if modalities != "audio":
            read_rows(self.root / VISUAL_FILE, rows, visual[: len(rows)])
        labels = self.labels()[rows]
        event = self._event_mask[rows]
        video_labels = self._video_labels[rows]
        if background_labels is not None:
            extra_rows = np.arange(extra)
            if modalities != "visual":
                read_rows(self.root / BACKGROUND_AUDIO_FILE, extra_rows, audio[len(rows) :])
            if modalities != "audio":
                read_rows(self.root / BACKGROUND_VISUAL_FILE, extra_rows, visual[len(rows) :])
            per_second = np.repeat(background_labels[:, None, :], dims.num_segments, axis=1)  # (M, T, C)
            labels = np.concatenate([labels, per_second])
            event = np.concatenate([event, np.zeros((extra, dims.num_segments), dtype=np.float32)])
            video_labels = np.concatenate([video_labels, background_labels])
            rows = np.concatenate([rows, -1 - extra_rows])
        if modalities == "visual":
            audio.fill(0.0)
        elif modalities == "audio":
            visual.fill(0.0)
        logger.info(
            "loaded %s/%s from %s: %d videos (%d background-only), modalities: %s",
            split,
            task,
            self.root,
            total,
            extra,
            modalities,
        )
        return AVESplit(
            audio=audio, visual=visual, labels=labels, event=event, video_labels=video_labels, rows=rows
        )

    def _background_labels(self) -> np.ndarray | None:
        """labels_noisy.h5 [M, C] after checking the three background files agree; None if any is absent."""
        missing = [name for name in BACKGROUND_FILES if not (self.root / name).is_file()]
        if missing:
            logger.warning(
                "%s: %s missing; WSEL trains without the background-only videos",
                self.root,
                ", ".join(missing),
            )
            return None
        labels_path = self.root / BACKGROUND_LABELS_FILE
        labels = read_h5(labels_path, (None, len(self.classes)))  # (M, C)
        check_one_hot(labels_path, labels)
        if not (labels.argmax(axis=1) == background_index(self.classes)).all():
            raise AVEFormatError(
                f"{labels_path}: expected every video labelled background, found event classes"
            )
        dims, count = self.dims, len(labels)
        why = f"M from {BACKGROUND_LABELS_FILE}, sizes from {AUDIO_FILE}/{VISUAL_FILE}"
        audio_path, visual_path = self.root / BACKGROUND_AUDIO_FILE, self.root / BACKGROUND_VISUAL_FILE
        check_shape(audio_path, h5_shape(audio_path), (count, dims.num_segments, dims.audio_dim), why)
        check_shape(
            visual_path,
            h5_shape(visual_path),
            (count, dims.num_segments, dims.grid_h, dims.grid_w, dims.visual_dim),
            why,
        )
        return labels
