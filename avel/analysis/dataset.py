"""A whole dataset through the models: confusion matrices, per-class accuracy, t-SNE features and,
on data with object boxes, attention accuracy.

The result is an avel.analysis.summary.DatasetSummary.

Shared by the app's dataset tab and the results report, so both show the same numbers.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from avel.analysis.summary import DatasetSummary, ModelSummary
from avel.common.calibration import softmax
from avel.data import AVEDirectory
from avel.models.output import FEATURE_NAMES
from avel.training.attention import ObjectBoxes, attention_accuracy
from avel.training.checkpoint import LoadedModel
from avel.training.evaluate import checkpoint_dataset, collect_outputs, compute_metrics

log = logging.getLogger(__name__)


# Features shown in the t-SNE panels (Fig. 7): raw inputs and the LSTM inputs of each stream.


def summarize_model(
    loaded: LoadedModel, data: AVEDirectory, split: str, boxes: ObjectBoxes | None = None
) -> tuple[ModelSummary, np.ndarray]:
    """Scores, confusion and per-segment features of one classifier, and with the data's object
    `boxes` its attention accuracy; returns (summary, labels)."""
    task = loaded.model_config.task
    if task == "cml":
        raise ValueError(f"{loaded.path}: a CML model has no class scores; give an SEL or WSEL checkpoint")
    device = next(loaded.model.parameters()).device
    dataset = checkpoint_dataset(loaded, data, split)
    outputs = collect_outputs(loaded.model, dataset, task, device, features=FEATURE_NAMES)
    scored = compute_metrics(outputs, task, loaded.classes)  # the numbers `evaluate` prints
    per_class = [np.nan if value is None else value for value in scored["per_class"].values()]
    summary = ModelSummary(
        predicted=outputs["scores"].argmax(axis=-1),  # (N, T)
        confusion=np.asarray(scored["confusion"]),
        per_class=np.asarray(per_class, dtype=float),
        accuracy=scored["accuracy"],
        features={name: outputs[name] for name in FEATURE_NAMES if name in outputs},
        probabilities=softmax(outputs["scores"]),
        attention=None
        if boxes is None
        else attention_accuracy(loaded.model, dataset, boxes, loaded.classes, device),
    )
    return summary, outputs["labels"]


def summarize_dataset(
    models: dict[str, LoadedModel],
    data_dir: str | Path,
    split: str = "test",
    boxes: ObjectBoxes | None = None,
) -> DatasetSummary:
    """Run each classifier over a split of an AVE-layout directory; given the data's object `boxes`
    (avel.bench.boxes.read_object_boxes of a composite benchmark), score each model's attention too."""
    data = AVEDirectory(data_dir)
    summaries, labels = {}, None
    for name, loaded in models.items():
        log.info("dataset analysis: %s on %s/%s", name, data_dir, split)
        summaries[name], labels = summarize_model(loaded, data, split, boxes)
    if labels is None:
        raise ValueError("no models given to analyse the dataset with")
    return DatasetSummary(
        classes=tuple(data.classes),
        split=split,
        labels=labels,
        models=summaries,
        source=str(data_dir),
        attention_measured=boxes is not None,
    )


def cache_key(data_dir: str | Path, split: str, checkpoints: list[Path]) -> str:
    """Identifies an analysis: the data's label/feature files and the checkpoints, by size and mtime."""
    digest = hashlib.sha256(f"{Path(data_dir).resolve()}|{split}".encode())
    files = sorted(Path(data_dir).glob("*.h5")) + sorted(checkpoints)
    for path in files:
        stat = path.stat()
        digest.update(f"|{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]
