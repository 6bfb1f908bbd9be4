"""`python -m avel evaluate`: the command line over avel.training.evaluate."""

from __future__ import annotations

import argparse
import json

from avel.bench.boxes import read_object_boxes
from avel.common.config import DEVICES
from avel.training.evaluate import evaluate_checkpoint, format_tables


def _run(args: argparse.Namespace) -> None:
    # a composite benchmark's manifest knows where the event object is: score the attention too
    boxes = read_object_boxes(args.data)
    result = evaluate_checkpoint(args.checkpoint, args.data, args.split, args.device, boxes)
    print(format_tables(result))
    for warning in result["warnings"]:
        print(f"warning: {warning}")
    if args.json:
        print(json.dumps(result))


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `evaluate` to the command line (avel/commands/__init__.py)."""
    parser = subparsers.add_parser("evaluate", help="score a trained run on a split, as in Tables II-V")
    parser.add_argument("checkpoint", help="run directory (uses its best.pt) or a checkpoint file")
    parser.add_argument("--data", required=True, help="AVE-layout feature folder")
    parser.add_argument("--split", choices=("test", "val"), default="test")
    parser.add_argument("--device", choices=DEVICES, default="auto")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the results")
    parser.set_defaults(func=_run)
