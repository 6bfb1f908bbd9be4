"""Train one model on one task, select it on the validation split, report it on the test split.

    python -m avel train --task sel --model coatt --data data/ave --out runs/sel_coatt
    python -m avel train --task wsel --model baseline --data data/ave --out runs/wsel_base
    python -m avel train --task cml --model coatt --data data/ave --out runs/cml_coatt \\
        --init runs/sel_coatt/best.pt          # the paper starts CML from the MMEL model
    python -m avel train --task sel --ablation cspa --lambda 1.0 ...   # Table V / Fig. 5

Paper settings (Sec. IV-A): Adam, lr 1e-3, batch 64 and 300 epochs for SEL/WSEL, batch 32 and
30 epochs for CML (TrainConfig.resolved). The run directory holds:
    config.json    the run's ModelConfig (dims read from the data) and resolved TrainConfig
    history.jsonl  one line per epoch: mean training loss and validation metrics
    last.pt        checkpoint + optimizer + RNG states: running the same command again resumes
    best.pt        the epoch with the best validation metric, with its test metrics added
The test split is scored once, for best.pt only; it never influences selection.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from avel.checkpoint import (
    BEST,
    LAST,
    init_from_checkpoint,
    make_checkpoint,
    read_checkpoint,
    read_features,
    save_checkpoint,
)
from avel.config import ABLATIONS, DEVICES, MODALITIES, MODELS, TASKS, ModelConfig, RunConfig, TrainConfig
from avel.data import AVEDirectory, FeatureDims
from avel.device import resolve_device
from avel.evaluate import evaluate_model, selection_metric
from avel.models import build_model, compute_loss

log = logging.getLogger(__name__)

HISTORY, CONFIG = "history.jsonl", "config.json"  # beside BEST and LAST (avel/checkpoint.py)
# Settings a resumed run may change: more epochs to continue a finished run, another device.
RESUMABLE_CHANGES = ("epochs", "device")
# The ModelConfig field that --lambda sets: the CSPA stream's loss weight of each task (eq. 5-7).
# Validation metrics kept in history.jsonl (the per-class table and confusion stay in best.pt).
HISTORY_METRICS = ("accuracy", "a2v", "v2a", "average")


@dataclass
class TrainResult:
    """Where a run lives and what its best checkpoint scored."""

    out: Path
    best_epoch: int
    epochs: int
    val: dict[str, Any]
    test: dict[str, Any]


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return the generator that shuffles the training batches."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


def rng_state(generator: torch.Generator) -> dict[str, Any]:
    """Every random state a resumed run needs, as tensors and plain types (weights_only-safe)."""
    numpy_state = np.random.get_state()
    version, internal, gauss = random.getstate()
    return {
        "python": [version, list(internal), gauss],
        "numpy": [numpy_state[0], torch.from_numpy(numpy_state[1].copy()), *map(float, numpy_state[2:])],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "loader": generator.get_state(),
    }


def restore_rng_state(state: dict[str, Any], generator: torch.Generator) -> None:
    """Inverse of rng_state; CUDA states are restored only when this machine has the same devices."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy(), int(position), int(has_gauss), cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    generator.set_state(state["loader"])


def _check_resumable(out: Path, config: dict[str, Any]) -> None:
    """Refuse to resume a run directory that was written for different settings."""
    stored = json.loads((out / CONFIG).read_text(encoding="utf-8"))
    config = json.loads(json.dumps(config))  # tuples -> lists, as they were stored
    differences = [
        f"{section}.{key}: expected {stored.get(section, {}).get(key)!r}, found {value!r}"
        for section in ("model", "train")
        for key, value in config[section].items()
        if key not in RESUMABLE_CHANGES and stored.get(section, {}).get(key) != value
    ]
    if differences:
        raise ValueError(
            f"{out / CONFIG} belongs to another run ({'; '.join(differences)}); "
            "use a new --out, or repeat the original command to resume"
        )


def read_history(out: Path, last_epoch: int) -> list[dict[str, Any]]:
    """A run's history.jsonl records up to `last_epoch` (an interrupted save may have left one more)."""
    path = Path(out) / HISTORY
    if not path.is_file():
        return []
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [record for record in records if record["epoch"] <= last_epoch]


