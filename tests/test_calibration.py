"""Abstention: the threshold set on validation, stored in the checkpoint, and applied per second."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from avel.common.calibration import answered, calibrate, softmax
from avel.common.config import CalibrationConfig, ModelConfig, RunConfig, TrainConfig
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
