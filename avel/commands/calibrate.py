"""`python -m avel calibrate`: the command line over avel.training.calibrate."""

from __future__ import annotations

import argparse
from pathlib import Path

from avel.bench.stats import open_event_spans
from avel.commands.args import config_from_args
from avel.common.config import DEVICES, CalibrationConfig
from avel.training.calibrate import calibrate_checkpoint


def _run(args: argparse.Namespace) -> None:
    config = config_from_args(CalibrationConfig, args)
    open_spans = open_event_spans(Path(args.data))
    for path in args.checkpoints:
        c = calibrate_checkpoint(path, args.data, config, args.device, open_spans)
        print(
            f"{path}: threshold {c.threshold:.3f} on {c.split} ({c.num_seconds} seconds): keeps "
            f"{100 * c.kept_correct:.1f}% of correct seconds, answers {100 * c.coverage:.1f}%, accuracy "
            f"{100 * c.accuracy_answered:.1f}% on the answered (all: {100 * c.accuracy_all:.1f}%)"
        )
        if c.unsure_mass is not None:
            print(
                f"  abstained seconds are 'unsure' when the top two classes hold >= {c.unsure_mass:.3f}; of "
                f"{c.open_seconds} open-set event seconds {100 * c.open_flagged:.1f}% are "
                f"'not a known event' and {100 * c.open_claimed:.1f}% are named as a trained event; "
                f"{100 * c.known_flagged:.1f}% of known-event seconds are 'not a known event'"
            )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `calibrate` to the command line (avel/commands/__init__.py)."""
    defaults = CalibrationConfig()
    parser = subparsers.add_parser("calibrate", help="set SEL/WSEL checkpoints' abstention threshold")
    parser.add_argument("checkpoints", nargs="+", type=Path, help="checkpoint files, changed in place")
    parser.add_argument("--data", required=True, help="the AVE-layout folder they were trained on")
    parser.add_argument("--split", choices=("val", "train"), default=defaults.split)
    parser.add_argument("--keep-correct", type=float, default=defaults.keep_correct)
    parser.add_argument("--device", choices=DEVICES, default="auto")
    parser.set_defaults(func=_run)
