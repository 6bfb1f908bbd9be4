"""The finished training runs under a folder, one row each: the app's Table V analogue."""

from __future__ import annotations

import logging
from pathlib import Path

from avel.training.checkpoint import read_checkpoint
from avel.training.evaluate import selection_metric

log = logging.getLogger(__name__)

RUNS_TABLE_HEADERS = ("run", "model", "ablation", "modalities", "task", "test accuracy (%)")


def runs_table(runs: Path) -> list[list]:
    """One row per finished run under `runs` (its best.pt's test score): a Table V analogue.

    CML rows show the mean of A2V and V2A; runs still training (no test score yet) and files
    that are not avel checkpoints are left out, the latter with a warning.
    """
    rows = []
    for path in sorted(Path(runs).glob("**/best.pt")):
        try:
            checkpoint = read_checkpoint(path)
        except ValueError as err:
            log.warning("skipping %s: %s", path, err)
            continue
        model, test = checkpoint["model_config"], (checkpoint.get("metrics") or {}).get("test")
        if not test:
            continue
        value = selection_metric(test, model["task"])  # CML: mean of A2V and V2A
        modalities = checkpoint["train_config"].get("modalities", "both")
        row = [model["model"], model["ablation"], modalities, model["task"], round(100 * value, 1)]
        rows.append([path.parent.name, *row])
    return rows
