"""Extraction throughput under torchrun with 1 and 2 processes (clips/s), for docs/distributed.md.

    python -m benchmarks.extract_scaling                       # 12 clips, 1 and 2 processes, K = 16
    python -m benchmarks.extract_scaling --clips 8 --procs 1 2 4 --fps 16

Writes --clips 10-s AVE-like clips (benchmarks.extract_speed.make_clip: 640 x 360 H.264 at 30 fps,
a real photo panned with per-frame noise, a real recording; each clip its own noise seed, so its own
content hash), then runs `torchrun --standalone --nproc_per_node N -m avel extract CLIPS --out DIR
--device cpu` once per N into a fresh DIR, with OMP_NUM_THREADS = CPUs // N so every run uses all
cores. Two figures per N: end to end (the command's wall time, with interpreter start, backbone
loading and rank 0's merge) and steady (each rank's clips after its first, divided by the time
between its first and last part file, summed over the ranks: extraction alone). Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from avel.bench.composite import DEFAULT_MEDIA
from avel.common.config import FeatureConfig
from avel.features.extract import PARTS_DIR, list_videos
from avel.features.extractor import file_sha256
from benchmarks.extract_speed import make_clip

ROOT = Path(__file__).resolve().parents[1]


def steady_rate(videos: list[Path], out: Path, procs: int) -> float:
    """Clips/s summed over ranks, from the part files' times; rank r's shard is videos[r::procs]."""
    (settings,) = (out / PARTS_DIR).iterdir()
    rate = 0.0
    for rank in range(procs):
        times = sorted((settings / f"{file_sha256(v)}.npz").stat().st_mtime for v in videos[rank::procs])
        if len(times) > 1:
            rate += (len(times) - 1) / (times[-1] - times[0])
    return rate


def run(clips: Path, out: Path, procs: int, fps: int) -> float:
    """Wall seconds of one torchrun extraction of `clips` into `out`."""
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // procs))}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}"]
    command += ["-m", "avel", "--log-level", "warning", "extract", str(clips), "--out", str(out)]
    command += ["--fps", str(fps), "--device", "cpu"]
    started = time.perf_counter()
    subprocess.run(
        command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--fps", type=int, default=FeatureConfig().frames_per_segment, help="K")
    parser.add_argument("--media", type=Path, default=DEFAULT_MEDIA, help="the shared media package")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        clips = Path(tmp) / "clips"
        clips.mkdir()
        for seed in range(args.clips):
            make_clip(clips / f"clip{seed:03d}.mp4", args.media, seed=seed)
        videos = list_videos(clips)
        print(
            f"{args.clips} clips of 10 s, 640x360 H.264 30 fps, K = {args.fps}, --device cpu; "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} before the runs"
        )
        print(f"{'procs':>5} {'wall s':>8} {'end-to-end clips/s':>19} {'steady clips/s':>15} {'load':>5}")
        for procs in args.procs:
            out = Path(tmp) / f"out{procs}"
            wall = run(clips, out, procs, args.fps)
            steady = steady_rate(videos, out, procs)
            print(
                f"{procs:>5} {wall:>8.1f} {args.clips / wall:>19.3f} {steady:>15.3f} "
                f"{os.getloadavg()[0]:>5.1f}"
            )


if __name__ == "__main__":
    main()
