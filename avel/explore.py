"""A whole dataset through the models: confusion matrices, per-class accuracy and t-SNE features.

Shared by the app's dataset tab and the results report, so both show the same numbers.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avel import metrics
from avel.checkpoint import LoadedModel, read_checkpoint
from avel.data import AVEDirectory
from avel.evaluate import checkpoint_dataset, collect_outputs, selection_metric

log = logging.getLogger(__name__)

# Features shown in the t-SNE panels (Fig. 7): raw inputs and the LSTM inputs of each stream.
TSNE_FEATURES = ("raw_audio", "cspa_audio", "csea_audio", "raw_visual", "cspa_visual", "csea_visual")


@dataclass
class ModelSummary:
    """One SEL/WSEL model on one split."""

    predicted: np.ndarray  # (N, T) class per segment
    confusion: np.ndarray  # (C, C) counts, rows = truth
    per_class: np.ndarray  # (C,) accuracy, NaN for absent classes
    accuracy: float
    features: dict[str, np.ndarray]  # name -> (N * T, dim), for t-SNE


@dataclass
class DatasetSummary:
    """Every model on the same split, with the truth they are scored against."""

    classes: tuple[str, ...]
    split: str
    labels: np.ndarray  # (N, T) true class per segment
    models: dict[str, ModelSummary]


def summarize_model(loaded: LoadedModel, data: AVEDirectory, split: str) -> tuple[ModelSummary, np.ndarray]:
    """Scores, confusion and per-segment features of one classifier; returns (summary, labels)."""
    task = loaded.model_config.task
    if task == "cml":
        raise ValueError(f"{loaded.path}: a CML model has no class scores; give an SEL or WSEL checkpoint")
    device = next(loaded.model.parameters()).device
    dataset = checkpoint_dataset(loaded, data, split)
    outputs = collect_outputs(loaded.model, dataset, task, device, features=TSNE_FEATURES)
    pred, truth = outputs["scores"].argmax(axis=-1), outputs["labels"]  # (N, T) each
    confusion = metrics.confusion_matrix(pred, truth, len(data.classes))
    summary = ModelSummary(
        predicted=pred,
        confusion=confusion,
        per_class=metrics.per_class_accuracy(confusion),
        accuracy=metrics.segment_accuracy(pred, truth),
        features={name: outputs[name] for name in TSNE_FEATURES if name in outputs},
    )
    return summary, truth


def summarize_dataset(
    models: dict[str, LoadedModel], data_dir: str | Path, split: str = "test"
) -> DatasetSummary:
    """Run each classifier over a split of an AVE-layout directory."""
    data = AVEDirectory(data_dir)
    summaries, labels = {}, None
    for name, loaded in models.items():
        log.info("dataset analysis: %s on %s/%s", name, data_dir, split)
        summaries[name], labels = summarize_model(loaded, data, split)
    if labels is None:
        raise ValueError("no models given to analyse the dataset with")
    return DatasetSummary(classes=tuple(data.classes), split=split, labels=labels, models=summaries)


def cache_key(data_dir: str | Path, split: str, checkpoints: list[Path]) -> str:
    """Identifies an analysis: the data's label/feature files and the checkpoints, by size and mtime."""
    digest = hashlib.sha256(f"{Path(data_dir).resolve()}|{split}".encode())
    files = sorted(Path(data_dir).glob("*.h5")) + sorted(checkpoints)
    for path in files:
        stat = path.stat()
        digest.update(f"|{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


RUNS_TABLE_HEADERS = ("run", "model", "ablation", "modalities", "task", "test accuracy (%)")


def runs_table(runs: Path) -> list[list]:
    """One row per finished run under `runs` (its best.pt's test score): a Table V analogue.

    CML rows show the mean of A2V and V2A; runs still training (no test score yet) and files
    that are not avel checkpoints are left out, the latter with a warning.
    """
    rows = []
    for path in sorted(Path(runs).glob("**/best.pt")):
        try:
            checkpoint = read_checkpoint(path)
        except ValueError as err:
            log.warning("skipping %s: %s", path, err)
            continue
        model, test = checkpoint["model_config"], (checkpoint.get("metrics") or {}).get("test")
        if not test:
            continue
        value = selection_metric(test, model["task"])  # CML: mean of A2V and V2A
        modalities = checkpoint["train_config"].get("modalities", "both")
        row = [model["model"], model["ablation"], modalities, model["task"], round(100 * value, 1)]
        rows.append([path.parent.name, *row])
    return rows
