"""Real-time factor and peak memory of `localize` on 1-, 10- and 60-minute clips.

    python -m benchmarks.localize_speed [--minutes 1 10 60] [--fps 25] [-- LOCALIZE OPTIONS]

Options after `--` go to `localize` (e.g. `-- --decode-window 60 --batch-frames 32`, the settings
before the defaults were lowered for memory), so settings can be compared on the same clips.

The test clip is the example clips (assets/) re-encoded as one 60-s video at `--fps` frames per
second, 224 x 224, with their sound; longer clips repeat it by remuxing (no re-encoding), so
every length has the same content per minute. Each length runs `python -m avel localize` with
the bundled models in its own process, timed (wall clock, from after the imports: loading the
models is included) with its peak RSS (ru_maxrss).
Prints the real-time factor (video seconds per wall second), peak RSS and the backbone frames
per second (T x K sampled frames / wall). Targets (issue 13): >= 10x real time, peak RSS under
1.5 GB and flat with length. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import numpy as np

from avel.analysis.localize import default_models
from avel.common.config import FeatureConfig
from avel.features.media import decode_clip, write_clip
from avel.training.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
BASE_SECONDS = 60


def base_clip(path: Path, fps: int) -> Path:
    """60 s of the example clips (looped) at `fps`, 224 x 224, with their audio."""
    examples = sorted((ROOT / "assets").glob("*.mp4"))
    frames, audio, seconds = [], [], 0
    while seconds < BASE_SECONDS:
        clip = decode_clip(examples[(seconds // 10) % len(examples)], FeatureConfig(frames_per_segment=1))
        frames.append(np.repeat(clip.frames[:, 0], fps, axis=0))  # (T * fps, S, S, 3)
        audio.append(clip.audio)
        seconds += clip.num_segments
    write_clip(
        path,
        np.concatenate(frames)[: BASE_SECONDS * fps],
        fps,
        np.concatenate(audio)[: BASE_SECONDS * 16000],
        16000,
    )
    return path


def repeat_clip(source: Path, copies: int, out: Path) -> Path:
    """`copies` x `source` back to back, by shifting packet timestamps (stream copy, no re-encode).

    Each stream's copy starts where that stream's previous copy ended (AAC's padding makes the
    audio a little longer than the video), so timestamps stay monotonic.
    """
    with av.open(str(out), "w") as target:
        with av.open(str(source)) as template:
            kinds = ("video", "audio")
            streams = {
                s.index: target.add_stream_from_template(s) for s in template.streams if s.type in kinds
            }
            first = {}  # per stream: its first dts (negative with B-frames or AAC priming)
            for packet in template.demux():
                if packet.dts is not None and packet.stream.index in streams:
                    first.setdefault(packet.stream.index, packet.dts)
        end = dict(first)  # per stream: where the copies so far end (its time base)
        for _ in range(copies):
            shift = {index: end[index] - first[index] for index in streams}
            with av.open(str(source)) as container:
                for packet in container.demux():
                    if packet.dts is None or packet.stream.index not in streams:
                        continue
                    index = packet.stream.index
                    packet.pts, packet.dts = packet.pts + shift[index], packet.dts + shift[index]
                    end[index] = max(end[index], packet.dts + (packet.duration or 0))
                    packet.stream = streams[index]
                    target.mux(packet)
    return out


def timed_run(path: Path, options: list[str]) -> dict[str, float]:
    """One `localize` run in a fresh process: wall and CPU seconds, peak RSS (MB), load average."""
    argv = ["--log-level", "error", "localize", str(path), *options]
    code = (
        "import json, os, resource, sys, time; from avel.commands import main; "
        "import avel.analysis.localize; "
        "t = time.perf_counter(); "
        f"main({argv!r}); "
        "print(json.dumps({'wall': time.perf_counter() - t, 'cpu': time.process_time(), "
        "'load': os.getloadavg()[0], "
        "'rss': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=int, nargs="+", default=[1, 10, 60])
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("options", nargs="*", help="after --: options for `localize`")
    args = parser.parse_args()
    frames_per_second = load_checkpoint(default_models()["Co-attention"]).features_info.frames_per_segment
    print(f"localize options: {' '.join(args.options) or '(defaults)'}")
    print("| clip | real-time factor | peak RSS (MB) | sampled frames / s | CPU s | load (1 min) |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="avel-localize-speed-") as tmp:
        base = base_clip(Path(tmp) / "base.mp4", args.fps)
        for minutes in args.minutes:
            clip = repeat_clip(base, minutes, Path(tmp) / f"{minutes}min.mp4")
            seconds = minutes * BASE_SECONDS
            run = timed_run(clip, args.options)
            rate = seconds / run["wall"]
            print(
                f"| {minutes} min | {rate:.1f}x | {run['rss']:.0f} "
                f"| {seconds * frames_per_second / run['wall']:.0f} | {run['cpu']:.0f} | {run['load']:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
