"""`python -m avel <command>`: one argparse subcommand per module.

Each module in COMMANDS exposes `register(subparsers) -> None`, which adds its subparser and
sets `func` (called with the parsed arguments). Adding a command is one line here.
The commands print their results; the library underneath only logs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

from avel import __version__, bundle, calibrate, distributed, evaluate, explore, extract, localizer, train
from avel.bench import cli as bench_cli
from avel.report import cli as report_cli

COMMANDS: tuple[ModuleType, ...] = (
    train,
    evaluate,
    calibrate,
    extract,
    explore,
    localizer,
    bench_cli,
    report_cli,
    bundle,
)
LOG_LEVELS = ("debug", "info", "warning", "error")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every command's subparser."""
    parser = argparse.ArgumentParser(
        prog="python -m avel", description="Audio-visual event localization (Xue et al., IEEE TMM)."
    )
    parser.add_argument("--version", action="version", version=f"avel {__version__}")
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="info", help="library log messages")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, run the command, and turn expected failures (bad input, missing files) into one line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        args.func(args)
    except (ValueError, FileNotFoundError) as err:
        parser.exit(2, f"{parser.prog} {args.command}: error: {err}\n")
    finally:
        distributed.shutdown()  # under torchrun: leave the process group cleanly (no-op otherwise)
    return 0
