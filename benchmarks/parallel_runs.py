"""Two training runs on a 2-core CPU: side by side on one thread each, or one after the other on
all threads? The report (`make results`, `make checkpoints`) takes the first; this measures it.

    python -m benchmarks.parallel_runs --data ~/.cache/avel/bench-full [--task sel] [--model coatt]
        [--epochs 2] [--rounds 1]

Each round trains the same two runs (seeds 0 and 1, `python -m avel train`, into a temporary
folder) twice: once as two processes at the same time with OMP_NUM_THREADS=1 ("side by side"),
once one process after the other with OMP_NUM_THREADS=<cores> ("in turn"), the order alternating
between rounds so a change in the machine's load falls on both. A run's wall time includes its
start-up and data loading, as in the report. Prints wall seconds per mode and round, the ratio
in turn / side by side (above 1: side by side finishes sooner) and the load average; asserts
nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SEEDS = (0, 1)  # the two runs of each mode


def _command(data: Path, out: Path, task: str, model: str, epochs: int, seed: int) -> list[str]:
    return [
        sys.executable, "-m", "avel", "train", "--task", task, "--model", model, "--seed", str(seed),
        "--epochs", str(epochs), "--data", str(data), "--out", str(out / f"seed{seed}"),
    ]  # fmt: skip


def _log_path(command: list[str]) -> Path:
    """A run's log file, beside its output (--out is the command's last argument)."""
    return Path(command[-1]).with_suffix(".log")


def _launch(command: list[str], threads: int) -> subprocess.Popen:
    """Start a run on `threads` threads, its log in a file beside its output: a pipe that nobody
    reads while the other run is awaited would fill and stall the run it belongs to."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    with _log_path(command).open("wb") as handle:
        return subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT)


def _wait(process: subprocess.Popen) -> None:
    if process.wait():
        log = _log_path(process.args)
        raise RuntimeError(f"a run failed: {log.read_text(errors='replace')[-2000:]}")


def side_by_side(commands: list[list[str]]) -> float:
    """Wall seconds until every run, each started at once on one thread, has finished."""
    started = time.perf_counter()
    for process in [_launch(c, 1) for c in commands]:
        _wait(process)
    return time.perf_counter() - started


def in_turn(commands: list[list[str]], threads: int) -> float:
    """Wall seconds for the runs one after the other, each on `threads` threads."""
    started = time.perf_counter()
    for command in commands:
        _wait(_launch(command, threads))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="a built benchmark (bench build)")
    parser.add_argument("--task", default="sel", choices=("sel", "wsel"))
    parser.add_argument("--model", default="coatt", choices=("coatt", "baseline"))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(f"{args.model} {args.task}, {args.epochs} epoch(s) per run, seeds {SEEDS}, {cores} cores")
    ratios = []
    for round_index in range(args.rounds):
        walls = {}
        modes = ("side by side", "in turn") if round_index % 2 == 0 else ("in turn", "side by side")
        for mode in modes:
            with tempfile.TemporaryDirectory(prefix="avel-parallel-") as folder:
                commands = [
                    _command(args.data, Path(folder), args.task, args.model, args.epochs, seed)
                    for seed in SEEDS
                ]
                walls[mode] = side_by_side(commands) if mode == "side by side" else in_turn(commands, cores)
        ratios.append(walls["in turn"] / walls["side by side"])
        print(
            f"round {round_index + 1}: side by side (2 x 1 thread) {walls['side by side']:.1f} s, "
            f"in turn (1 x {cores} threads) {walls['in turn']:.1f} s, ratio {ratios[-1]:.2f}, "
            f"load average {os.getloadavg()[0]:.1f}"
        )
    print(f"in turn / side by side, mean over {len(ratios)} round(s): {sum(ratios) / len(ratios):.2f}")


if __name__ == "__main__":
    main()
