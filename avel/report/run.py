"""Train the planned runs that are missing or unfinished, and record the hardware each one ran on.

A run is done when last.pt reached the asked epochs and best.pt carries its test metrics (train()
adds them after the last epoch). Anything else is handed to train(), which resumes from last.pt.
The hardware of each run is kept in its own directory (hardware.txt) and its ledger record
(avel/report/ledger.py, written when the run finishes), so the report, rendered later and maybe
elsewhere, still states where the numbers came from.

Several report processes may share one runs folder (on a machine with more cores than one run
can use, or to split a long plan): a process trains a run only while it holds the run's lock
file (flock, released by the OS even if the process dies), so each takes different runs. It
first trains every run nobody else holds, then waits for the others and trains any left
unfinished, so every process ends with the whole plan done and can render the report.
"""

from __future__ import annotations

import fcntl
import logging
import os
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from avel.analysis.realdev import clips_digest
from avel.bench.boxes import read_object_boxes
from avel.common.config import ReportConfig
from avel.common.device import resolve_device
from avel.report.ledger import (
    benchmark_fingerprint,
    code_version,
    config_key,
    matching_record,
    read_ledger,
    record_path,
    stored_modality_swap,
    stored_real_footage,
    write_record,
)
from avel.report.plan import REPORT_SPLIT, Plan, RunSpec, run_config, run_dir
from avel.training.checkpoint import read_checkpoint
from avel.training.evaluate import evaluate_checkpoint
from avel.training.train import BEST, LAST, read_history, train

log = logging.getLogger(__name__)

HARDWARE_FILE = "hardware.txt"  # in each run directory: one line describing the hardware
RECORD_DEVICE = "cpu"  # attention accuracy of a record: the same on every machine
LOCK_FILE = ".lock"  # in each run directory: held by the process training the run
RUN_STATUSES = ("missing", "partial", "done")


@dataclass(frozen=True)
class RunState:
    """How far a run directory got."""

    status: str  # one of RUN_STATUSES
    epochs_done: int
    epochs: int  # asked for


def run_state(out: Path, epochs: int) -> RunState:
    """Read last.pt and best.pt; a run trained past `epochs` is refused, not silently reported."""
    if not (out / LAST).is_file():
        return RunState("missing", 0, epochs)
    done = int(read_checkpoint(out / LAST)["epoch"])
    if done > epochs:
        raise ValueError(
            f"{out}: trained for {done} epochs, expected at most {epochs}; "
            "repeat the --epochs/--cml-epochs it was trained with, or use another --runs folder"
        )
    finished = (
        done == epochs
        and (out / BEST).is_file()
        and read_checkpoint(out / BEST)["metrics"].get("test") is not None
    )
    return RunState("done" if finished else "partial", done, epochs)


def plan_states(plan: Plan, config: ReportConfig) -> dict[str, RunState]:
    """The state of every planned run, in plan order: done when the ledger holds its record (its
    run directory may be gone), else what its run directory shows."""
    records = read_ledger(config, benchmark_fingerprint(config.data))
    states = {}
    for name, spec in plan.runs.items():
        epochs = config.epochs_for(spec.task)
        if matching_record(records, config, name, config_key(run_config(config, spec), epochs)):
            states[name] = RunState("done", epochs, epochs)
        else:
            states[name] = run_state(run_dir(config, spec), epochs)
    return states


def run_record(
    config: ReportConfig, spec: RunSpec, hardware: str | None, wall_seconds: float | None
) -> dict[str, Any]:
    """The ledger record of a finished run, read from its run directory (avel/report/ledger.py).
    Attention accuracy is scored here on the test split when the data has object boxes."""
    out, epochs = run_dir(config, spec), config.epochs_for(spec.task)
    run = run_config(config, spec)
    best = read_checkpoint(out / BEST)
    boxes = read_object_boxes(config.data)
    attention = None
    if boxes is not None:
        attention = evaluate_checkpoint(out / BEST, config.data, "test", RECORD_DEVICE, boxes)["attention"]
    return {
        "name": spec.name,
        "fingerprint": benchmark_fingerprint(config.data),
        "code_version": code_version(),
        "config": config_key(run, epochs),
        "best_epoch": int(best["epoch"]),
        "val": best["metrics"]["val"],
        "test": best["metrics"]["test"],
        "attention": attention,
        "history": read_history(out, epochs),
        "wall_seconds": None if wall_seconds is None else round(wall_seconds, 3),
        "hardware": hardware,
    }


def _cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what `platform` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def describe_hardware(device: torch.device) -> str:
    """One line: CPU model and cores, torch version and threads, and the GPU when training used one."""
    parts = [
        f"CPU {_cpu_model()} ({os.cpu_count()} logical cores)",
        f"torch {torch.__version__} with {torch.get_num_threads()} threads",
    ]
    if device.type == "cuda":
        parts.append(f"GPU {torch.cuda.get_device_name(device)}")
    return ", ".join(parts)


