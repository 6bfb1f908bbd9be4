"""`python -m avel summarize`: the command line over avel.analysis.dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

from avel.analysis.dataset import summarize_dataset
from avel.analysis.summary import build_maps, save_summary
from avel.bench.boxes import read_object_boxes
from avel.commands.args import config_from_args, named_path
from avel.common.config import DEVICES, SummaryConfig
from avel.common.device import resolve_device
from avel.training.checkpoint import load_checkpoint


def _run(args: argparse.Namespace) -> None:
    device = resolve_device(args.device)
    models = {}
    for name, path in args.checkpoints:
        models[name] = load_checkpoint(path, device)
    config = config_from_args(SummaryConfig, args)
    boxes = read_object_boxes(args.data)  # a composite benchmark: attention accuracy too
    summary = build_maps(summarize_dataset(models, args.data, args.split, boxes), config)
    summary.source = args.source or f"{Path(args.data).name}, {args.split} split"
    save_summary(summary, args.out)
    accuracy = ", ".join(f"{name} {100 * m.accuracy:.1f}%" for name, m in summary.models.items())
    size_mb = args.out.stat().st_size / 2**20
    print(f"wrote {args.out} ({size_mb:.1f} MB): {summary.labels.size} seconds, accuracy {accuracy}")
    if summary.attention_measured:
        pointing = ", ".join(
            f"{name} {100 * m.attention['pointing']:.1f}%"
            for name, m in summary.models.items()
            if m.attention
        )
        print(f"attention pointing game: {pointing or 'no model has spatial attention'}")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `summarize` to the command line (avel/commands/__init__.py)."""
    parser = subparsers.add_parser(
        "summarize", help="store a split's scores, labels and t-SNE maps for the app's dataset tab"
    )
    parser.add_argument(
        "checkpoints", nargs="+", type=named_path, metavar="NAME=CHECKPOINT", help="e.g. Co-attention=x.pt"
    )
    parser.add_argument("--data", required=True, help="the AVE-layout folder")
    parser.add_argument("--split", choices=("test", "val", "train"), default="test")
    parser.add_argument("--out", type=Path, required=True, help="the .npz to write")
    parser.add_argument("--source", default="", help="how the app names the data (default: folder, split)")
    parser.add_argument("--max-points", type=int, default=SummaryConfig.max_points)
    parser.add_argument("--device", choices=DEVICES, default="auto")
    parser.set_defaults(func=_run)
