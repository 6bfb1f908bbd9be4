"""What every command's argument parsing shares: NAME=PATH pairs and config dataclasses from arguments.

The library takes config objects, never an argparse.Namespace; these two helpers are the whole
bridge, so a new option is one `add_argument` whose dest is the config field's name.
"""

from __future__ import annotations

import argparse
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

Config = TypeVar("Config")


def named_path(text: str) -> tuple[str, Path]:
    """`NAME=PATH` -> (NAME, PATH); a bare PATH is named by its file stem (`coatt_sel.pt` -> coatt_sel)."""
    name, sep, path = text.partition("=")
    if not sep:
        return Path(text).stem, Path(text)
    if not name or not path:
        raise argparse.ArgumentTypeError(
            f"expected NAME=PATH such as Co-attention=coatt_sel.pt, got {text!r}"
        )
    return name, Path(path)


def strict_named_path(text: str) -> tuple[str, Path]:
    """`NAME=PATH` where the name must be given (it becomes a file name, e.g. `bundle`)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(
            f"expected NAME=PATH such as coatt_sel.pt=runs/x/best.pt, got {text!r}"
        )
    return named_path(text)


def config_from_args(cls: type[Config], args: argparse.Namespace, **given: Any) -> Config:
    """A config dataclass from the arguments whose dest is one of its fields.

    An argument left at None keeps the field's default; `given` sets fields the command computes.
    """
    assert is_dataclass(cls)
    values = {
        f.name: getattr(args, f.name)
        for f in fields(cls)
        if f.init and getattr(args, f.name, None) is not None
    }
    return cls(**{**values, **given})


def add_checkpoint_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    """`--checkpoint [NAME=]FILE`, repeatable: the models a command compares (localize, score-clips)."""
    parser.add_argument(
        "--checkpoint", action="append", default=[], type=named_path, metavar="[NAME=]FILE", help=help_text
    )
