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

Under torchrun the same command trains with DistributedDataParallel (docs/distributed.md):
    torchrun --nproc_per_node 4 -m avel train --task sel --data data/ave --out runs/sel_coatt
--batch-size stays the global batch, only rank 0 writes the run directory.
"""

from __future__ import annotations

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
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from avel.common import distributed
from avel.common.config import (
    ModelConfig,
    RunConfig,
    TrainConfig,
    from_dict,
)
from avel.common.device import resolve_device
from avel.data import AVEDirectory, AVESplit, FeatureDims
from avel.models import build_model, compute_loss
from avel.models.scaling import rms
from avel.training.checkpoint import (
    BEST,
    LAST,
    init_from_checkpoint,
    make_checkpoint,
    read_checkpoint,
    read_features,
    save_checkpoint,
)
from avel.training.evaluate import evaluate_model, run_split, selection_metric

log = logging.getLogger(__name__)

HISTORY, CONFIG = "history.jsonl", "config.json"  # beside BEST and LAST (avel/training/checkpoint.py)
# Settings a resumed run may change: more epochs to continue a finished run, another device, the
# early-stopping patience.
RESUMABLE_CHANGES = ("epochs", "device", "patience")
# Validation metrics kept in history.jsonl (the per-class table and confusion stay in best.pt).
HISTORY_METRICS = ("accuracy", "a2v", "v2a", "average")
# --init keeps the init's input scale; a training split whose RMS differs more than this warns.
INIT_SCALE_TOLERANCE = 0.1
# The InputScale buffers: copied by --init when the init has them.
INPUT_SCALE_STATE = ("input_scale.audio_rms", "input_scale.visual_rms")


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
    scheduler: torch.optim.lr_scheduler.LRScheduler,
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
        scheduler.step()  # per iteration, as the released code steps its StepLR
        total += loss.item() * len(batch["audio"])
        count += len(batch["audio"])
    total, count = distributed.all_reduce_sums([total, count])  # over every rank's videos
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


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig
) -> torch.optim.lr_scheduler.LRScheduler:
    """TrainConfig.lr_schedule as a per-iteration scheduler ("constant": a factor of 1)."""
    gamma = config.lr_gamma if config.lr_schedule == "step" else 1.0
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.lr_step_iterations, gamma=gamma)


def check_train_rows(data: AVEDirectory, task: str, match: bool | None) -> None:
    """Refuse a training order that repeats rows (those videos would weigh double) or holds test
    rows (the reported test accuracy would be measured on videos the model trained on)."""
    train_rows = data.order("train", task, match)
    values, counts = np.unique(train_rows, return_counts=True)
    repeated = values[counts > 1].tolist()
    leaked = sorted(set(train_rows.tolist()) & set(data.order("test", task, match).tolist()))
    problems = [
        f"{len(found)} {what} (rows {', '.join(map(str, found[:5]))}{', ...' if len(found) > 5 else ''})"
        for what, found in (("repeated rows", repeated), ("rows that are also test rows", leaked))
        if found
    ]
    if problems:
        raise ValueError(
            f"{data.root}: the {task} training order has {' and '.join(problems)}; fix the order files"
        )


def check_init_overlap(init: str, data: AVEDirectory, config: TrainConfig) -> int:
    """Rows of the CML test split that the --init checkpoint trained or selected on (0 when clean).

    Raises unless `config.allow_init_overlap`: a CML model started from such an init has seen its
    own test videos, in training (in the real AVE files train_order holds 314 of the 402
    test_order_match rows) or in the choice of its epoch (its validation rows). The clean path:
    an SEL init trained with --orders match.
    """
    checkpoint = read_checkpoint(init)
    provenance = checkpoint.get("provenance") or {}
    if "train_rows" not in provenance:
        if config.allow_init_overlap:
            return -1  # unknown, accepted by the override
        raise ValueError(
            f"--init {init}: the checkpoint does not record its training rows, so it cannot be "
            "checked against the CML test split; pass --allow-init-overlap to use it anyway"
        )
    overlap = data.cml_test_overlap([*provenance["train_rows"], *_init_val_rows(checkpoint, data)])
    if overlap and not config.allow_init_overlap:
        raise ValueError(
            f"--init {init} trained or selected on {overlap} of the {len(data.order('test', 'cml'))} CML "
            "test videos (test_order_match); train the init with --orders match (SEL on "
            "train_order_match, selected on val_order_match), or pass --allow-init-overlap, which the "
            "checkpoint and the report then record"
        )
    return overlap


def _init_val_rows(checkpoint: dict[str, Any], data: AVEDirectory) -> list[int]:
    """The rows that selected the init's epoch: recorded since issue 23; for an older checkpoint,
    the validation order its stored task and --orders pick in this data folder."""
    provenance = checkpoint.get("provenance") or {}
    if "val_rows" in provenance:
        return list(provenance["val_rows"])
    task = checkpoint["model_config"]["task"]
    orders = from_dict(TrainConfig, checkpoint["train_config"]).match_orders
    return data.order("val", task, orders).tolist()


def fit_input_scale(model: nn.Module, train_set: AVESplit, scale_from_init: bool) -> None:
    """Set the model's input scale from the training rows (the only split a run may fit on).

    After --init the layers it copied were trained on features divided by the init's scale, so
    that scale is kept; a training split whose RMS differs by more than INIT_SCALE_TOLERANCE from
    it gets a warning (the copied layers then see features of another size than they learned on).
    """
    if not scale_from_init:
        model.input_scale.fit(train_set.audio, train_set.visual)
        return
    kept = model.input_scale
    for name, kept_rms, array in (
        ("audio", kept.audio_rms, train_set.audio),
        ("visual", kept.visual_rms, train_set.visual),
    ):
        fitted = rms(array)
        if abs(fitted / float(kept_rms) - 1.0) > INIT_SCALE_TOLERANCE:
            log.warning(
                "--init: kept its %s input scale %.4g; this run's training rows have RMS %.4g",
                name,
                float(kept_rms),
                fitted,
            )


@dataclass
class _Session:
    """What one call of train() works with, once the run directory is set up."""

    out: Path
    task: str
    data: AVEDirectory
    classes: tuple[str, ...]
    dims: FeatureDims
    model_config: ModelConfig
    train_config: TrainConfig
    device: torch.device
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    generator: torch.Generator
    features: dict[str, Any]
    provenance: dict[str, Any]
    ranks: distributed.Context  # a plain Context outside torchrun; only rank 0 writes files
    start_epoch: int = 1
    best_val: float = -1.0
    best_epoch: int = 0
    scale_from_init: bool = False  # --init copied the input scale (fit_input_scale keeps it)

    def dataset(self, split: str, background: bool = False) -> AVESplit:
        return run_split(self.data, split, self.task, self.train_config, background)

    def checkpoint(self, epoch: int, val: dict[str, Any]) -> dict[str, Any]:
        metrics = {"val": val, "test": None}  # test: filled in for best.pt once training ends
        state = make_checkpoint(
            self.model,
            self.model_config,
            self.train_config,
            self.classes,
            self.dims,
            self.features,
            metrics,
            epoch,
        )
        state["provenance"] = self.provenance
        return state


def _open_run(run: RunConfig) -> _Session:
    """Read the data, build the model and its optimizer, and resume or initialise them."""
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
    ranks, device = distributed.setup(resolve_device(train_config.device))
    distributed.local_batch(train_config.batch_size, ranks)  # refuse an uneven split before any work
    generator = seed_everything(train_config.seed)
    model = build_model(model_config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=train_config.lr)
    train_rows = data.order("train", task, train_config.match_orders).tolist()
    check_train_rows(data, task, train_config.match_orders)
    val_rows = data.order("val", task, train_config.match_orders).tolist()
    session = _Session(
        out=out,
        task=task,
        data=data,
        classes=classes,
        dims=dims,
        model_config=model_config,
        train_config=train_config,
        device=device,
        model=model,
        optimizer=optimizer,
        scheduler=make_scheduler(optimizer, train_config),
        generator=generator,
        features=read_features(run.data),
        # --init: in train_config; val_rows selected the epoch, so a CML init checks them too
        provenance={"train_rows": train_rows, "val_rows": val_rows, "init_test_overlap": None},
        ranks=ranks,
    )
    if (out / LAST).is_file():
        _check_resumable(out, config)
        _resume(session)
    elif train_config.init:
        if task == "cml":
            session.provenance["init_test_overlap"] = check_init_overlap(
                train_config.init, data, train_config
            )
        loaded, _ = init_from_checkpoint(model, train_config.init)
        session.scale_from_init = all(name in loaded for name in INPUT_SCALE_STATE)
    if ranks.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        history = read_history(out, session.start_epoch - 1)
        (out / HISTORY).write_text("".join(json.dumps(record) + "\n" for record in history), encoding="utf-8")
    return session


def _resume(session: _Session) -> None:
    """Restore weights, optimizer, schedule, RNG states and the best-so-far from last.pt."""
    last = read_checkpoint(session.out / LAST)
    session.model.load_state_dict(last["model_state"])
    session.optimizer.load_state_dict(last["optimizer"])
    session.scheduler.load_state_dict(last["scheduler"])
    restore_rng_state(last["rng"], session.generator)
    session.provenance = last.get("provenance", session.provenance)
    session.start_epoch, session.best_val, session.best_epoch = (
        last["epoch"] + 1,
        last["best_val"],
        last["best_epoch"],
    )
    log.info(
        "resuming %s after epoch %d (best val %.4f at epoch %d)",
        session.out,
        last["epoch"],
        last["best_val"],
        last["best_epoch"],
    )


def _record_epoch(session: _Session, epoch: int, loss: float, val: dict[str, Any], seconds: float) -> float:
    """Keep best.pt if validation improved, append history.jsonl, then write last.pt; returns
    the epoch's selection metric.

    last.pt goes last: a crash before it replays this epoch, and read_history drops its line.
    """
    metric = selection_metric(val, session.task)  # validation only: the test split never selects
    improved = metric > session.best_val
    if improved:
        session.best_val, session.best_epoch = metric, epoch
    if not session.ranks.is_main:
        return metric  # every rank evaluated the same full split: the same best-so-far, no files
    if improved:
        save_checkpoint(session.checkpoint(epoch, val), session.out / BEST)
    record = {
        "epoch": epoch,
        "loss": loss,
        **{f"val_{key}": val[key] for key in HISTORY_METRICS if key in val},
        "best": improved,
        "lr": session.optimizer.param_groups[0]["lr"],
        "seconds": round(seconds, 3),
    }
    with (session.out / HISTORY).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    state = session.checkpoint(epoch, val)
    state.update(
        optimizer=session.optimizer.state_dict(),
        scheduler=session.scheduler.state_dict(),
        rng=rng_state(session.generator),
        best_val=session.best_val,
        best_epoch=session.best_epoch,
    )
    save_checkpoint(state, session.out / LAST)
    log.info(
        "epoch %d/%d: loss %.4f, val %.4f (best %.4f at epoch %d)",
        epoch,
        session.train_config.epochs,
        loss,
        metric,
        session.best_val,
        session.best_epoch,
    )
    return metric


def _score_best_on_test(session: _Session) -> TrainResult:
    """Score best.pt once on the test split and store the result in it."""
    distributed.barrier()  # rank 0 has written best.pt
    best = read_checkpoint(session.out / BEST)
    session.model.load_state_dict(best["model_state"])
    best["metrics"]["test"] = evaluate_model(
        session.model, session.dataset("test"), session.task, session.classes, session.device, strict_cml=True
    )
    if session.ranks.is_main:
        save_checkpoint(best, session.out / BEST)
    distributed.barrier()  # best.pt is final when train() returns, on every rank
    log.info(
        "best epoch %d: val %.4f, test %.4f",
        session.best_epoch,
        session.best_val,
        selection_metric(best["metrics"]["test"], session.task),
    )
    return TrainResult(
        session.out,
        session.best_epoch,
        session.train_config.epochs,
        best["metrics"]["val"],
        best["metrics"]["test"],
    )


def _train_loader(session: _Session, train_set: AVESplit) -> DataLoader:
    """Batches of the training split: shuffled by the run's generator in a single process; under
    torchrun a DistributedSampler (seed = the run's, permutation per epoch) gives each rank
    batch_size / world_size videos, so one step of all ranks sees one global batch of batch_size.
    """
    config, ranks = session.train_config, session.ranks
    if not ranks.launched:
        return DataLoader(train_set, batch_size=config.batch_size, shuffle=True, generator=session.generator)
    sampler = DistributedSampler(
        train_set, num_replicas=ranks.world_size, rank=ranks.rank, shuffle=True, seed=config.seed
    )
    batch_size = distributed.local_batch(config.batch_size, ranks)
    log.info(
        "rank %d takes %d of each global batch of %d (%d of the %d training videos an epoch)",
        ranks.rank,
        batch_size,
        config.batch_size,
        sampler.num_samples,
        len(train_set),
    )
    return DataLoader(train_set, batch_size=batch_size, sampler=sampler)


def patience_exhausted(next_epoch: int, best_epoch: int, patience: int | None) -> bool:
    """Early stopping's rule: `patience` epochs in a row (next_epoch - 1 back to best_epoch + 1)
    brought no better validation score; never with patience None. The report replays it on finished
    runs' histories (avel/report/results.py), so both read it here."""
    return patience is not None and next_epoch - 1 - best_epoch >= patience


def train(run: RunConfig, *, progress: bool = False) -> TrainResult:
    """Train `run.model` on `run.data` into `run.out`, resuming from `run.out/last.pt` if present:
    set the run up, fit the input scale on the training split (a new run only; after --init the
    init's is kept, fit_input_scale), train epoch by
    epoch selecting on validation, then score the selected epoch on the test split."""
    session = _open_run(run)
    config = session.train_config
    train_set = session.dataset("train", background=config.weak_background)
    val_set = session.dataset("val")
    if session.start_epoch == 1 and config.fit_input_scale:
        fit_input_scale(session.model, train_set, session.scale_from_init)
    loader = _train_loader(session, train_set)
    network = distributed.wrap(session.model, session.ranks, session.device)  # DDP under torchrun
    epochs = tqdm(
        range(session.start_epoch, config.epochs + 1),
        desc=f"{session.task}/{session.model_config.model}",
        initial=session.start_epoch - 1,
        total=config.epochs,
        disable=None if progress and session.ranks.is_main else True,  # None: hidden when not a terminal
    )
    for epoch in epochs:
        if patience_exhausted(epoch, session.best_epoch, config.patience):
            # checked before the epoch, so a resumed run that had already run out stops at once
            log.info("early stop before epoch %d: no better validation for %d epochs", epoch, config.patience)
            break
        started = time.perf_counter()
        if isinstance(loader.sampler, DistributedSampler):
            loader.sampler.set_epoch(epoch)  # the epoch's permutation: seed + epoch, the same on every rank
        loss = _train_epoch(
            network,
            loader,
            session.optimizer,
            session.scheduler,
            session.model_config,
            session.device,
            progress and session.ranks.is_main,
        )
        val = evaluate_model(session.model, val_set, session.task, session.classes, session.device)
        metric = _record_epoch(session, epoch, loss, val, time.perf_counter() - started)
        epochs.set_postfix(
            loss=f"{loss:.4f}", val=f"{metric:.4f}", best=f"{session.best_val:.4f}@{session.best_epoch}"
        )
    return _score_best_on_test(session)
