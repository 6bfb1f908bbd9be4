"""The official AVE file layout: file names, h5 keys, and checked access to its h5 files.

Every check raises `AVEFormatError` naming the file (or argument) and what was expected vs
found, so a broken dataset fails at load time with a message instead of deep inside training.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

DATASET_KEY = "avadataset"  # key of every feature/label file in the AVE release
ORDER_KEY = "order"  # key of the *_order.h5 files
SPLITS = ("train", "val", "test")

AUDIO_FILE = "audio_feature.h5"  # [N, T, C_a]
VISUAL_FILE = "visual_feature.h5"  # [N, T, H, W, C_v]
LABELS_FILE = "labels.h5"  # [N, T, C] one-hot per second
EVENT_MASK_FILE = "labels_closs.h5"  # [N, T] 1 = audio-visual event second
VIDEO_LABELS_FILE = "mil_labels.h5"  # [N, C] one-hot video label (weak supervision)
BACKGROUND_LABELS_FILE = "labels_noisy.h5"  # [M, C] background-only videos
BACKGROUND_AUDIO_FILE = "audio_feature_noisy.h5"  # [M, T, C_a]
BACKGROUND_VISUAL_FILE = "visual_feature_noisy.h5"  # [M, T, H, W, C_v]
BACKGROUND_FILES = (BACKGROUND_LABELS_FILE, BACKGROUND_AUDIO_FILE, BACKGROUND_VISUAL_FILE)
CATEGORIES_FILE = "categories.txt"
ANNOTATIONS_FILE = "Annotations.txt"

# Rows read from a feature file per h5 call: bounds the temporary buffer (AVE visual rows are
# ~1 MB each) while keeping the number of HDF5 selections small.
READ_BLOCK_BYTES = 64 * 2**20


class AVEFormatError(ValueError):
    """A file (or array) does not follow the AVE layout; the message names it and the problem."""


def order_file(split: str, match: bool) -> str:
    """`train_order.h5` (localization split) or `train_order_match.h5` (the separate CML split)."""
    return f"{split}_order_match.h5" if match else f"{split}_order.h5"


def check_shape(
    where: str | Path, found: tuple[int, ...], expected: tuple[int | None, ...], why: str = ""
) -> None:
    """Raise unless `found` matches `expected` (None = any size); `where` names the file/argument.

    `why` says where the expected sizes come from (e.g. "N, T from labels_closs.h5").
    """
    ok = len(found) == len(expected) and all(
        e is None or e == f for f, e in zip(found, expected, strict=False)
    )
    if not ok:
        shown = "[" + ", ".join("*" if e is None else str(e) for e in expected) + "]"
        reason = f" ({why})" if why else ""
        raise AVEFormatError(f"{where}: expected shape {shown}{reason}, found {list(found)}")


def check_finite(where: str | Path, array: np.ndarray, row_ids: np.ndarray | None = None) -> None:
    """Raise on NaN/inf, naming the first bad row (its file row `row_ids[i]` for partial reads).

    Checked in row blocks so a multi-GB feature array needs no array-sized temporary.
    """
    rows = array.reshape(len(array), -1)  # (N, everything else)
    block = max(1, READ_BLOCK_BYTES // max(1, rows.shape[1] * rows.itemsize))
    for lo in range(0, len(rows), block):
        bad = ~np.isfinite(rows[lo : lo + block]).all(axis=1)  # (block,)
        if bad.any():
            first = lo + int(bad.argmax())
            row = first if row_ids is None else int(row_ids[first])
            raise AVEFormatError(f"{where}: expected finite values, found NaN/inf in row {row}")


def check_binary(where: str | Path, array: np.ndarray) -> None:
    """Raise unless every value is 0 or 1 (masks and one-hot labels)."""
    check_finite(where, array)
    values = np.unique(array)
    if not np.isin(values, (0, 1)).all():
        raise AVEFormatError(
            f"{where}: expected only 0/1 values, found {values[~np.isin(values, (0, 1))][:5]}"
        )


def check_one_hot(where: str | Path, array: np.ndarray) -> None:
    """Raise unless every vector along the last axis is one-hot (exactly one 1)."""
    check_binary(where, array)
    sums = array.sum(axis=-1)
    if array.size and not (sums == 1).all():
        bad = np.argwhere(sums != 1)[0]
        raise AVEFormatError(
            f"{where}: expected one-hot vectors on the last axis, found {int(sums[tuple(bad)])} ones "
            f"at index {bad.tolist()}"
        )


@contextmanager
def open_h5(path: Path, key: str) -> Iterator[h5py.Dataset]:
    """Open `path[key]`, turning a missing file, a non-HDF5 file or a wrong key into AVEFormatError."""
    if not path.is_file():
        raise AVEFormatError(f"{path}: file not found")
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise AVEFormatError(f"{path}: cannot open as HDF5 ({err})") from err
    with handle:
        if key not in handle or not isinstance(handle[key], h5py.Dataset):
            raise AVEFormatError(f"{path}: expected dataset key {key!r}, found keys {sorted(handle.keys())}")
        dataset = handle[key]
        if not np.issubdtype(dataset.dtype, np.number):
            raise AVEFormatError(f"{path}: expected a numeric dataset, found dtype {dataset.dtype}")
        yield dataset


def h5_shape(path: Path, key: str = DATASET_KEY) -> tuple[int, ...]:
    """Shape of a dataset from its header only (nothing is read)."""
    with open_h5(path, key) as dataset:
        return tuple(dataset.shape)


def read_h5(path: Path, expected: tuple[int | None, ...], key: str = DATASET_KEY) -> np.ndarray:
    """Read a whole (small) dataset as float32 after checking its shape and finiteness."""
    with open_h5(path, key) as dataset:
        check_shape(path, tuple(dataset.shape), expected)
        array = dataset.astype(np.float32)[()]
    check_finite(path, array)
    return array


def read_order(path: Path, num_videos: int) -> np.ndarray:
    """Read an order file: a 1-D integer array of row indices in [0, num_videos)."""
    with open_h5(path, ORDER_KEY) as dataset:
        check_shape(path, tuple(dataset.shape), (None,))
        if not np.issubdtype(dataset.dtype, np.integer):
            raise AVEFormatError(f"{path}: expected integer row indices, found dtype {dataset.dtype}")
        rows = dataset[()].astype(np.int64)
    outside = (rows < 0) | (rows >= num_videos)
    if outside.any():
        raise AVEFormatError(
            f"{path}: expected row indices in [0, {num_videos}), found {rows[outside][:5].tolist()}"
        )
    return rows


def read_rows(
    path: Path,
    rows: np.ndarray,
    out: np.ndarray,
    key: str = DATASET_KEY,
    block_bytes: int = READ_BLOCK_BYTES,
) -> None:
    """Fill `out[i] = file[rows[i]]` (float32) reading only the requested rows.

    h5py fancy indexing needs strictly increasing indices, so the unique rows are read in
    sorted blocks and scattered back to the requested order; `out` is preallocated by the
    caller so a split never exists twice in memory (AVE's visual file is ~4 GB).
    """
    with open_h5(path, key) as dataset:
        check_shape(path, tuple(dataset.shape), (None, *out.shape[1:]))
        unique, inverse = np.unique(rows, return_inverse=True)  # unique is sorted
        if len(unique) and (unique[0] < 0 or unique[-1] >= len(dataset)):
            raise AVEFormatError(
                f"{path}: expected rows in [0, {len(dataset)}), found {unique[[0, -1]].tolist()}"
            )
        by_unique = np.argsort(inverse, kind="stable")  # positions in `out`, grouped by unique row
        starts = np.searchsorted(inverse[by_unique], np.arange(len(unique) + 1))  # group bounds
        row_bytes = max(1, int(np.prod(out.shape[1:])) * 4)
        block = max(1, block_bytes // row_bytes)
        as_float32 = dataset.astype(np.float32)
        for lo in range(0, len(unique), block):
            hi = min(lo + block, len(unique))
            values = as_float32[unique[lo:hi].tolist()]  # (hi - lo, ...) in file order
            check_finite(path, values, row_ids=unique[lo:hi])
            targets = by_unique[starts[lo] : starts[hi]]  # every out position fed by this block
            out[targets] = values[inverse[targets] - lo]
