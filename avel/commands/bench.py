"""`python -m avel bench ...`: build the composite benchmark, print its statistics, render the examples.

python -m avel bench build --preset tiny --out data/bench-tiny [--seed 0] [--workers 2]
python -m avel bench stats data/bench-tiny
python -m avel bench examples --out assets
python -m avel bench modality-check data/bench-full [--model coatt --epochs 20]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from avel.bench.composite import DEFAULT_AVE, DEFAULT_MEDIA, Sources, build_benchmark
from avel.bench.examples import render_examples
from avel.bench.modality import modality_check
from avel.bench.stats import benchmark_stats, loudness_stats
from avel.common.config import (
    COMPOSITE_PRESETS,
    DEVICES,
    MODELS,
    composite_preset,
)
from avel.data.annotations import read_annotations
from avel.data.layout import ANNOTATIONS_FILE
from avel.features.projection import Projection


def _add_sources(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--media", type=Path, default=DEFAULT_MEDIA, help="the media package (manifest.csv)")
    parser.add_argument("--ave", type=Path, default=DEFAULT_AVE, help="AVE metadata (Annotations.txt)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `bench` with its `build`, `stats` and `examples` subcommands."""
    bench = subparsers.add_parser("bench", help="the composite benchmark made of real photos and recordings")
    commands = bench.add_subparsers(dest="bench_command", required=True, metavar="BENCH_COMMAND")

    build = commands.add_parser("build", help="render the videos, extract features, write the AVE layout")
    build.add_argument("--preset", choices=sorted(COMPOSITE_PRESETS), default="tiny")
    build.add_argument("--out", type=Path, required=True, help="output folder (re-run to resume)")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--workers", type=int, default=2, help="rendering processes")
    build.add_argument(
        "--frames-per-segment", type=int, help="K frames per second for the features (default: the preset's)"
    )
    build.add_argument("--plan-only", action="store_true", help="write the manifest only (for `bench stats`)")
    build.add_argument(
        "--projection",
        type=Path,
        help="project with this projection.pt (e.g. checkpoints/projection.pt, to evaluate the bundled "
        "models) instead of fitting a PCA on the train videos",
    )
    _add_sources(build)
    build.set_defaults(func=_build)

    stats = commands.add_parser("stats", help="print a built benchmark's statistics as Markdown")
    stats.add_argument("dir", type=Path)
    stats.add_argument("--ave", type=Path, default=DEFAULT_AVE, help="AVE metadata, for comparison")
    stats.add_argument(
        "--loudness", action="store_true", help="also decode every video and tabulate its loudness"
    )
    stats.set_defaults(func=_stats)

    check = commands.add_parser(
        "modality-check", help="train SEL on both / audio only / visual only: both must be clearly better"
    )
    check.add_argument("dir", type=Path)
    check.add_argument("--runs", type=Path, default=Path("runs/modality-check"))
    check.add_argument("--model", choices=MODELS, default="coatt")
    check.add_argument("--epochs", type=int, default=20)
    check.add_argument("--seed", type=int, default=0)
    check.add_argument("--margin", type=float, default=0.05, help="required accuracy gap (fraction)")
    check.add_argument("--device", choices=DEVICES, default="auto")
    check.set_defaults(func=_modality_check)

    examples = commands.add_parser("examples", help="render the app's example clips from test media")
    examples.add_argument("--out", type=Path, default=Path("assets"))
    examples.add_argument("--count", type=int, default=5)
    examples.add_argument("--seed", type=int, default=0)
    _add_sources(examples)
    examples.set_defaults(func=_examples)


def _modality_check(args: argparse.Namespace) -> None:
    accuracy = modality_check(
        args.dir, args.runs, model=args.model, epochs=args.epochs, seed=args.seed, device=args.device
    )
    print(f"SEL test accuracy, {args.model}, {args.epochs} epochs, seed {args.seed} (selected on val):")
    for modalities, value in accuracy.items():
        print(f"  {modalities:>6}: {100 * value:.1f}%")
    gap = accuracy["both"] - max(accuracy["audio"], accuracy["visual"])
    verdict = "PASS" if gap >= args.margin else "FAIL"
    print(
        f"{verdict}: both modalities beat the best single one by {100 * gap:.1f} points "
        f"(needed {100 * args.margin:.1f})"
    )
    if verdict == "FAIL":
        raise SystemExit(1)


def _build(args: argparse.Namespace) -> None:
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    overrides = {} if args.frames_per_segment is None else {"frames_per_segment": args.frames_per_segment}
    manifest = build_benchmark(
        args.out,
        composite_preset(args.preset, **overrides),
        seed=args.seed,
        workers=args.workers,
        sources=Sources(args.media, args.ave),
        preset_name=args.preset,
        plan_only=args.plan_only,
        projection=Projection.load(args.projection) if args.projection else None,
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
