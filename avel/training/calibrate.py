"""`python -m avel calibrate`: set a classifier's abstention threshold on the validation split.

    python -m avel calibrate checkpoints/coatt_sel.pt checkpoints/baseline_sel.pt --data data/bench-full

Writes "calibration" (avel/common/calibration.py) and "trained_classes" (the classes that have training
seconds) into each checkpoint, in place and atomically; weights and metrics are untouched, so
`evaluate` still reproduces every stored metric. The app then marks a second whose top
probability is below the threshold as "unsure" (between trained classes) or "not one of the trained
classes"; the second rule needs the open-set event seconds of the split (`open_spans`, from the
composite benchmark's manifest), see avel/common/calibration.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avel.common.calibration import Calibration, calibrate, fit_unsure_mass, softmax
from avel.common.config import CalibrationConfig, TrainConfig
from avel.common.device import resolve_device
from avel.data import AVEDirectory
from avel.training.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from avel.training.evaluate import checkpoint_dataset, collect_outputs, run_split


def trained_classes(
    loaded_classes: tuple[str, ...], data: AVEDirectory, task: str, config: TrainConfig
) -> list[str]:
    """The classes with at least one training second in the run's training split (background included)."""
    labels = run_split(data, "train", task, config).labels  # (N, T, C) one-hot
    present = labels.reshape(-1, labels.shape[-1]).sum(axis=0) > 0  # (C,)
    return [name for name, seen in zip(loaded_classes, present, strict=True) if seen]


def open_event_mask(
    data: AVEDirectory, rows: np.ndarray, open_spans: dict[str, tuple[int, int]], num_segments: int
) -> np.ndarray:
    """(len(rows), T) bool: the seconds of the rows' videos where an open-set event is seen and heard."""
    names = [a.video_id for a in data.annotations()]
    mask = np.zeros((len(rows), num_segments), dtype=bool)
    for i, row in enumerate(rows):
        start, end = open_spans.get(names[row], (0, 0))
        mask[i, start:end] = True
    return mask


def calibrate_checkpoint(
    path: str | Path,
    data_dir: str | Path,
    config: CalibrationConfig | None = None,
    device: str = "auto",
    open_spans: dict[str, tuple[int, int]] | None = None,
) -> Calibration:
    """Score the checkpoint on `config.split`, set its thresholds, and store them in the file.

    `open_spans` maps a video id to its open-set event span (the composite manifest's open-set
    videos); without it only the answer threshold is set."""
    config = config or CalibrationConfig()
    path = Path(path)
    torch_device = resolve_device(device)
    loaded = load_checkpoint(path, torch_device)
    task = loaded.model_config.task
    if task == "cml":
        raise ValueError(f"{path}: a CML model names no classes; calibrate its SEL or WSEL checkpoint")
    data = AVEDirectory(data_dir)
    dataset = checkpoint_dataset(loaded, data, config.split)
    outputs = collect_outputs(loaded.model, dataset, task, torch_device)
    probabilities = softmax(outputs["scores"]).reshape(-1, len(loaded.classes))  # (N * T, C)
    truth = outputs["labels"].reshape(-1)
    result = calibrate(probabilities, truth, config.keep_correct, config.split)
    if open_spans:
        rows = data.order(config.split, task, loaded.train_config.match_orders)
        mask = open_event_mask(data, rows, open_spans, outputs["labels"].shape[1])
        result = fit_unsure_mass(probabilities, truth, mask.reshape(-1), result)
    checkpoint = read_checkpoint(path)
    checkpoint["calibration"] = result.to_dict()
    checkpoint["trained_classes"] = trained_classes(loaded.classes, data, task, loaded.train_config)
    save_checkpoint(checkpoint, path)
    return result
