"""avel: audio-visual event localization with the co-attention model of Xue et al. (IEEE TMM).

The package's public facade: `avel.localize(path, ...)` (avel/analysis/localize.py), imported on first use
so that `import avel` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__version__ = "0.1.0"


def localize(
    path: str | Path,
    checkpoints: dict[str, str | Path] | None = None,
    config: Any = None,
    device: str = "auto",
) -> dict[str, Any]:
    """One clip's per-second answers and event segments as a JSON-ready dict (see avel.analysis.localize)."""
    from avel.analysis.localize import localize as run

    return run(path, checkpoints, config, device)
