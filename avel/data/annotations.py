"""AVE's `Annotations.txt` and the per-second labels it implies.

The release ships `labels_closs.h5` (event seconds) and `mil_labels.h5` (video class) but not
always `labels.h5`; `derive_labels` rebuilds it and `check_labels_against_annotations` proves
the result against the human annotations (row i of every h5 file = line i of the text file).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avel.common.classes import background_index
from avel.data.layout import AVEFormatError, check_binary, check_one_hot

ANNOTATION_FORMAT = "Category&YouTubeID&Quality&StartSec&EndSec"


@dataclass(frozen=True)
class Annotation:
    """One AVE row: the event covers the whole seconds [start, end) of the clip."""

    category: str
    video_id: str
    quality: str
    start: int
    end: int

    def line(self) -> str:
        """The row as written in Annotations.txt."""
        return f"{self.category}&{self.video_id}&{self.quality}&{self.start}&{self.end}"


def read_annotations(path: Path) -> list[Annotation]:
    """Parse an Annotations.txt-style file (one row per non-empty line)."""
    path = Path(path)
    if not path.is_file():
        raise AVEFormatError(f"{path}: file not found")
    annotations = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        # rsplit: the last four fields never contain '&', a category name might.
        fields = line.strip().rsplit("&", 4)
        try:
            category, video_id, quality, start, end = fields
            annotation = Annotation(category, video_id, quality, int(start), int(end))
        except ValueError:
            raise AVEFormatError(f"{path}:{number}: expected {ANNOTATION_FORMAT!r}, found {line!r}") from None
        if not 0 <= annotation.start <= annotation.end:
            raise AVEFormatError(f"{path}:{number}: expected 0 <= StartSec <= EndSec, found {line!r}")
        annotations.append(annotation)
    return annotations


def write_annotations(path: Path, annotations: list[Annotation]) -> None:
    """Write rows in the Annotations.txt format read by `read_annotations`."""
    Path(path).write_text("".join(a.line() + "\n" for a in annotations), encoding="utf-8")


def derive_labels(event_mask: np.ndarray, video_labels: np.ndarray) -> np.ndarray:
    """Per-second one-hot labels [N, T, C]: the video's class where event_mask = 1, else background.

    Background is the last class index (AVE: 28). This is how AVE's labels.h5 relates to
    labels_closs.h5 and mil_labels.h5 (one event class per row).
    """
    if event_mask.ndim != 2 or video_labels.ndim != 2 or len(event_mask) != len(video_labels):
        raise AVEFormatError(
            f"derive_labels: expected event_mask [N, T] and video_labels [N, C] with the same N, "
            f"found {list(event_mask.shape)} and {list(video_labels.shape)}"
        )
    check_binary("derive_labels(event_mask)", event_mask)
    check_one_hot("derive_labels(video_labels)", video_labels)
    num_classes = video_labels.shape[1]
    video_class = video_labels.argmax(axis=1)  # (N,)
    per_second = np.where(event_mask > 0.5, video_class[:, None], num_classes - 1)  # (N, T)
    return np.eye(num_classes, dtype=np.float32)[per_second]  # (N, T, C)


def annotation_classes(
    annotations: list[Annotation], num_segments: int, classes: tuple[str, ...]
) -> tuple[np.ndarray, list[str]]:
    """Class index per second [N, T] implied by the annotations, plus problems found on the way.

    Problems are an unknown category or a span past the clip's end; such rows keep what
    could be derived so the caller still gets a full array.
    """
    background = background_index(classes)
    per_second = np.full((len(annotations), num_segments), background, dtype=np.int64)  # (N, T)
    problems = []
    for row, annotation in enumerate(annotations):
        if annotation.category not in classes:
            problems.append(f"row {row} ({annotation.video_id}): unknown category {annotation.category!r}")
            continue
        if annotation.end > num_segments:
            problems.append(
                f"row {row} ({annotation.video_id}): span [{annotation.start}, {annotation.end}) "
                f"exceeds the {num_segments} segments"
            )
        per_second[row, annotation.start : annotation.end] = classes.index(annotation.category)
    return per_second, problems


def check_labels_against_annotations(
    labels: np.ndarray, annotations: list[Annotation], classes: tuple[str, ...]
) -> list[str]:
    """Compare per-second labels [N, T, C] with the annotation spans; returns mismatch messages.

    An empty list means every row agrees: the annotated class on [start, end), background on
    every other second.
    """
    if labels.ndim != 3 or labels.shape[2] != len(classes):
        return [f"labels: expected shape [N, T, {len(classes)}], found {list(labels.shape)}"]
    if len(labels) != len(annotations):
        return [f"labels have {len(labels)} rows, annotations have {len(annotations)}"]
    expected, problems = annotation_classes(annotations, labels.shape[1], classes)
    found = labels.argmax(axis=2)  # (N, T)
    for row in np.flatnonzero((expected != found).any(axis=1)):
        problems.append(
            f"row {row} ({annotations[row].line()}): expected classes {expected[row].tolist()}, "
            f"labels have {found[row].tolist()}"
        )
    return problems
