"""A dataset's stored summary: scores, confusion, and t-SNE maps that place new seconds.

`python -m avel summarize` writes one (checkpoints/test-summary.npz) so the dataset tab works on a
fresh clone; the app places each clip's seconds on its maps (FeatureMap.place).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avel.common import metrics
from avel.common.config import SummaryConfig
from avel.common.files import atomic_write
from avel.models.output import FEATURE_NAMES
from viz import stratified_subsample, tsne_embedding

SUMMARY_FORMAT = "avel.summary/1"


@dataclass
class ModelSummary:
    """One SEL/WSEL model on one split."""

    predicted: np.ndarray  # (N, T) class per segment
    confusion: np.ndarray  # (C, C) counts, rows = truth
    per_class: np.ndarray  # (C,) accuracy, NaN for absent classes
    accuracy: float
    features: dict[str, np.ndarray]  # name -> (N * T, dim), for t-SNE; empty once stored
    probabilities: np.ndarray | None = None  # (N, T, C) softmax of the scores
    # attention accuracy against the object boxes (avel/training/attention.py: overall + "per_class");
    # None: not measured (DatasetSummary.attention_measured) or a model without spatial attention
    attention: dict[str, Any] | None = None


@dataclass
class FeatureMap:
    """One t-SNE panel that can place new seconds: a PCA basis, the stored points and their map."""

    mean: np.ndarray  # (D,) of the subsample's features
    components: np.ndarray  # (k, D) PCA directions
    points: np.ndarray  # (n, k) the subsample in the PCA basis
    coords: np.ndarray  # (n, 2) t-SNE coordinates
    labels: np.ndarray  # (n,) true class

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray, config: SummaryConfig) -> FeatureMap:
        """PCA to `config.pca_dims`, then t-SNE of the reduced points (viz.tsne_embedding)."""
        mean = features.mean(axis=0)
        centred = features - mean  # (n, D)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)  # rows of vt: principal directions
        components = vt[: config.pca_dims].astype(np.float32)  # (k, D)
        points = centred @ components.T  # (n, k)
        coords, _ = tsne_embedding(points, config.seed, max_points=len(points))
        return cls(mean.astype(np.float32), components, points.astype(np.float32), coords, labels)

    def place(self, features: np.ndarray, neighbours: int) -> np.ndarray:
        """(m, D) new features -> (m, 2): the distance-weighted mean of the nearest stored points' coords."""
        query = (features - self.mean) @ self.components.T  # (m, k)
        distances = np.linalg.norm(query[:, None, :] - self.points[None], axis=-1)  # (m, n)
        k = min(neighbours, len(self.points))
        nearest = np.argsort(distances, axis=1)[:, :k]  # (m, k)
        weights = 1.0 / (np.take_along_axis(distances, nearest, axis=1) + 1e-6)  # (m, k)
        weights /= weights.sum(axis=1, keepdims=True)
        return (weights[..., None] * self.coords[nearest]).sum(axis=1)  # (m, 2)


@dataclass
class DatasetSummary:
    """Every model on the same split, with the truth they are scored against."""

    classes: tuple[str, ...]
    split: str
    labels: np.ndarray  # (N, T) true class per segment
    models: dict[str, ModelSummary]
    source: str = ""  # what was summarised, in words (a stored summary says which benchmark)
    maps: dict[str, FeatureMap] = field(default_factory=dict)  # FEATURE_NAMES -> map (map_model's)
    map_model: str = ""  # whose features the maps show
    # summarised with the data's object boxes (a composite benchmark), so each model's `attention`
    # is measured; False for data without boxes and for a file stored before attention accuracy
    attention_measured: bool = False


def build_maps(summary: DatasetSummary, config: SummaryConfig) -> DatasetSummary:
    """Fit the t-SNE maps of the first model that has each feature, on one stratified subsample."""
    flat = summary.labels.ravel()  # (N * T,) in the row order of the models' features
    kept = stratified_subsample(flat, config.max_points, config.seed)
    for name, model in summary.models.items():
        present = [f for f in FEATURE_NAMES if f in model.features]
        if present:
            summary.maps = {f: FeatureMap.fit(model.features[f][kept], flat[kept], config) for f in present}
            summary.map_model = name
            break
    return summary


def save_summary(summary: DatasetSummary, path: Path) -> None:
    """Write a summary with its maps (no raw features) as one .npz: arrays plus a JSON header.

    Probabilities and map points are float16: the file is what a fresh clone ships, a few MB.
    """
    arrays: dict[str, np.ndarray] = {"labels": summary.labels.astype(np.int16)}
    for index, model in enumerate(summary.models.values()):
        arrays[f"model{index}_predicted"] = model.predicted.astype(np.int16)
        arrays[f"model{index}_confusion"] = model.confusion.astype(np.int32)
        if model.probabilities is not None:
            arrays[f"model{index}_probabilities"] = model.probabilities.astype(np.float16)
    for feature, fmap in summary.maps.items():
        for part in ("mean", "components", "coords", "labels"):
            arrays[f"map_{feature}_{part}"] = getattr(fmap, part)
        arrays[f"map_{feature}_points"] = fmap.points.astype(np.float16)
    header = {
        "format": SUMMARY_FORMAT,
        "classes": list(summary.classes),
        "split": summary.split,
        "source": summary.source,
        "models": list(summary.models),
        "maps": list(summary.maps),
        "map_model": summary.map_model,
    }
    if summary.attention_measured:  # small: a few numbers per model and class
        header["attention"] = {name: model.attention for name, model in summary.models.items()}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, header=np.array(json.dumps(header)), **arrays)
    atomic_write(path, buffer.getvalue())


def load_summary(path: Path) -> DatasetSummary:
    """Read save_summary's file; ValueError names the file when it is not one."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            header = json.loads(str(stored["header"]))
            if header.get("format") != SUMMARY_FORMAT:
                raise ValueError(f"format {header.get('format')!r}, expected {SUMMARY_FORMAT!r}")
            arrays = {key: stored[key] for key in stored.files}
    except (OSError, KeyError, ValueError) as err:
        raise ValueError(f"{path.name}: not a dataset summary of avel ({err})") from err
    attention = header.get("attention")  # absent: not measured, or stored before it was
    models = {}
    for index, name in enumerate(header["models"]):
        confusion = arrays[f"model{index}_confusion"].astype(np.int64)
        probabilities = arrays.get(f"model{index}_probabilities")
        models[name] = ModelSummary(
            predicted=arrays[f"model{index}_predicted"].astype(np.int64),
            confusion=confusion,
            per_class=metrics.per_class_accuracy(confusion),
            accuracy=float(np.trace(confusion) / confusion.sum()),
            features={},
            probabilities=None if probabilities is None else probabilities.astype(np.float32),
            attention=None if attention is None else attention[name],
        )
    maps = {
        feature: FeatureMap(
            **{part: arrays[f"map_{feature}_{part}"] for part in ("mean", "components", "coords", "labels")},
            points=arrays[f"map_{feature}_points"].astype(np.float32),
        )
        for feature in header["maps"]
    }
    return DatasetSummary(
        classes=tuple(header["classes"]),
        split=header["split"],
        labels=arrays["labels"].astype(np.int64),
        models=models,
        source=header["source"],
        maps=maps,
        map_model=header["map_model"],
        attention_measured=attention is not None,
    )
