"""Abstention: the threshold set on validation, stored in the checkpoint, and applied per second."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from avel.analysis.clip import ClipAnalysis, Localization
from avel.analysis.windows import ModelTrack
from avel.common.calibration import (
    ANSWERED,
    NOT_KNOWN,
    UNSURE,
    abstention,
    answered,
    calibrate,
    fit_unsure_mass,
    softmax,
)
from avel.common.config import CalibrationConfig, LocalizeConfig, ModelConfig, RunConfig, TrainConfig
from avel.data import AVEDirectory
from avel.training.calibrate import calibrate_checkpoint
from avel.training.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from avel.training.evaluate import evaluate_checkpoint
from avel.training.train import train


def test_threshold_keeps_the_stated_share_of_correct_seconds() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 5, 2000)
    logits = rng.normal(0, 1, (2000, 5))
    logits[np.arange(1500), truth[:1500]] += 4.0  # 1500 confident right answers, 500 guesses
    probabilities = softmax(logits)
    result = calibrate(probabilities, truth, keep_correct=0.95, split="val")
    correct = probabilities.argmax(axis=1) == truth
    kept = answered(probabilities, result.threshold)
    assert result.kept_correct == pytest.approx(kept[correct].mean())
    assert 0.95 <= result.kept_correct < 0.96  # the largest threshold that still keeps 95 %
    assert result.coverage == pytest.approx(kept.mean()) and result.coverage < 1.0
    assert result.accuracy_answered > result.accuracy_all  # abstaining drops mostly the guesses
    assert answered(probabilities, None).all()  # an uncalibrated model never abstains


def test_calibrate_refuses_a_model_that_is_never_right() -> None:
    probabilities = softmax(np.eye(3)[[0, 0, 0]] * 5)
    with pytest.raises(ValueError, match="no second right"):
        calibrate(probabilities, np.array([1, 2, 1]), 0.95, "val")
    with pytest.raises(ValueError, match="keep_correct"):
        CalibrationConfig(keep_correct=0.0)
    with pytest.raises(ValueError, match="split"):
        CalibrationConfig(split="test")  # never set on the test split


@pytest.fixture(scope="module")
def trained(random_ave_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("calibrate") / "sel"
    config = RunConfig(
        data=str(random_ave_dir),
        out=str(out),
        model=ModelConfig(model="baseline", task="sel"),
        train=TrainConfig(epochs=4, batch_size=8, device="cpu"),
    )
    train(config)
    return out / "best.pt"


def test_calibration_is_stored_and_changes_no_metric(
    trained: Path, random_ave_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "model.pt"
    shutil.copyfile(trained, path)
    before = evaluate_checkpoint(path, random_ave_dir, "test", "cpu")
    result = calibrate_checkpoint(path, random_ave_dir, CalibrationConfig(), "cpu")
    loaded = load_checkpoint(path)
    assert loaded.calibration == result and loaded.calibration.split == "val"
    # the fixture's events come from its first 4 classes; with background, those are all it trained on
    assert loaded.trained_classes == (*loaded.classes[:4], loaded.classes[-1])
    after = evaluate_checkpoint(path, random_ave_dir, "test", "cpu")
    assert {k: v for k, v in after.items() if k != "checkpoint"} == {
        k: v for k, v in before.items() if k != "checkpoint"
    }
    checkpoint = read_checkpoint(path)
    checkpoint["calibration"]["threshold"] = 1.5
    save_checkpoint(checkpoint, path)
    with pytest.raises(ValueError, match=r"abstention threshold 1\.5 is not a probability"):
        load_checkpoint(path)


def _hesitant_and_flat(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probabilities, truth, open_event) of 4 classes + background: n confident right seconds,
    n seconds split between two known classes (the wrong one ahead), n flat seconds of open-set events."""
    confident = np.full((n, 5), 0.02)
    confident[:, 0] = 0.92
    hesitant = np.full((n, 5), 0.02)
    hesitant[:, 1], hesitant[:, 2] = 0.5, 0.44 - rng.uniform(0, 0.1, n)
    flat = softmax(rng.normal(0, 0.3, (n, 5)))
    flat[:, 4] = 0.01  # the model does not see background there: a wrong, spread-out answer
    probabilities = np.concatenate([confident, hesitant, flat])
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    truth = np.concatenate([np.zeros(n), np.full(n, 2), np.full(n, 4)]).astype(int)  # hesitant: wrong
    open_event = np.arange(3 * n) >= 2 * n
    return probabilities, truth, open_event


def test_unsure_mass_tells_hesitation_from_an_unknown_event() -> None:
    probabilities, truth, open_event = _hesitant_and_flat(np.random.default_rng(0), 50)
    base = calibrate(probabilities, truth, keep_correct=0.95, split="val")
    assert fit_unsure_mass(probabilities, truth, np.zeros_like(open_event), base) == base  # nothing to fit on
    fitted = fit_unsure_mass(probabilities, truth, open_event, base)
    kinds = abstention(probabilities, fitted.threshold, fitted.unsure_mass)
    assert (kinds[:50] == ANSWERED).all()
    assert (kinds[50:100] == UNSURE).all() and (kinds[100:] == NOT_KNOWN).all()
    assert (fitted.open_seconds, fitted.open_flagged, fitted.open_claimed) == (50, 1.0, 0.0)
    assert fitted.known_flagged == 0.0


def test_localize_labels_unsure_and_unknown_seconds_apart() -> None:
    probabilities, _, _ = _hesitant_and_flat(np.random.default_rng(1), 1)  # (3, 5)
    classes = ("A", "B", "C", "D", "Background")
    track = ModelTrack(probabilities, np.ones(3, dtype=np.int64), None, threshold=0.8, unsure_mass=0.85)
    clip = ClipAnalysis(
        file="clip.mp4",
        content_hash="",
        num_segments=3,
        classes=classes,
        localizations={"M": Localization.from_track(track, background=4)},
        shown_seconds={},
        frames={},
        windowed=False,
        config=LocalizeConfig(),
    )
    result = clip.to_json()["models"]["M"]
    assert [s["label"] for s in result["seconds"]] == ["A", "unsure", "unknown"]
    assert result["unsure_mass"] == 0.85


def test_open_spans_set_the_unsure_rule_in_the_checkpoint(
    trained: Path, random_ave_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "model.pt"
    shutil.copyfile(trained, path)
    data = AVEDirectory(random_ave_dir)
    val = data.order("val", "sel")
    names = [a.video_id for a in data.annotations()]
    spans = {names[row]: (0, 10) for row in val[:2]}
    result = calibrate_checkpoint(path, random_ave_dir, CalibrationConfig(), "cpu", spans)
    assert result.open_seconds == 20 and result.unsure_mass is not None
    assert load_checkpoint(path).unsure_mass == result.unsure_mass
