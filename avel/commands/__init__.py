"""`python -m avel <command>`: one argparse subcommand per module.

Each module in COMMANDS exposes `register(subparsers) -> None`, which adds its subparser and
sets `func` (called with the parsed arguments). Adding a command is one line here.
Only the named command's module is imported: `localize` on an hour of video then does not hold
the plotting and t-SNE libraries that `report` needs (about 150 MB of RSS); `--help` imports all.
The commands print their results; the library underneath only logs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib import import_module

from avel import __version__
from avel.common import distributed

COMMANDS: dict[str, str] = {  # command -> the module that registers it
    name: f"avel.commands.{name.replace('-', '_')}"
    for name in (
        "train",
        "evaluate",
        "calibrate",
        "extract",
        "summarize",
        "localize",
        "score-clips",
        "bench",
        "report",
        "bundle",
    )
}
LOG_LEVELS = ("debug", "info", "warning", "error")


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The top-level parser: the subparser of the command named in `argv`, or of every command."""
    parser = argparse.ArgumentParser(
        prog="python -m avel", description="Audio-visual event localization (Xue et al., IEEE TMM)."
    )
    parser.add_argument("--version", action="version", version=f"avel {__version__}")
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="info", help="library log messages")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    named = [arg for arg in argv if arg in COMMANDS][:1]  # no option value is a command name
    for command in named or COMMANDS:
        import_module(COMMANDS[command]).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, run the command, and turn expected failures (bad input, missing files) into one line."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
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


def run() -> None:
    """The `avel` console script (pyproject.toml): the same as `python -m avel`."""
    raise SystemExit(main())
