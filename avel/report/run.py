"""Train the planned runs that are missing or unfinished, and record the hardware each one ran on.

A run is done when last.pt reached the asked epochs and best.pt carries its test metrics (train()
adds them after the last epoch). Anything else is handed to train(), which resumes from last.pt.
The hardware of each run is kept in its own directory (hardware.txt), so the report, rendered
later and maybe elsewhere, still states where the numbers came from.

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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from avel.common.config import ReportConfig
from avel.common.device import resolve_device
from avel.report.plan import Plan, run_config, run_dir
from avel.training.checkpoint import read_checkpoint
from avel.training.train import BEST, LAST, train

log = logging.getLogger(__name__)

HARDWARE_FILE = "hardware.txt"  # in each run directory: one line describing the hardware
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
    """The state of every planned run, in plan order."""
    return {
        name: run_state(run_dir(config, spec), config.epochs_for(spec.task))
        for name, spec in plan.runs.items()
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


def read_hardware(runs: str | Path) -> dict[str, str]:
    """Run name -> hardware description, for the runs `avel report` trained (empty if none)."""
    files = sorted(Path(runs).glob(f"*/{HARDWARE_FILE}"))
    return {path.parent.name: path.read_text(encoding="utf-8").strip() for path in files}


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
        if run_state(out, config.epochs_for(spec.task)).status == "done":  # another process did it
            return False
        init = spec.init
        if (
            init is not None
            and run_state(run_dir(config, init), config.epochs_for(init.task)).status != "done"
        ):
            return None
        log.info("training %s", name)
        run = run_config(config, spec)
        train(run)
        (out / HARDWARE_FILE).write_text(hardware + "\n", encoding="utf-8")
        return True


def train_missing(plan: Plan, config: ReportConfig, *, progress: bool = False) -> list[str]:
    """Train (or resume) every run that is not done, inits first; returns the names this process
    trained (other processes sharing the runs folder may train the rest, see the module doc)."""
    states = plan_states(plan, config)
    pending = [name for name, state in states.items() if state.status != "done"]
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
