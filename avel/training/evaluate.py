"""Score a model on one split with the AVE protocol, and print it like the paper's Tables II-V.

    python -m avel evaluate runs/sel_coatt --data data/ave --split test
    python -m avel evaluate runs/sel_coatt/best.pt --data data/ave --json   # last line: JSON

SEL/WSEL: segment accuracy over the split (background counted), per-class accuracy, confusion
matrix. CML: A2V and V2A accuracy of the sliding-window search (avel/common/metrics.py).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from avel.common import metrics
from avel.common.config import TrainConfig
from avel.common.device import resolve_device
from avel.data import AVEDirectory, AVESplit
from avel.models.scaling import rms
from avel.training.attention import ObjectBoxes, attention_accuracy
from avel.training.checkpoint import LoadedModel, check_data_matches, checkpoint_path, load_checkpoint

log = logging.getLogger(__name__)

EVAL_BATCH_SIZE = 64  # inference only: any size gives the same numbers
TOP_CONFUSIONS = 5  # off-diagonal cells listed in the confusion summary
SCALE_WARN_RATIO = 3.0  # features this many times off the training RMS (either way) are warned about

# Paper results (%), printed beside a run for reference. They use VGG19/VGGish features, so
# they compare with runs on the official AVE features only. Baseline rows: "Audio-visual+Att"
# (SEL/WSEL, Tables III-IV) and AVDLN (CML, Table II) of Tian et al.; co-attention: Table V.
PAPER_RESULTS: dict[tuple[str, str], dict[str, float]] = {
    ("coatt", "full"): {"a2v": 49.0, "v2a": 51.0, "sel": 76.5, "wsel": 70.2},
    ("coatt", "cspa"): {"a2v": 39.3, "v2a": 33.3, "sel": 74.1, "wsel": 68.0},
    ("coatt", "csea"): {"a2v": 48.5, "v2a": 50.7, "sel": 72.9, "wsel": 66.4},
    ("coatt", "cspa_no_aa"): {"a2v": 48.5, "v2a": 49.8, "sel": 75.5, "wsel": 69.8},
    ("coatt", "csea_no_v2a"): {"a2v": 48.5, "v2a": 48.0, "sel": 75.9, "wsel": 70.1},
    ("coatt", "csea_no_a2v"): {"a2v": 44.0, "v2a": 47.3, "sel": 76.3, "wsel": 70.1},
    ("baseline", "full"): {"a2v": 44.8, "v2a": 35.6, "sel": 72.7, "wsel": 66.7},
}
TABLES = {"cml": "Table II (CML)", "sel": "Table III (SEL)", "wsel": "Table IV (WSEL)"}


@torch.no_grad()
def collect_outputs(
    model: nn.Module,
    dataset: Dataset,
    task: str,
    device: torch.device,
    batch_size: int = EVAL_BATCH_SIZE,
    features: tuple[str, ...] = (),
    strict_cml: bool = False,
) -> dict[str, np.ndarray]:
    """Run the model over a split.

    Returns "scores" (N, T, C) or, for CML, "distances" (N, T, T) and, with `strict_cml`,
    "strict_a2v"/"strict_v2a" (N, T, T, see strict_cml_distances: two more forward passes, so
    per-epoch validation leaves them out); "labels" (N, T); "event" (N, T);
    and each requested ModelOutput feature the model has, as (N * T, dim) under its own name.
    """
    model.eval()
    key = "distances" if task == "cml" else "scores"
    collected: dict[str, list[torch.Tensor]] = {key: [], "labels": [], "event": []}
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        audio, visual = batch["audio"].to(device), batch["visual"].to(device)
        output = model(audio, visual)
        collected[key].append((output.distances() if task == "cml" else output.scores()).float().cpu())
        if task == "cml" and strict_cml:
            for direction in metrics.CML_DIRECTIONS:
                strict = strict_cml_distances(model, audio, visual, batch["event"].to(device), direction)
                collected.setdefault(f"strict_{direction}", []).append(strict.float().cpu())
        collected["labels"].append(batch["labels"].argmax(dim=-1))  # (B, T, C) one-hot -> (B, T)
        collected["event"].append(batch["event"])
        for name in features:
            if name in output.features:  # (B, T, dim) -> (B * T, dim)
                collected.setdefault(name, []).append(output.features[name].flatten(0, 1).float().cpu())
    return {name: torch.cat(parts).numpy() for name, parts in collected.items()}


def strict_cml_distances(
    model: nn.Module, audio: torch.Tensor, visual: torch.Tensor, event: torch.Tensor, direction: str
) -> torch.Tensor:
    """Distances (B, T, T) with the query modality zeroed outside the query span (the event).

    In the paper's protocol both modalities' embeddings are computed from whole tracks: the
    co-attention model's CSPA, CSEA and BiLSTMs let the searched modality see the query modality
    outside the query span. Zeroing it there (audio for A2V, visual for V2A) leaves the model only
    the query span to match, as a real query clip would be. Videos the protocol skips are
    unaffected in what is scored.
    """
    keep = event[..., None]  # (B, T, 1): 1 inside the query span
    if direction == "a2v":
        return model(audio * keep, visual).distances()
    return model(audio, visual * keep[..., None, None]).distances()


def compute_metrics(outputs: dict[str, np.ndarray], task: str, classes: tuple[str, ...]) -> dict[str, Any]:
    """Plain-typed metrics (JSON- and checkpoint-safe) of collected outputs."""
    if task == "cml":
        event = outputs["event"]
        a2v = metrics.cml_accuracy(outputs["distances"], event, "a2v")
        v2a = metrics.cml_accuracy(outputs["distances"], event, "v2a")
        strict = {  # strict_cml_distances: the query modality zeroed outside the query span
            f"strict_{d}": metrics.cml_accuracy(outputs[f"strict_{d}"], event, d)
            for d in metrics.CML_DIRECTIONS
            if f"strict_{d}" in outputs
        }
        return {
            "a2v": a2v,
            "v2a": v2a,
            "average": (a2v + v2a) / 2,
            **strict,
            "chance": metrics.cml_chance(event),
            "num_videos": len(event),
            "num_scored": len(metrics.cml_spans(event)),
        }
    pred, truth = outputs["scores"].argmax(axis=-1), outputs["labels"]  # (N, T) each
    confusion = metrics.confusion_matrix(pred, truth, len(classes))
    per_class = metrics.per_class_accuracy(confusion)
    return {
        "accuracy": metrics.segment_accuracy(pred, truth),
        "chance": metrics.majority_chance(truth, len(classes)),
        "num_segments": int(truth.size),
        "per_class": {
            name: None if np.isnan(value) else float(value)
            for name, value in zip(classes, per_class, strict=True)
        },
        "confusion": confusion.tolist(),
    }


def evaluate_model(
    model: nn.Module,
    dataset: Dataset,
    task: str,
    classes: tuple[str, ...],
    device: torch.device,
    batch_size: int = EVAL_BATCH_SIZE,
    strict_cml: bool = False,
) -> dict[str, Any]:
    """Metrics of a model on one split (see compute_metrics; `strict_cml` as in collect_outputs)."""
    outputs = collect_outputs(model, dataset, task, device, batch_size, strict_cml=strict_cml)
    return compute_metrics(outputs, task, classes)


def selection_metric(result: dict[str, Any], task: str) -> float:
    """The validation number a run is selected on: segment accuracy, or mean of A2V and V2A for CML."""
    return float(result["average"] if task == "cml" else result["accuracy"])


def run_split(
    data: AVEDirectory, split: str, task: str, config: TrainConfig, background: bool = False
) -> AVESplit:
    """A split as a run with `config` sees it: its modalities (a single-modality control stays
    one) and its order files (--orders); `background` adds WSEL's background-only videos."""
    return data.dataset(
        split, task, background=background, modalities=config.modalities, match=config.match_orders
    )


