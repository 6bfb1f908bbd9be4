"""Entry point of `python -m avel` (see avel/cli.py)."""

from avel.cli import main

raise SystemExit(main())