def _train_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    config: ModelConfig,
    device: torch.device,
    progress: bool,
) -> float:
    """One pass over the training split; returns the mean loss per video."""
    model.train()
    total, count = 0.0, 0
    for batch in tqdm(loader, desc="batches", leave=False, disable=None if progress else True):
        batch = {name: value.to(device, non_blocking=True) for name, value in batch.items()}
        output = model(batch["audio"], batch["visual"])
        loss = compute_loss(output, batch, config)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(batch["audio"])
        count += len(batch["audio"])
    return total / count


def fit_to_data(config: ModelConfig, dims: FeatureDims, classes: tuple[str, ...]) -> ModelConfig:
    """A copy whose input sizes and class count are the data's: they are read, never assumed."""
    return replace(
        config,
        audio_dim=dims.audio_dim,
        visual_dim=dims.visual_dim,
        grid_h=dims.grid_h,
        grid_w=dims.grid_w,
        num_classes=len(classes),
    )


def _resume(
    out: Path, model: nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator
) -> tuple[int, float, int]:
    """Restore weights, optimizer and RNG states from last.pt; returns (next epoch, best val, best epoch)."""
    last = read_checkpoint(out / LAST)
    model.load_state_dict(last["model_state"])
    optimizer.load_state_dict(last["optimizer"])
    restore_rng_state(last["rng"], generator)
    log.info(
        "resuming %s after epoch %d (best val %.4f at epoch %d)",
        out,
        last["epoch"],
        last["best_val"],
        last["best_epoch"],
    )
    return last["epoch"] + 1, last["best_val"], last["best_epoch"]


