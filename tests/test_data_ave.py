"""The AVE-layout reader/writer: real metadata, round trips, malformed input, WSEL/CML splits."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from avel.common.classes import AVE_CLASSES
from avel.data import (
    Annotation,
    AVEDirectory,
    AVEFormatError,
    FeatureDims,
    check_labels_against_annotations,
    derive_labels,
    read_annotations,
    write_ave_layout,
)
from avel.data.layout import read_rows

TINY_CLASSES = ("Dog", "Cat", "Background")


def _tiny_arrays(seed: int = 0) -> dict:
    """6 videos, T=4, C_a=3, 2x2 grid, C_v=2, classes Dog/Cat/Background, 2 background videos."""
    rng = np.random.default_rng(seed)
    return {
        "audio": rng.normal(size=(6, 4, 3)).astype(np.float32),
        "visual": rng.normal(size=(6, 4, 2, 2, 2)).astype(np.float32),
        "event_class": np.array([0, 1, 0, 1, 0, 1]),
        "event_mask": np.array(
            [[1, 1, 0, 0], [0, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0], [0, 0, 1, 0], [1, 0, 0, 0]]
        ),
        "orders": {"train": np.array([4, 0, 2]), "val": np.array([5]), "test": np.array([3, 1])},
        "match_orders": {"train": np.array([1, 2, 3]), "val": np.array([0]), "test": np.array([5, 4])},
        "background_audio": rng.normal(size=(2, 4, 3)),
        "background_visual": rng.normal(size=(2, 4, 2, 2, 2)),
        "classes": TINY_CLASSES,
    }


@pytest.fixture
def tiny_dir(tmp_path: Path) -> tuple[Path, dict]:
    arrays = _tiny_arrays()
    write_ave_layout(tmp_path / "tiny", **arrays)
    return tmp_path / "tiny", arrays


def _rewrite(path: Path, array: np.ndarray, key: str = "avadataset") -> None:
    with h5py.File(path, "w") as handle:
        handle.create_dataset(key, data=array)


def _read(path: Path, key: str = "avadataset") -> np.ndarray:
    with h5py.File(path, "r") as handle:
        return handle[key][()]


# ---------------------------------------------------------------- real AVE metadata


def test_real_metadata_splits(shared_ave_dir: Path) -> None:
    data = AVEDirectory(shared_ave_dir)
    assert data.num_videos == 4143
    assert data.classes == AVE_CLASSES
    for task in ("sel", "cml"):
        orders = [data.order(split, task) for split in ("train", "val", "test")]
        assert [len(order) for order in orders] == [3339, 402, 402]
        assert np.array_equal(np.sort(np.concatenate(orders)), np.arange(4143))  # a partition
    # the CML split is separate: 314 of its test rows are localization training rows
    assert len(np.intersect1d(data.order("test", "cml"), data.order("train", "sel"))) == 314
    assert data.order("train", "wsel").tolist() == data.order("train", "sel").tolist()


def test_real_derived_labels_agree_with_annotations(shared_ave_dir: Path) -> None:
    data = AVEDirectory(shared_ave_dir)
    labels = data.labels()
    assert labels.shape == (4143, 10, 29) and labels.dtype == np.float32
    assert data.check_annotations() == []
    annotations = data.annotations()
    assert len(annotations) == 4143
    empty = [row for row, a in enumerate(annotations) if a.start == a.end]
    assert [annotations[row].line() for row in empty] == ["Church bell&VWi2ENBuTbw&good&0&0"]
    (row,) = empty
    assert data.event_mask()[row].sum() == 0
    assert data.video_labels()[row].argmax() == 0  # still a Church bell video
    assert (labels[row].argmax(axis=1) == 28).all()  # every second background
    assert (data.event_mask().sum(axis=1) == 0).sum() == 1


def test_real_feature_files_checked_only_on_request(shared_ave_dir: Path) -> None:
    data = AVEDirectory(shared_ave_dir)  # no audio_feature.h5 here: the constructor must not care
    assert not data.has_background_videos()  # visual_feature_noisy.h5 is not in the release copy
    with pytest.raises(AVEFormatError, match=r"audio_feature\.h5: file not found"):
        _ = data.dims
    with pytest.raises(AVEFormatError, match=r"audio_feature\.h5"):
        data.dataset("test", "sel")


def test_real_background_audio_reads_as_float32(shared_ave_dir: Path) -> None:
    out = np.empty((178, 10, 128), dtype=np.float32)  # stored as float64 in the release
    read_rows(shared_ave_dir / "audio_feature_noisy.h5", np.arange(178)[::-1], out)
    assert out.min() == 0.0 and out.max() == pytest.approx(4.5373, abs=1e-4)  # ReLU'd VGGish
    assert out.mean() == pytest.approx(0.122, abs=1e-3)


# ---------------------------------------------------------------- labels and annotations


def test_derive_labels_hand_written() -> None:
    event_mask = np.array([[0, 1, 1], [0, 0, 0]], dtype=np.float32)
    video_labels = np.array([[0, 1, 0], [1, 0, 0]], dtype=np.float32)  # Cat, Dog; background = 2
    labels = derive_labels(event_mask, video_labels)
    assert labels.shape == (2, 3, 3) and labels.dtype == np.float32
    assert labels.argmax(axis=2).tolist() == [[2, 1, 1], [2, 2, 2]]
    with pytest.raises(AVEFormatError, match="video_labels"):
        derive_labels(event_mask, np.zeros((2, 3)))
    with pytest.raises(AVEFormatError, match=r"expected event_mask \[N, T\]"):
        derive_labels(event_mask[:1], video_labels)


def test_check_labels_reports_each_disagreeing_row() -> None:
    annotations = [Annotation("Cat", "a", "good", 1, 3), Annotation("Dog", "b", "good", 0, 0)]
    labels = derive_labels(np.array([[0, 1, 1], [0, 0, 0]]), np.array([[0, 1, 0], [1, 0, 0]]))
    assert check_labels_against_annotations(labels, annotations, TINY_CLASSES) == []
    labels[1, 0] = np.eye(3)[0]  # second 0 of video b now claims Dog
    (problem,) = check_labels_against_annotations(labels, annotations, TINY_CLASSES)
    assert problem.startswith("row 1 (Dog&b&good&0&0)") and "[2, 2, 2]" in problem and "[0, 2, 2]" in problem
    late = [annotations[0], Annotation("Bird", "b", "good", 0, 4)]
    problems = check_labels_against_annotations(labels, late, TINY_CLASSES)
    assert any("unknown category 'Bird'" in p for p in problems)


def test_read_annotations(tmp_path: Path) -> None:
    path = tmp_path / "Annotations.txt"
    path.write_text("Frying (food)&x-1_y&good&2&7\n\nCat&zz&bad&0&10\n")
    assert read_annotations(path) == [
        Annotation("Frying (food)", "x-1_y", "good", 2, 7),
        Annotation("Cat", "zz", "bad", 0, 10),
    ]
    path.write_text("Cat&zz&good&0&10\nCat&zz&good&ten&10\n")
    with pytest.raises(AVEFormatError, match=r"Annotations.txt:2: expected 'Category&YouTubeID"):
        read_annotations(path)
    path.write_text("Cat&zz&good&5&3\n")
    with pytest.raises(AVEFormatError, match=r"Annotations.txt:1: expected 0 <= StartSec <= EndSec"):
        read_annotations(path)


# ---------------------------------------------------------------- writer -> reader


def test_round_trip(tiny_dir: tuple[Path, dict]) -> None:
    root, arrays = tiny_dir
    data = AVEDirectory(root)
    assert data.classes == TINY_CLASSES and data.num_videos == 6
    assert data.dims == FeatureDims(num_segments=4, audio_dim=3, visual_dim=2, grid_h=2, grid_w=2)
    assert np.array_equal(data.event_mask(), arrays["event_mask"])
    assert data.video_labels().argmax(axis=1).tolist() == arrays["event_class"].tolist()
    expected = np.where(arrays["event_mask"] == 1, arrays["event_class"][:, None], 2)  # (N, T)
    assert np.array_equal(data.labels().argmax(axis=2), expected)
    assert data.check_annotations() == []
    assert data.annotations()[1] == Annotation("Cat", "video00001", "good", 1, 4)
    for split in ("train", "val", "test"):
        assert data.order(split, "sel").tolist() == arrays["orders"][split].tolist()
        assert data.order(split, "cml").tolist() == arrays["match_orders"][split].tolist()

    train = data.dataset("train", "sel")
    rows = arrays["orders"]["train"]  # [4, 0, 2]: not increasing, so un-permuting is exercised
    assert len(train) == 3 and train.rows.tolist() == rows.tolist()
    for i, row in enumerate(rows):
        item = train[i]
        assert torch.equal(item["audio"], torch.from_numpy(arrays["audio"][row]))
        assert torch.equal(item["visual"], torch.from_numpy(arrays["visual"][row]))
        assert item["labels"].argmax(dim=1).tolist() == expected[row].tolist()
        assert item["event"].tolist() == arrays["event_mask"][row].tolist()
        assert item["video_label"].tolist() == np.eye(3)[arrays["event_class"][row]].tolist()
        assert item["index"].dtype == torch.int64 and int(item["index"]) == row
        assert all(item[key].dtype == torch.float32 for key in ("audio", "visual", "labels", "event"))
    batch = next(iter(torch.utils.data.DataLoader(train, batch_size=3)))
    assert batch["visual"].shape == (3, 4, 2, 2, 2) and batch["labels"].shape == (3, 4, 3)


def test_float64_features_load_as_float32(tiny_dir: tuple[Path, dict]) -> None:
    root, arrays = tiny_dir
    _rewrite(root / "audio_feature.h5", arrays["audio"].astype(np.float64) * 3)
    split = AVEDirectory(root).dataset("test", "sel")
    assert split.audio.dtype == np.float32
    np.testing.assert_allclose(split.audio, arrays["audio"][[3, 1]] * 3, rtol=1e-6)


def test_read_rows_in_blocks_with_duplicates(tmp_path: Path) -> None:
    values = np.arange(8 * 2 * 3, dtype=np.float64).reshape(8, 2, 3)
    _rewrite(tmp_path / "x.h5", values)
    rows = np.array([5, 1, 5, 0, 7, 3])
    out = np.empty((6, 2, 3), dtype=np.float32)
    read_rows(tmp_path / "x.h5", rows, out, block_bytes=1)  # one row per h5 read
    assert np.array_equal(out, values[rows])
    values[7, 1, 2] = np.nan
    _rewrite(tmp_path / "x.h5", values)
    with pytest.raises(AVEFormatError, match=r"x.h5: expected finite values, found NaN/inf in row 7"):
        read_rows(tmp_path / "x.h5", rows, out, block_bytes=10**6)
    with pytest.raises(AVEFormatError, match=r"x.h5: expected rows in \[0, 8\), found \[1, 8\]"):
        read_rows(tmp_path / "x.h5", np.array([8, 1]), out[:2])
    with pytest.raises(AVEFormatError, match=r"x.h5: expected shape \[\*, 2, 4\], found \[8, 2, 3\]"):
        read_rows(tmp_path / "x.h5", rows, np.empty((6, 2, 4), dtype=np.float32))


def test_writer_rejects_inconsistent_arguments(tmp_path: Path) -> None:
    arrays = _tiny_arrays()
    broken = {**arrays, "event_mask": arrays["event_mask"].copy()}
    broken["event_mask"][0] = [1, 0, 1, 0]
    with pytest.raises(ValueError, match="event_mask row 0: expected one contiguous event span"):
        write_ave_layout(tmp_path, **broken)
    wrong = [Annotation("Dog", f"v{i}", "good", 0, 4) for i in range(6)]
    with pytest.raises(ValueError, match="annotations disagree"):
        write_ave_layout(tmp_path, **arrays, annotations=wrong)
    with pytest.raises(ValueError, match="background_audio and background_visual"):
        write_ave_layout(tmp_path, **{**arrays, "background_visual": None})
    with pytest.raises(ValueError, match=r"orders\['test'\]: expected integer row indices in \[0, 6\)"):
        write_ave_layout(tmp_path, **{**arrays, "orders": {"test": np.array([6])}})
    with pytest.raises(ValueError, match=r"visual: expected shape \[6, 4, \*, \*, \*\]"):
        write_ave_layout(tmp_path, **{**arrays, "visual": arrays["visual"][:5]})
    assert not (tmp_path / "audio_feature.h5").exists()  # nothing written before the checks pass


def test_rewrite_removes_stale_optional_files(tiny_dir: tuple[Path, dict]) -> None:
    root, arrays = tiny_dir
    assert AVEDirectory(root).has_background_videos()
    smaller = {**arrays, "background_audio": None, "background_visual": None}
    write_ave_layout(root, **{**smaller, "orders": {"test": np.array([0])}, "match_orders": None})
    data = AVEDirectory(root)
    assert not data.has_background_videos()
    assert data.order("test", "cml").tolist() == [0]  # match order defaults to the order
    with pytest.raises(AVEFormatError, match=r"train_order\.h5: file not found"):
        data.order("train", "sel")


# ---------------------------------------------------------------- malformed input


def _remove(name: str) -> Callable[[Path], None]:
    return lambda root: (root / name).unlink()


def _replace(name: str, make: Callable[[np.ndarray], np.ndarray], key: str = "avadataset") -> Callable:
    return lambda root: _rewrite(root / name, make(_read(root / name, key)), key)


def _set(array: np.ndarray, index: tuple, value: float) -> np.ndarray:
    array = array.astype(np.float32)
    array[index] = value
    return array


def _wsel(root: Path) -> None:
    AVEDirectory(root).dataset("train", "wsel")


MALFORMED = {
    # case: (break the directory, file the error must name, what triggers the read)
    "missing file": (_remove("labels_closs.h5"), "labels_closs.h5: file not found", AVEDirectory),
    "missing features": (_remove("audio_feature.h5"), "audio_feature.h5", lambda r: AVEDirectory(r).dims),
    "not hdf5": (lambda r: (r / "mil_labels.h5").write_text("x"), "mil_labels.h5: cannot open", AVEDirectory),
    "bad key": (
        lambda r: _rewrite(r / "labels_closs.h5", _read(r / "labels_closs.h5"), key="data"),
        "labels_closs.h5: expected dataset key 'avadataset', found keys ['data']",
        AVEDirectory,
    ),
    "classes vs mil": (
        _replace("mil_labels.h5", lambda a: a[:, 1:]),
        "mil_labels.h5: expected 3 classes",
        AVEDirectory,
    ),
    "mismatched N labels": (
        _replace("mil_labels.h5", lambda a: a[:5]),
        "mil_labels.h5: expected shape [6, 3], found [5, 3]",
        AVEDirectory,
    ),
    "non-binary mask": (
        _replace("labels_closs.h5", lambda a: _set(a, (2, 1), 0.5)),
        "labels_closs.h5: expected only 0/1",
        AVEDirectory,
    ),
    "nan mask": (
        _replace("labels_closs.h5", lambda a: _set(a, (4, 0), np.nan)),
        "labels_closs.h5: expected finite values, found NaN/inf in row 4",
        AVEDirectory,
    ),
    "mil not one-hot": (
        _replace("mil_labels.h5", lambda a: _set(a, (3, 2), 1.0)),
        "mil_labels.h5: expected one-hot",
        AVEDirectory,
    ),
    "mismatched N features": (
        _replace("audio_feature.h5", lambda a: a[:5]),
        "audio_feature.h5: expected shape [6, 4, *] (N, T from labels_closs.h5), found [5, 4, 3]",
        lambda r: AVEDirectory(r).dims,
    ),
    "wrong T": (
        _replace("visual_feature.h5", lambda a: a[:, :3]),
        "visual_feature.h5: expected shape [6, 4, *, *, *] (N, T from labels_closs.h5), "
        "found [6, 3, 2, 2, 2]",
        lambda r: AVEDirectory(r).dims,
    ),
    "pooled visual": (
        _replace("visual_feature.h5", lambda a: a.mean(axis=(2, 3))),
        "visual_feature.h5: expected shape",
        lambda r: AVEDirectory(r).dims,
    ),
    "nan feature": (
        _replace("visual_feature.h5", lambda a: _set(a, (2, 3, 1, 0, 1), np.nan)),
        "visual_feature.h5: expected finite values, found NaN/inf in row 2",
        lambda r: AVEDirectory(r).dataset("train", "sel"),
    ),
    "inf feature": (
        _replace("audio_feature.h5", lambda a: _set(a, (1, 0, 0), np.inf)),
        "audio_feature.h5: expected finite values, found NaN/inf in row 1",
        lambda r: AVEDirectory(r).dataset("test", "sel"),
    ),
    "order out of range": (
        _replace("train_order.h5", lambda a: np.array([0, 6]), key="order"),
        "train_order.h5: expected row indices in [0, 6), found [6]",
        lambda r: AVEDirectory(r).order("train", "sel"),
    ),
    "negative order": (
        _replace("test_order_match.h5", lambda a: np.array([-1, 2]), key="order"),
        "test_order_match.h5: expected row indices in [0, 6), found [-1]",
        lambda r: AVEDirectory(r).dataset("test", "cml"),
    ),
    "float order": (
        _replace("val_order.h5", lambda a: a.astype(np.float64), key="order"),
        "val_order.h5: expected integer row indices, found dtype float64",
        lambda r: AVEDirectory(r).order("val", "wsel"),
    ),
    "labels.h5 not one-hot": (
        _replace("labels.h5", lambda a: _set(a, (0, 0), 0.0)),
        "labels.h5: expected one-hot vectors on the last axis, found 0 ones at index [0, 0]",
        lambda r: AVEDirectory(r).labels(),
    ),
    "bad annotation": (
        lambda r: (r / "Annotations.txt").write_text("Dog&v&good&0\n"),
        "Annotations.txt:1: expected",
        lambda r: AVEDirectory(r).check_annotations(),
    ),
    "event in noisy labels": (
        _replace("labels_noisy.h5", lambda a: np.eye(3, dtype=np.float32)[[2, 0]]),
        "labels_noisy.h5: expected every video labelled background",
        _wsel,
    ),
    "noisy grid": (
        _replace("visual_feature_noisy.h5", lambda a: a[:, :, :1]),
        "visual_feature_noisy.h5: expected shape [2, 4, 2, 2, 2]",
        _wsel,
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_input_names_the_file(case: str, tiny_dir: tuple[Path, dict]) -> None:
    root, _ = tiny_dir
    AVEDirectory(root).dataset("train", "wsel")  # the unbroken directory loads
    breaker, message, trigger = MALFORMED[case]
    breaker(root)
    with pytest.raises(AVEFormatError) as error:
        trigger(root)
    assert message in str(error.value)


def test_unknown_split_or_task_lists_valid_ones(tiny_dir: tuple[Path, dict]) -> None:
    data = AVEDirectory(tiny_dir[0])
    with pytest.raises(ValueError, match="unknown split 'dev'; valid: train, val, test"):
        data.order("dev", "sel")
    with pytest.raises(ValueError, match="unknown task 'avvp'; valid: sel, wsel, cml"):
        data.dataset("train", "avvp")


# ---------------------------------------------------------------- WSEL and CML splits


def test_wsel_train_appends_background_videos(random_ave_dir: Path) -> None:
    data = AVEDirectory(random_ave_dir)
    assert data.has_background_videos()
    train = data.dataset("train", "wsel")
    assert len(train) == 24 + 6
    assert train.rows[:24].tolist() == data.order("train", "wsel").tolist()
    assert train.rows[24:].tolist() == [-1, -2, -3, -4, -5, -6]
    noisy_audio = _read(random_ave_dir / "audio_feature_noisy.h5")
    for k in range(6):
        item = train[24 + k]
        assert torch.equal(item["video_label"], torch.eye(29)[28])
        assert (item["labels"].argmax(dim=1) == 28).all() and item["event"].sum() == 0
        assert torch.allclose(item["audio"], torch.from_numpy(noisy_audio[k]).float())
    assert (train.video_labels[:24].argmax(axis=1) < 28).all()  # real videos keep their event class
    assert len(data.dataset("train", "sel")) == 24
    assert len(data.dataset("val", "wsel")) == 8
    assert len(data.dataset("train", "wsel", background=False)) == 24


def test_wsel_without_visual_noisy_warns_and_goes_on(
    random_ave_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "copy"
    shutil.copytree(random_ave_dir, root)
    (root / "visual_feature_noisy.h5").unlink()
    data = AVEDirectory(root)
    assert not data.has_background_videos()
    with caplog.at_level(logging.WARNING, logger="avel.data.ave"):
        train = data.dataset("train", "wsel")
    assert len(train) == 24 and (train.rows >= 0).all()
    assert "visual_feature_noisy.h5 missing" in caplog.text


def test_cml_uses_the_match_order(random_ave_dir: Path) -> None:
    data = AVEDirectory(random_ave_dir)
    for split in ("train", "val", "test"):
        match = _read(random_ave_dir / f"{split}_order_match.h5", "order")
        cml = data.dataset(split, "cml")
        assert cml.rows.tolist() == match.tolist()
        assert cml.rows.tolist() != data.order(split, "sel").tolist()
        audio = _read(random_ave_dir / "audio_feature.h5")
        assert np.array_equal(cml.audio, audio[match])


def test_random_ave_dir_fixture_shape(random_ave_dir: Path) -> None:
    data = AVEDirectory(random_ave_dir)
    assert data.num_videos == 40 and data.classes == AVE_CLASSES
    assert data.dims == FeatureDims(num_segments=10, audio_dim=128, visual_dim=16, grid_h=3, grid_w=3)
    assert [len(data.order(s, "sel")) for s in ("train", "val", "test")] == [24, 8, 8]
    assert data.check_annotations() == []
    seconds = data.event_mask().sum(axis=1)
    assert seconds.min() >= 2 and seconds.max() <= 8
    assert sorted(set(data.video_labels().argmax(axis=1).tolist())) == [0, 1, 2, 3]
    # learnable: event seconds of one class are closer to each other than to other classes' events
    audio = _read(random_ave_dir / "audio_feature.h5")
    mask, label = data.event_mask() > 0, data.video_labels().argmax(axis=1)
    means = np.stack([audio[(label == c)[:, None] & mask].mean(axis=0) for c in range(4)])  # (4, C_a)
    assert (np.linalg.norm(means[:, None] - means[None], axis=2) + np.eye(4) * 100).min() > 5


def test_single_modality_zeroes_the_other_one(random_ave_dir: Path) -> None:
    data = AVEDirectory(random_ave_dir)
    both = data.dataset("train", "wsel")
    audio_only = data.dataset("train", "wsel", modalities="audio")
    visual_only = data.dataset("train", "wsel", modalities="visual")
    np.testing.assert_array_equal(audio_only.audio, both.audio)
    assert not audio_only.visual.any() and both.visual.any()
    np.testing.assert_array_equal(visual_only.visual, both.visual)
    assert not visual_only.audio.any()
    np.testing.assert_array_equal(visual_only.labels, both.labels)
    with pytest.raises(ValueError, match="valid: both, audio, visual"):
        data.dataset("train", "sel", modalities="sound")
