"""Entry point of `python -m avel` (see avel/commands/__init__.py)."""

from avel.commands import main

raise SystemExit(main())