def train(run: RunConfig, *, progress: bool = False) -> TrainResult:
    """Train `run.model` on `run.data` into `run.out`, resuming from `run.out/last.pt` if present."""
    task = run.model.task
    train_config = run.train.resolved(task)
    if train_config.epochs < 1 or train_config.batch_size < 1:
        raise ValueError(
            f"epochs and batch size must be >= 1, got {train_config.epochs} and {train_config.batch_size}"
        )
    data = AVEDirectory(run.data)
    dims, classes = data.dims, tuple(data.classes)
    model_config = fit_to_data(run.model, dims, classes)
    out = Path(run.out)
    config = {
        "data": str(Path(run.data).resolve()),
        "out": str(out.resolve()),
        "model": asdict(model_config),
        "train": asdict(train_config),
    }
    device = resolve_device(train_config.device)
    generator = seed_everything(train_config.seed)
    model = build_model(model_config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=train_config.lr)
    start_epoch, best_val, best_epoch = 1, -1.0, 0
    if (out / LAST).is_file():
        _check_resumable(out, config)
        start_epoch, best_val, best_epoch = _resume(out, model, optimizer, generator)
    elif train_config.init:
        init_from_checkpoint(model, train_config.init)
    out.mkdir(parents=True, exist_ok=True)
    (out / CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    history = read_history(out, start_epoch - 1)
    (out / HISTORY).write_text("".join(json.dumps(record) + "\n" for record in history), encoding="utf-8")

    modalities = train_config.modalities
    train_set = data.dataset("train", task, background=train_config.weak_background, modalities=modalities)
    val_set = data.dataset("val", task, modalities=modalities)
    loader = DataLoader(train_set, batch_size=train_config.batch_size, shuffle=True, generator=generator)
    features = read_features(run.data)

    def checkpoint(epoch: int, val: dict[str, Any]) -> dict[str, Any]:
        metrics = {"val": val, "test": None}  # test: filled in for best.pt once training ends
        return make_checkpoint(model, model_config, train_config, classes, dims, features, metrics, epoch)

    epochs = tqdm(
        range(start_epoch, train_config.epochs + 1),
        desc=f"{task}/{model_config.model}",
        initial=start_epoch - 1,
        total=train_config.epochs,
        disable=None if progress else True,  # None: tqdm hides itself when not a terminal
    )
    for epoch in epochs:
        started = time.perf_counter()
        loss = _train_epoch(model, loader, optimizer, model_config, device, progress)
        val = evaluate_model(model, val_set, task, classes, device)
        metric = selection_metric(val, task)  # validation only: the test split never selects
        improved = metric > best_val
        if improved:
            best_val, best_epoch = metric, epoch
            save_checkpoint(checkpoint(epoch, val), out / BEST)
        record = {
            "epoch": epoch,
            "loss": loss,
            **{f"val_{key}": val[key] for key in HISTORY_METRICS if key in val},
            "best": improved,
            "seconds": round(time.perf_counter() - started, 3),
        }
        with (out / HISTORY).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        # last.pt goes last: a crash before it replays this epoch, and read_history drops its line.
        state = checkpoint(epoch, val)
        state.update(
            optimizer=optimizer.state_dict(),
            rng=rng_state(generator),
            best_val=best_val,
            best_epoch=best_epoch,
        )
        save_checkpoint(state, out / LAST)
        epochs.set_postfix(loss=f"{loss:.4f}", val=f"{metric:.4f}", best=f"{best_val:.4f}@{best_epoch}")
        log.info(
            "epoch %d/%d: loss %.4f, val %.4f (best %.4f at epoch %d)",
            epoch,
            train_config.epochs,
            loss,
            metric,
            best_val,
            best_epoch,
        )

    best = read_checkpoint(out / BEST)
    model.load_state_dict(best["model_state"])
    best["metrics"]["test"] = evaluate_model(
        model, data.dataset("test", task, modalities=modalities), task, classes, device
    )
    save_checkpoint(best, out / BEST)
    log.info(
        "best epoch %d: val %.4f, test %.4f",
        best_epoch,
        best_val,
        selection_metric(best["metrics"]["test"], task),
    )
    return TrainResult(out, best_epoch, train_config.epochs, best["metrics"]["val"], best["metrics"]["test"])


def _run(args: argparse.Namespace) -> None:
    model_config = ModelConfig(model=args.model, task=args.task, ablation=args.ablation)
    if args.stream_weight is not None:
        model_config = model_config.with_cspa_weight(args.stream_weight)
    train_config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        device=args.device,
        init=args.init,
        weak_background=not args.no_weak_background,
        modalities=args.modalities,
    )
    result = train(
        RunConfig(data=args.data, out=args.out, model=model_config, train=train_config), progress=True
    )
    name = "mean of A2V and V2A" if args.task == "cml" else "segment accuracy"
    print(f"run: {result.out} (best.pt, last.pt, history.jsonl, config.json)")
    print(f"best epoch {result.best_epoch} of {result.epochs}, selected on validation {name}")
    for split in ("val", "test"):
        scores = result.val if split == "val" else result.test
        shown = ", ".join(
            f"{key} {100 * scores[key]:.1f}%" for key in (*HISTORY_METRICS, "chance") if key in scores
        )
        print(f"  {split}: {shown}")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `train` to the command line (avel/cli.py)."""
    defaults = TrainConfig()
    parser = subparsers.add_parser("train", help="train a model on SEL, WSEL or CML (resumes if interrupted)")
    parser.add_argument("--task", choices=TASKS, required=True)
    parser.add_argument("--model", choices=MODELS, default="coatt")
    parser.add_argument("--ablation", choices=ABLATIONS, default="full", help="Table V variant (coatt only)")
    parser.add_argument("--data", required=True, help="AVE-layout feature folder")
    parser.add_argument("--out", required=True, help="run directory (rerun the same command to resume)")
    parser.add_argument("--epochs", type=int, help="default: the paper's (300 SEL/WSEL, 30 CML)")
    parser.add_argument("--batch-size", type=int, help="default: the paper's (64 SEL/WSEL, 32 CML)")
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--init", help="checkpoint whose matching layers start the model (CML from MMEL)")
    parser.add_argument("--device", choices=DEVICES, default=defaults.device)
    parser.add_argument(
        "--lambda",
        dest="stream_weight",
        metavar="LAMBDA",
        type=float,
        help="the task's CSPA stream weight (Fig. 5 sweep)",
    )
    parser.add_argument(
        "--no-weak-background", action="store_true", help="WSEL: leave out the background-only videos"
    )
    parser.add_argument(
        "--modalities",
        choices=MODALITIES,
        default=defaults.modalities,
        help="train and score on one modality only (the other zeroed): a control",
    )
    parser.set_defaults(func=_run)
