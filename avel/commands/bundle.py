"""`python -m avel bundle`: copy trained checkpoints into one folder that shares one projection.

    python -m avel bundle --out checkpoints coatt_sel.pt=runs/report/sel-coatt-full-seed0/best.pt ...

Each checkpoint of a feature folder carries the same 3.1 MB PCA projection; bundled, it is stored
once (`projection.pt`) and each checkpoint names it, which keeps `checkpoints/` under 50 MB.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from avel.commands.args import strict_named_path
from avel.training.checkpoint import bundle_checkpoints


def _run(args: argparse.Namespace) -> None:
    written = bundle_checkpoints(dict(args.checkpoints), args.out)
    print(f"bundled {len(args.checkpoints)} checkpoint(s) into {args.out}: {written / 2**20:.1f} MB")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `bundle` to the command line (avel/commands/__init__.py)."""
    parser = subparsers.add_parser(
        "bundle", help="copy checkpoints into a folder sharing one projection file"
    )
    parser.add_argument("checkpoints", nargs="+", type=strict_named_path, metavar="NAME=CHECKPOINT")
    parser.add_argument("--out", type=Path, required=True, help="the folder (e.g. checkpoints)")
    parser.set_defaults(func=_run)