def checkpoint_dataset(loaded: LoadedModel, data: AVEDirectory, split: str) -> AVESplit:
    """The split a checkpoint is scored on (run_split of its settings), after checking the data fits it."""
    check_data_matches(loaded, data.dims, tuple(data.classes), data.root)
    return run_split(data, split, loaded.model_config.task, loaded.train_config)


def evaluate_checkpoint(
    path: str | Path,
    data_dir: str | Path,
    split: str = "test",
    device: str = "auto",
    boxes: ObjectBoxes | None = None,
) -> dict[str, Any]:
    """Load a checkpoint (or a run directory's best.pt), check the data fits it, and score a split;
    with the event object's `boxes` (a composite benchmark) also its spatial attention ("attention":
    None for a model without one)."""
    path = checkpoint_path(path)
    torch_device = resolve_device(device)
    loaded = load_checkpoint(path, torch_device)
    task = loaded.model_config.task
    dataset = checkpoint_dataset(loaded, AVEDirectory(data_dir), split)
    result = evaluate_model(loaded.model, dataset, task, loaded.classes, torch_device, strict_cml=True)
    warnings = scale_warnings(loaded, dataset)
    for warning in warnings:
        log.warning("%s: %s", path, warning)
    if boxes is not None:
        result["attention"] = attention_accuracy(loaded.model, dataset, boxes, loaded.classes, torch_device)
    header = {
        "task": task,
        "model": loaded.model_config.model,
        "ablation": loaded.model_config.ablation,
        "modalities": loaded.train_config.modalities,
        "split": split,
        "checkpoint": str(path),
        "epoch": loaded.epoch,
        "warnings": warnings,
    }
    return {**header, **result}