@contextmanager
def claim_run(out: Path, *, wait: bool) -> Iterator[bool]:
    """Hold the run's lock for the block; yields False at once if another process holds it and
    `wait` is off (with `wait`, blocks until that process is done)."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / LOCK_FILE, "a", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _train_claimed(plan: Plan, config: ReportConfig, name: str, hardware: str, *, wait: bool) -> bool | None:
    """Train `name` if this process gets its lock: True trained, False found done, None deferred
    (held by another process, or its init is not done yet)."""
    spec = plan.runs[name]
    out = run_dir(config, spec)
    with claim_run(out, wait=wait) as claimed:
        if not claimed:
            return None
        if run_state(out, config.epochs_for(spec.task)).status == "done":  # another process did it,
            if not record_path(config.ledger, name).is_file():  # or a report before the ledger
                write_record(config.ledger, run_record(config, spec, _hardware_of(out), None))
            return False
        init = spec.init
        if (
            init is not None
            and run_state(run_dir(config, init), config.epochs_for(init.task)).status != "done"
        ):
            return None
        log.info("training %s", name)
        start = time.perf_counter()
        train(run_config(config, spec))
        wall_seconds = time.perf_counter() - start
        (out / HARDWARE_FILE).write_text(hardware + "\n", encoding="utf-8")
        write_record(config.ledger, run_record(config, spec, hardware, wall_seconds))
        return True


def real_footage_runs(plan: Plan) -> list[str]:
    """The main section's SEL and WSEL runs: the ones the report scores on the real clips."""
    return [name for name in plan.sections.get("main", []) if plan.runs[name].task != "cml"]


def checkpoint_runs(plan: Plan, config: ReportConfig) -> list[str]:
    """The runs whose best.pt the report reads besides their record: the main section's first-seed
    SEL runs (Figs. 4 and 7 evaluate the models), the main SEL runs whose record holds no modality
    swap check yet and, when --real-clips is given, the real_footage_runs whose record holds no
    score on those clips yet; the rest renders from the ledger."""
    records = read_ledger(config, benchmark_fingerprint(config.data))
    main_sel = [name for name in plan.sections.get("main", []) if plan.runs[name].task == "sel"]
    needed = [
        name
        for name in main_sel
        if plan.runs[name].seed == config.seeds[0]
        or stored_modality_swap(records.get(name), REPORT_SPLIT, config.swap_seed) is None
    ]
    if config.real_clips is not None:
        digest = clips_digest(config.real_clips)
        needed += [
            name for name in real_footage_runs(plan) if stored_real_footage(records.get(name), digest) is None
        ]
    return [name for name in plan.runs if name in needed]


def runs_to_train(plan: Plan, config: ReportConfig, states: dict[str, RunState]) -> list[str]:
    """Runs not done, plus the runs done only in the ledger whose best.pt is still needed: the init
    of a run to train (a record cannot start a CML run) and the checkpoint_runs; in plan order."""
    missing = {name for name, state in states.items() if state.status != "done"}
    on_disk = {plan.runs[name].init.name for name in missing if plan.runs[name].init is not None}
    on_disk |= set(checkpoint_runs(plan, config))

    def lacks_checkpoint(spec: RunSpec) -> bool:
        return run_state(run_dir(config, spec), config.epochs_for(spec.task)).status != "done"

    return [
        name
        for name, spec in plan.runs.items()
        if name in missing or (name in on_disk and lacks_checkpoint(spec))
    ]


def _hardware_of(out: Path) -> str | None:
    """hardware.txt of a run directory (None: not trained by the report command)."""
    path = out / HARDWARE_FILE
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def train_missing(plan: Plan, config: ReportConfig, *, progress: bool = False) -> list[str]:
    """Train (or resume) every run that is not done, inits first; returns the names this process
    trained (other processes sharing the runs folder may train the rest, see the module doc)."""
    pending = runs_to_train(plan, config, plan_states(plan, config))
    log.info("%d of %d runs to train under %s", len(pending), len(plan.runs), config.runs)
    hardware = describe_hardware(resolve_device(config.device))
    trained: list[str] = []
    with tqdm(total=len(pending), desc="runs", unit="run", disable=not progress) as bar:
        for wait in (False, True):  # first the runs nobody holds, then wait for the others
            deferred = []
            for name in pending:
                outcome = _train_claimed(plan, config, name, hardware, wait=wait)
                if outcome is None:
                    deferred.append(name)
                    continue
                trained += [name] if outcome else []
                bar.update()
            pending = deferred
    if pending:  # only if an init failed to finish, which train() reports by raising
        raise RuntimeError(f"runs left untrained under {config.runs}: {', '.join(pending)}")
    return trained
