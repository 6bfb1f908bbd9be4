"""`python -m avel bench ...`: build the composite benchmark, print its statistics, render the examples.

python -m avel bench build --preset tiny --out data/bench-tiny [--seed 0] [--workers 2]
python -m avel bench stats data/bench-tiny
python -m avel bench examples --out assets
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from avel.data.annotations import read_annotations
from avel.data.composite import DEFAULT_AVE, DEFAULT_MEDIA, Sources, build_benchmark
from avel.data.composite_config import PRESETS, preset
from avel.data.composite_examples import render_examples
from avel.data.composite_stats import benchmark_stats, loudness_stats
from avel.data.layout import ANNOTATIONS_FILE


def _add_sources(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--media", type=Path, default=DEFAULT_MEDIA, help="the media package (manifest.csv)")
    parser.add_argument("--ave", type=Path, default=DEFAULT_AVE, help="AVE metadata (Annotations.txt)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `bench` with its `build`, `stats` and `examples` subcommands."""
    bench = subparsers.add_parser("bench", help="the composite benchmark made of real photos and recordings")
    commands = bench.add_subparsers(dest="bench_command", required=True, metavar="BENCH_COMMAND")

    build = commands.add_parser("build", help="render the videos, extract features, write the AVE layout")
    build.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    build.add_argument("--out", type=Path, required=True, help="output folder (re-run to resume)")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--workers", type=int, default=2, help="rendering processes")
    build.add_argument(
        "--frames-per-segment", type=int, help="K frames per second for the features (default: the preset's)"
    )
    build.add_argument("--plan-only", action="store_true", help="write the manifest only (for `bench stats`)")
    _add_sources(build)
    build.set_defaults(func=_build)

    stats = commands.add_parser("stats", help="print a built benchmark's statistics as Markdown")
    stats.add_argument("dir", type=Path)
    stats.add_argument("--ave", type=Path, default=DEFAULT_AVE, help="AVE metadata, for comparison")
    stats.add_argument(
        "--loudness", action="store_true", help="also decode every video and tabulate its loudness"
    )
    stats.set_defaults(func=_stats)

    examples = commands.add_parser("examples", help="render the app's example clips from test media")
    examples.add_argument("--out", type=Path, default=Path("assets"))
    examples.add_argument("--count", type=int, default=5)
    examples.add_argument("--seed", type=int, default=0)
    _add_sources(examples)
    examples.set_defaults(func=_examples)


def _build(args: argparse.Namespace) -> None:
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    overrides = {} if args.frames_per_segment is None else {"frames_per_segment": args.frames_per_segment}
    manifest = build_benchmark(
        args.out,
        preset(args.preset, **overrides),
        seed=args.seed,
        workers=args.workers,
        sources=Sources(args.media, args.ave),
        preset_name=args.preset,
        plan_only=args.plan_only,
    )
    done = "planned" if args.plan_only else "built"
    print(f"{done} {len(manifest['videos'])} videos of {len(manifest['classes'])} classes in {args.out}")
    print(f"statistics: python -m avel bench stats {args.out}")


def _stats(args: argparse.Namespace) -> None:
    annotations = args.ave / ANNOTATIONS_FILE
    print(benchmark_stats(args.dir, read_annotations(annotations) if annotations.is_file() else None), end="")
    if args.loudness:
        print("\n" + loudness_stats(args.dir), end="")


def _examples(args: argparse.Namespace) -> None:
    for path in render_examples(args.out, args.count, args.seed, Sources(args.media, args.ave)):
        print(f"{path} ({os.path.getsize(path) / 1024:.0f} KB) + {path.with_suffix('.json').name}")
