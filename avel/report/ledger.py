"""The results ledger: one small JSON record per finished run, committed so results outlive sessions.

A session may lose its runs folder (checkpoints are large and not committed), but the ledger
(ReportConfig.ledger, default results/runs/) keeps what the report states of each run: its
config, the benchmark's fingerprint, the code version, per-epoch history, val/test metrics,
attention accuracy, training and wall time, machine, for the main SEL/WSEL runs their score on
the real clips (REAL_FOOTAGE_FIELD) and for the main SEL runs their modality swap check
(MODALITY_SWAP_FIELD), each added when the report first computes it. `report` trains
only the planned runs the ledger lacks and reads the tables from the records. Records of another
benchmark are refused, never mixed: a ledger describes one benchmark.

The fingerprint (benchmark_fingerprint) is the SHA-256 of the files that define which videos
are in which split and how their features were made: features.json (extractor, backbones,
projection id; not whether the projection was fitted or reused), composite.json (the composite
benchmark's plan and ground truth), categories.txt and every *_order*.h5. The feature arrays
themselves are not hashed (gigabytes; they follow from those files). Official AVE features have
no features.json or composite.json, so only their orders and categories count.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any

from avel import __version__
from avel.common.config import ReportConfig, RunConfig
from avel.common.files import atomic_write
from avel.data.features_info import FEATURES_INFO_FILE
from avel.data.layout import CATEGORIES_FILE

FINGERPRINT_FILES = (FEATURES_INFO_FILE, "composite.json", CATEGORIES_FILE)
FINGERPRINT_PATTERN = "*_order*.h5"
# features.json's projection fields that tell its history, not which features the files hold
PROJECTION_HISTORY_FIELDS = ("source", "visual_explained", "audio_explained")
# a record's score on a real-clip set: {"digest": clips_digest, "clips": folder name, "score": ModelScore}
REAL_FOOTAGE_FIELD = "real_footage"
# a record's modality swap check: {"split": split, "seed": derangement seed, "accuracy": SWAP_KEYS -> acc}
MODALITY_SWAP_FIELD = "modality_swap"
# TrainConfig fields that say where or how fast a run trained, not what it is: not compared.
UNCOMPARED_TRAIN_FIELDS = ("device", "init")


def benchmark_fingerprint(data_dir: str | Path) -> str:
    """SHA-256 over the names and bytes of the files that define the benchmark (module doc)."""
    root = Path(data_dir)
    paths = [root / name for name in FINGERPRINT_FILES if (root / name).is_file()]
    paths += sorted(root.glob(FINGERPRINT_PATTERN))
    if not paths:
        raise ValueError(f"{root.name}: no order files to fingerprint; is it an AVE-layout folder?")
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + _defining_bytes(path) + b"\0")
    return digest.hexdigest()


def _defining_bytes(path: Path) -> bytes:
    """The file's bytes; for features.json without what only says how its projection came to be
    (fitted here or reused, the variance it explains): `make app-data` re-projects a finished build
    with the bundled projection.pt, the same PCA it was trained with, and must keep its ledger."""
    if path.name != FEATURES_INFO_FILE:
        return path.read_bytes()
    info = json.loads(path.read_text(encoding="utf-8"))
    for field in PROJECTION_HISTORY_FIELDS:
        (info.get("projection") or {}).pop(field, None)
    return json.dumps(info, sort_keys=True).encode("utf-8")


def code_version() -> str:
    """`git rev-parse HEAD` of the checkout avel runs from, else the package version."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"avel {__version__}"


def config_key(run: RunConfig, epochs: int) -> dict[str, Any]:
    """What makes two runs the same run: model and train config (less UNCOMPARED_TRAIN_FIELDS) and
    the epochs trained (TrainConfig.epochs may be None for the paper's)."""
    train = {k: v for k, v in asdict(run.train).items() if k not in UNCOMPARED_TRAIN_FIELDS}
    return json.loads(json.dumps({"model": asdict(run.model), "train": train, "epochs": epochs}))


def record_path(ledger: str | Path, name: str) -> Path:
    """LEDGER/<run name>.json"""
    return Path(ledger) / f"{name}.json"


def write_record(ledger: str | Path, record: dict[str, Any]) -> Path:
    """Write one run's record atomically (a reader never sees half of one); returns its path."""
    path = record_path(ledger, record["name"])
    atomic_write(path, (json.dumps(record, indent=1, sort_keys=True) + "\n").encode("utf-8"))
    return path


def add_to_record(ledger: str | Path, name: str, field: str, value: Any) -> None:
    """Set one field of a run's record as it is on disk now, so fields added by other steps of the
    same report (real-clip score, modality check) are kept, not overwritten by a stale copy."""
    path = record_path(ledger, name)
    write_record(ledger, {**json.loads(path.read_text(encoding="utf-8")), field: value})


def read_ledger(config: ReportConfig, fingerprint: str) -> dict[str, dict[str, Any]]:
    """Run name -> record of every record under the ledger; refuses records of another benchmark."""
    records = {}
    for path in sorted(Path(config.ledger).glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("fingerprint") != fingerprint:
            raise ValueError(
                f"{config.ledger}/{path.name}: recorded on another benchmark (fingerprint "
                f"{str(record.get('fingerprint'))[:12]}, {Path(config.data).name} is {fingerprint[:12]}); "
                "a ledger holds one benchmark: use another --ledger"
            )
        records[record["name"]] = record
    return records


def stored_real_footage(record: dict[str, Any] | None, digest: str) -> dict[str, Any] | None:
    """The run's score (ModelScore.to_dict()) on the real-clip set with this clips_digest, if its
    record holds one; None when the record is missing, unscored or scored on other clips."""
    stored = (record or {}).get(REAL_FOOTAGE_FIELD)
    return stored["score"] if stored is not None and stored["digest"] == digest else None


def stored_modality_swap(record: dict[str, Any] | None, split: str, seed: int) -> dict[str, float] | None:
    """The run's modality swap accuracies on `split` with derangement `seed`, if its record holds
    them; None when the record is missing, unchecked or checked another way."""
    stored = (record or {}).get(MODALITY_SWAP_FIELD)
    if stored is None or (stored["split"], stored["seed"]) != (split, seed):
        return None
    return stored["accuracy"]


def matching_record(
    records: dict[str, dict[str, Any]], config: ReportConfig, name: str, key: dict[str, Any]
) -> dict[str, Any] | None:
    """The record of run `name` if it exists; refused when it was trained with another config
    (e.g. other --epochs), which a quick check must not overwrite."""
    record = records.get(name)
    if record is not None and record["config"] != key:
        raise ValueError(
            f"{config.ledger}/{name}.json: recorded with another config than this report asks for "
            "(e.g. other --epochs); repeat its options or use another --ledger"
        )
    return record
