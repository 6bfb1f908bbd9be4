"""Where the bundled models are, in a checkout and in an installed package alike."""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

ENV_VAR = "AVEL_CHECKPOINTS"
CHECKOUT = Path(__file__).resolve().parents[2] / "checkpoints"  # a source tree or an editable install
INSTALLED_PARTS = ("share", "avel", "checkpoints")  # pyproject data-files, beside the install's prefix


def bundled_checkpoints() -> Path:
    """$AVEL_CHECKPOINTS when set, else the checkout's checkpoints/, else the installed copy.

    A checkout always uses its own (possibly retrained) models; a package installed with
    `pip install .` finds the copy pip placed under its prefix (or --target), read from its RECORD.
    """
    given = os.environ.get(ENV_VAR)
    if given:
        return Path(given)
    if CHECKOUT.is_dir():
        return CHECKOUT
    installed = _installed_copy()
    if installed is None:
        raise FileNotFoundError(
            f"no bundled checkpoints: not in a checkout ({CHECKOUT}) nor installed with avel; "
            f"set {ENV_VAR} or pass --checkpoint"
        )
    return installed


def _installed_copy() -> Path | None:
    try:
        files = metadata.distribution("avel").files or []
    except metadata.PackageNotFoundError:
        return None
    for file in files:
        if tuple(file.parts[-4:-1]) == INSTALLED_PARTS:
            folder = Path(str(file.locate())).resolve().parent
            return folder if folder.is_dir() else None
    return None
