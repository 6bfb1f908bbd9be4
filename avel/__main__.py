"""Entry point of `python -m avel`, the same as the `avel` console script (avel/commands/__init__.py)."""

from avel.commands import run

run()
