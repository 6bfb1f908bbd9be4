"""The real media package (`--media`; docs/benchmark.md): its manifest, usable classes and file loading.

The manifest decides everything the builder may use: `ave_class`, `modality` and `split` of each
photo and recording, plus sizes and durations from manifest_details.csv. A class is usable only
when it has both photos and recordings in every split, so no split lacks a class that another has.
"""

from __future__ import annotations

import csv
import logging
import wave
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from avel.common.classes import AVE_EVENTS
from avel.data.layout import SPLITS

log = logging.getLogger(__name__)

AMBIENT = "_ambient"  # manifest class of the non-AVE background recordings
DISTRACTOR = "_distractor"  # manifest class of the non-AVE backdrop/distractor photos
# Sources whose licence is unknown or grants nothing (LICENSES.md; LFW's news photos are research-use,
# copyright with the photographers): never redistributed in assets/.
UNKNOWN_LICENCE_SOURCES = ("Kaggle-music-instruments", "GenderFaces", "AnimalSound-SasmazTek", "LFW")


@dataclass(frozen=True)
class MediaItem:
    """One manifest row: a photo or a recording."""

    path: str  # relative to the media root
    modality: str  # "audio" or "image"
    ave_class: str  # an AVE class name, AMBIENT or DISTRACTOR
    split: str
    source_dataset: str
    license: str
    duration_s: float  # audio only (0.0 for images)
    width: int  # images only (0 for audio)
    height: int


class MediaCatalog:
    """The manifest, indexed by (class, modality, split)."""

    def __init__(self, root: Path, items: list[MediaItem]) -> None:
        self.root = Path(root)
        self.items = {item.path: item for item in items}
        self._pools: dict[tuple[str, str, str], list[MediaItem]] = defaultdict(list)
        for item in items:
            self._pools[(item.ave_class, item.modality, item.split)].append(item)

    @classmethod
    def read(cls, root: Path, exclude_sources: tuple[str, ...] = ()) -> MediaCatalog:
        """Read manifest.csv + manifest_details.csv under `root`, dropping `exclude_sources`."""
        root = Path(root)
        manifest, details = root / "manifest.csv", root / "manifest_details.csv"
        for path in (manifest, details):
            if not path.is_file():
                raise FileNotFoundError(f"media package: {path} not found (expected the media manifest)")
        with details.open(newline="", encoding="utf-8") as f:
            extra = {row["path"]: row for row in csv.DictReader(f)}
        items = []
        with manifest.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row["source_dataset"] in exclude_sources:
                    continue
                if row["split"] not in SPLITS:
                    raise ValueError(f"{manifest}: {row['path']} has split {row['split']!r}; valid: {SPLITS}")
                more = extra.get(row["path"])
                if more is None:
                    raise ValueError(f"{details}: no row for {row['path']} (listed in {manifest.name})")
                items.append(
                    MediaItem(
                        path=row["path"],
                        modality=row["modality"],
                        ave_class=row["ave_class"],
                        split=row["split"],
                        source_dataset=row["source_dataset"],
                        license=row["license"],
                        duration_s=float(more["duration_s"] or 0.0),
                        width=int(more["width"] or 0),
                        height=int(more["height"] or 0),
                    )
                )
        log.info("media catalog: %d files from %s", len(items), root)
        return cls(root, items)

    def pool(self, ave_class: str, modality: str, split: str) -> list[MediaItem]:
        """Files of one class, modality and split, in manifest order."""
        return list(self._pools.get((ave_class, modality, split), []))

    def usable_classes(self, splits: tuple[str, ...] = SPLITS) -> tuple[str, ...]:
        """AVE classes with both photos and recordings in each of `splits`, in AVE index order."""
        return tuple(
            name
            for name in AVE_EVENTS
            if all(self._pools.get((name, m, s)) for m in ("audio", "image") for s in splits)
        )

    def path(self, rel: str) -> Path:
        return self.root / rel


def load_wav(path: Path, sample_rate: int) -> np.ndarray:
    """A 16-bit PCM mono WAV as float32 in [-1, 1]; the media package has no other format."""
    with wave.open(str(path), "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2 or w.getframerate() != sample_rate:
            raise ValueError(
                f"{path}: expected mono 16-bit PCM at {sample_rate} Hz, got {w.getnchannels()} channel(s), "
                f"{8 * w.getsampwidth()}-bit, {w.getframerate()} Hz"
            )
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0


def load_image(path: Path) -> np.ndarray:
    """A photo as (H, W, 3) uint8 RGB."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"{path}: not a readable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