def scale_warnings(loaded: LoadedModel, dataset: AVESplit) -> list[str]:
    """Modalities whose RMS is over SCALE_WARN_RATIO times off the checkpoint's stored input scale.

    The model divides by the training split's RMS (avel/models/scaling.py); features from another
    extractor or projection pass that check of shapes yet are read at the wrong scale, and the
    accuracy drops with no other sign (measured: 23.8 % against 43.8 %).
    """
    scale = getattr(loaded.model, "input_scale", None)
    if scale is None:
        return []
    warnings = []
    for name, features, stored in (
        ("audio", dataset.audio, float(scale.audio_rms)),
        ("visual", dataset.visual, float(scale.visual_rms)),
    ):
        found = rms(features)
        if stored > 0 and found > 0 and max(found / stored, stored / found) > SCALE_WARN_RATIO:
            warnings.append(
                f"the {name} features' RMS is {found:.4g}, the checkpoint was trained at {stored:.4g} "
                f"({found / stored:.3g}x): other features than it was trained on? The scores may be wrong"
            )
    return warnings


def _percent(value: float | None) -> str:
    return "   -" if value is None else f"{100 * value:5.1f}"


def format_tables(result: dict[str, Any]) -> str:
    """Text tables shaped like the paper's: the task's row, then per-class and confusion summaries."""
    task, model, ablation = result["task"], result["model"], result["ablation"]
    name = f"{'co-attention' if model == 'coatt' else 'baseline (Tian et al.)'} [{ablation}]"
    paper = PAPER_RESULTS.get((model, ablation), {})
    lines = [f"{TABLES[task]}, {result['split']} split, epoch {result['epoch']}, accuracy (%)"]
    if task == "cml":
        lines += [
            f"{'method':<40} {'A2V':>6} {'V2A':>6} {'Avg':>6}",
            f"{name:<40} {_percent(result['a2v']):>6} {_percent(result['v2a']):>6} "
            f"{_percent(result['average']):>6}",
            f"{'paper (VGG19/VGGish features)':<40} {paper.get('a2v', '-'):>6} {paper.get('v2a', '-'):>6}",
            f"{'chance':<40} {_percent(result['chance']):>6} {_percent(result['chance']):>6}",
            f"{'strict (query outside its span zeroed)':<40} {_percent(result.get('strict_a2v')):>6} "
            f"{_percent(result.get('strict_v2a')):>6}",
            f"{result['num_scored']} of {result['num_videos']} videos scored "
            "(all-event, empty and gapped events skipped)",
            *_attention_lines(result),
        ]
        return "\n".join(lines)
    lines += [
        f"{'method':<40} {task.upper():>6}",
        f"{name:<40} {_percent(result['accuracy']):>6}",
        f"{'paper (VGG19/VGGish features)':<40} {paper.get(task, '-'):>6}",
        f"{'chance (majority class)':<40} {_percent(result['chance']):>6}",
        f"{result['num_segments']} segments",
        "",
        "Per-class accuracy (%)",
        f"{'#':>3} {'class':<36} {'segments':>8} {'acc':>5}",
    ]
    classes = tuple(result["per_class"])  # class order = output units
    confusion = np.array(result["confusion"])
    for index, class_name in enumerate(classes):
        accuracy = _percent(result["per_class"][class_name])
        lines.append(f"{index:>3} {class_name:<36} {confusion[index].sum():>8} {accuracy}")
    lines += ["", f"Most frequent confusions (truth -> predicted), of {confusion.sum()} segments"]
    off_diagonal = confusion * (1 - np.eye(len(classes), dtype=confusion.dtype))
    for flat in np.argsort(off_diagonal, axis=None)[::-1][:TOP_CONFUSIONS]:
        truth, predicted = np.unravel_index(flat, confusion.shape)
        if off_diagonal[truth, predicted] > 0:
            lines.append(f"  {classes[truth]} -> {classes[predicted]}: {off_diagonal[truth, predicted]}")
    return "\n".join([*lines, *_attention_lines(result)])


def _attention_lines(result: dict[str, Any]) -> list[str]:
    """The attention accuracy block (avel/training/attention.py), when the result has one."""
    if "attention" not in result:
        return []
    attention = result["attention"]
    if attention is None:
        return ["", "Attention accuracy: this model has no spatial attention"]
    return [
        "",
        f"Attention accuracy (%), {attention['num_seconds']} event seconds with the object's box",
        f"{'pointing game':<24} {_percent(attention['pointing']):>6}",
        f"{'attention mass in box':<24} {_percent(attention['mass']):>6}",
        f"{'IoU AUC over thresholds':<24} {_percent(attention['iou_auc']):>6}",
        f"{'chance (box share)':<24} {_percent(attention['chance']):>6}",
    ]
