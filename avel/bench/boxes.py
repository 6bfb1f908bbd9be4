"""The event object's box per AVE row and second, read from a composite benchmark's manifest.

Rows of the AVE layout are the manifest's event and open-set videos in manifest order
(write_features_and_labels; the background-only videos live apart);
the boxes are in pixels of the rendered square frame, which the backbones' grid covers whole
(avel/bench/scene.py draws the object last, so its box is where its pixels are).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from avel.bench.plan import BACKGROUND
from avel.bench.stats import MANIFEST
from avel.training.attention import ObjectBoxes


def object_boxes(manifest: dict) -> ObjectBoxes:
    """ObjectBoxes of a manifest: (N_rows, T, 4), NaN in the seconds where the object is hidden."""
    # an open-set video's object is boxed too, but its seconds are background: none is scored
    rows = [video for video in manifest["videos"] if video["kind"] != BACKGROUND]
    seconds = int(manifest["config"]["seconds"])
    boxes = np.full((len(rows), seconds, 4), np.nan)
    for row, video in enumerate(rows):
        for second, box in enumerate(video["bbox"]):
            if box is not None:
                boxes[row, second] = box
    return ObjectBoxes(boxes=boxes, frame_size=float(manifest["config"]["frame_size"]))


def read_object_boxes(data_dir: str | Path) -> ObjectBoxes | None:
    """The boxes of a composite benchmark folder; None for data without a manifest (e.g. AVE)."""
    path = Path(data_dir) / MANIFEST
    if not path.is_file():
        return None
    try:
        return object_boxes(json.loads(path.read_text(encoding="utf-8")))
    except (KeyError, TypeError, ValueError) as error:
        where = f"{Path(data_dir).name}/{MANIFEST}"
        raise ValueError(f"{where}: not a composite benchmark manifest ({error})") from error
