"""A whole dataset through the models: confusion matrices, per-class accuracy and t-SNE features.

Shared by the app's dataset tab and the results report, so both show the same numbers.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from avel import metrics
from avel.checkpoint import LoadedModel, check_data_matches
from avel.data import AVEDirectory

log = logging.getLogger(__name__)

# Features shown in the t-SNE panels (Fig. 7): raw inputs and the LSTM inputs of each stream.
TSNE_FEATURES = ("raw_audio", "cspa_audio", "csea_audio", "raw_visual", "cspa_visual", "csea_visual")
EVAL_BATCH_SIZE = 64


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


@torch.no_grad()
def summarize_model(loaded: LoadedModel, data: AVEDirectory, split: str) -> tuple[ModelSummary, np.ndarray]:
    """Scores, confusion and per-segment features of one classifier; returns (summary, labels)."""
    if loaded.model_config.task == "cml":
        raise ValueError(f"{loaded.path}: a CML model has no class scores; give an SEL or WSEL checkpoint")
    check_data_matches(loaded, data.dims, tuple(data.classes), data.root)
    device = next(loaded.model.parameters()).device
    predicted, labels, features = [], [], {name: [] for name in TSNE_FEATURES}
    dataset = data.dataset(split, loaded.model_config.task, modalities=loaded.train_config.modalities)
    for batch in DataLoader(dataset, batch_size=EVAL_BATCH_SIZE, shuffle=False):
        output = loaded.model(batch["audio"].to(device), batch["visual"].to(device))
        predicted.append(output.scores().argmax(dim=-1).cpu())
        labels.append(batch["labels"].argmax(dim=-1))  # (B, T, C) one-hot -> (B, T)
        for name in TSNE_FEATURES:
            if name in output.features:
                features[name].append(output.features[name].flatten(0, 1).float().cpu())  # (B*T, dim)
    pred, truth = torch.cat(predicted).numpy(), torch.cat(labels).numpy()
    confusion = metrics.confusion_matrix(pred, truth, len(data.classes))
    summary = ModelSummary(
        predicted=pred,
        confusion=confusion,
        per_class=metrics.per_class_accuracy(confusion),
        accuracy=metrics.segment_accuracy(pred, truth),
        features={name: torch.cat(parts).numpy() for name, parts in features.items() if parts},
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
