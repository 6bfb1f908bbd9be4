"""Checkpoints that rebuild themselves: weights plus everything needed to use them.

A checkpoint is a plain dict (strings, numbers, lists, dicts, tensors) saved with `torch.save`
so `torch.load(..., weights_only=True)` can read it without executing code:

    format         FORMAT
    model_config   asdict(ModelConfig)       rebuilds the network
    train_config   asdict(TrainConfig)
    classes        list of class names        index = output unit
    feature_dims   asdict(FeatureDims)        the features the model was trained on
    features       {"info": FeaturesInfo.to_dict() or None, "projection": projection.pt dict or None}; a
                   bundled checkpoint has "projection": None, "projection_file" (beside it) and
                   "projection_id" instead, so several checkpoints share one file (`bundle`)
    provenance     {"train_rows": rows of the AVE files it trained on, "val_rows": the rows that
                    selected its epoch, "init_test_overlap": CML test rows its --init
                    (train_config.init) trained or selected on (None: no check)}
    metrics        {"val": {...}, "test": {...}}
    calibration    optional, SEL/WSEL: the abstention threshold set on validation (avel/training/calibrate.py)
    trained_classes optional: the classes with training seconds (the rest were never learned)
    epoch          last finished epoch (1-based)
    model_state    state_dict

`last.pt` adds "optimizer", "rng" and "best_val" so a run resumes exactly (avel/training/train.py).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from avel.common.calibration import Calibration
from avel.common.config import ModelConfig, TrainConfig, from_dict
from avel.common.files import atomic_path
from avel.data import FeatureDims
from avel.data.features_info import FeaturesInfo
from avel.features.projection import PROJECTION_FILE, Projection
from avel.models import build_model

log = logging.getLogger(__name__)

FORMAT = "avel.checkpoint/1"  # bump when the dict's keys or meaning change
REQUIRED_KEYS = ("format", "model_config", "train_config", "classes", "feature_dims", "model_state")
MAX_LISTED = 5  # mismatching tensors named in an error message
BEST, LAST = "best.pt", "last.pt"  # a run directory's selected and latest checkpoints (training.train)


@dataclass
class LoadedModel:
    """A checkpoint's model (eval mode, on its device) and the facts needed to use it."""

    model: nn.Module
    model_config: ModelConfig
    train_config: TrainConfig
    classes: tuple[str, ...]
    feature_dims: FeatureDims
    features_info: FeaturesInfo | None  # how its training features were extracted; None: unknown
    projection: Projection | None  # the PCA it applies to native backbone features, if any
    metrics: dict[str, Any]
    epoch: int
    path: Path
    calibration: Calibration | None = None  # None: never calibrated, so it never abstains
    trained_classes: tuple[str, ...] | None = None  # None: unknown (all classes are assumed)
    # how it scored on real clips (`score-clips --store`, avel/analysis/realdev.py); None: never scored
    real_footage: dict[str, Any] | None = None

    @property
    def abstain_threshold(self) -> float | None:
        """The top probability below which the model abstains; None: uncalibrated, never abstains."""
        return None if self.calibration is None else self.calibration.threshold

    @property
    def unsure_mass(self) -> float | None:
        """The top-2 mass at or above which an abstained second is "unsure"; None: all are "unknown"."""
        return None if self.calibration is None else self.calibration.unsure_mass


def read_features(data_dir: str | Path) -> dict[str, Any]:
    """A data folder's extraction record as a checkpoint stores it: {"info", "projection"}.

    Either entry is None when its file is absent (e.g. the official AVE features, which have no
    extractor record and no projection).
    """
    data_dir = Path(data_dir)
    info = FeaturesInfo.read(data_dir)
    projection_path = data_dir / PROJECTION_FILE
    projection = (
        torch.load(projection_path, map_location="cpu", weights_only=True)
        if projection_path.is_file()
        else None
    )
    return {"info": None if info is None else info.to_dict(), "projection": projection}


def make_checkpoint(
    model: nn.Module,
    model_config: ModelConfig,
    train_config: TrainConfig,
    classes: tuple[str, ...],
    feature_dims: FeatureDims,
    features: dict[str, Any],
    metrics: dict[str, Any],
    epoch: int,
) -> dict[str, Any]:
    """The checkpoint dict of the module docstring (weights copied to CPU)."""
    return {
        "format": FORMAT,
        "model_config": asdict(model_config),
        "train_config": asdict(train_config),
        "classes": list(classes),
        "feature_dims": asdict(feature_dims),
        "features": features,
        "metrics": metrics,
        "epoch": epoch,
        "model_state": {name: value.detach().cpu().clone() for name, value in model.state_dict().items()},
    }


def save_checkpoint(checkpoint: dict[str, Any], path: str | Path) -> None:
    """Write atomically (temporary file + rename) so an interrupted save never leaves half a file."""
    with atomic_path(Path(path)) as tmp:
        torch.save(checkpoint, tmp)


def checkpoint_path(path: str | Path) -> Path:
    """A checkpoint file, or a run directory's best.pt when given a directory."""
    path = Path(path)
    return path / BEST if path.is_dir() else path


def _first_line(err: Exception) -> str:
    """An error's first line: torch.load's unpickling errors run to a page, a message stays one line."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The raw checkpoint dict after checking it is one; ValueError says what was expected vs found."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load fails on garbage in many ways (unpickling, struct, zip, EOF)
        raise ValueError(
            f"{path}: expected an avel checkpoint (torch.save dict), cannot read it: {_first_line(err)}"
        ) from err
    if not isinstance(checkpoint, dict):
        raise ValueError(f"{path}: expected a checkpoint dict, found {type(checkpoint).__name__}")
    if checkpoint.get("format") != FORMAT:
        raise ValueError(f"{path}: expected checkpoint format {FORMAT!r}, found {checkpoint.get('format')!r}")
    missing = [key for key in REQUIRED_KEYS if key not in checkpoint]
    if missing:
        raise ValueError(f"{path}: checkpoint lacks keys {missing} (expected {list(REQUIRED_KEYS)})")
    return checkpoint


def _check_dims(path: Path, config: ModelConfig, dims: FeatureDims, num_classes: int, features: dict) -> None:
    """The model config, the feature dims, the class list and the projection must agree."""
    pairs = [
        ("audio_dim", config.audio_dim, dims.audio_dim),
        ("visual_dim", config.visual_dim, dims.visual_dim),
        ("grid_h", config.grid_h, dims.grid_h),
        ("grid_w", config.grid_w, dims.grid_w),
        ("num_classes", config.num_classes, num_classes),
    ]
    projection = (features or {}).get("projection")
    if projection is not None:
        pairs += [
            ("projection audio_out_dim", dims.audio_dim, projection.get("audio_out_dim")),
            ("projection visual_out_dim", dims.visual_dim, projection.get("visual_out_dim")),
        ]
    wrong = [
        f"{name}: expected {expected}, found {found}" for name, expected, found in pairs if expected != found
    ]
    if wrong:
        raise ValueError(f"{path}: model config and features disagree: {'; '.join(wrong)}")


def check_state_shapes(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor], where: str) -> None:
    """Raise a ValueError listing missing, unexpected and wrongly shaped tensors (never torch's traceback)."""
    problems = [
        f"missing {name} {tuple(value.shape)}" for name, value in expected.items() if name not in found
    ]
    problems += [f"unexpected {name}" for name in found if name not in expected]
    problems += [
        f"{name}: expected {tuple(value.shape)}, found {tuple(found[name].shape)}"
        for name, value in expected.items()
        if name in found and tuple(found[name].shape) != tuple(value.shape)
    ]
    if problems:
        shown = "; ".join(problems[:MAX_LISTED]) + (
            f"; ... {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        )
        raise ValueError(f"{where}: weights do not fit the model described by its model_config: {shown}")


def _shared_projection(path: Path, features: dict[str, Any]) -> dict[str, Any]:
    """`features` with the projection of a bundled checkpoint read from the file beside it.

    The name may only be a file beside the checkpoint: a path (absolute, `..`, a sub-folder) would
    let a downloaded checkpoint make the app read any file on the server.
    """
    name = features.get("projection_file")
    if features.get("projection") is not None or not name:
        return features
    if not isinstance(name, str) or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"{path}: its projection_file must name a file beside it, not {name!r}")
    shared = path.parent / name
    if not shared.is_file():
        raise ValueError(f"{path}: its feature projection {name} is missing beside it")
    try:
        projection = torch.load(shared, map_location="cpu", weights_only=True)
        found = Projection.from_dict(projection).id
    except Exception as err:  # garbage fails torch.load or from_dict in many ways (zip, EOF, keys, types)
        reason = _first_line(err)
        raise ValueError(f"{path}: its feature projection {name} is not readable ({reason})") from err
    if found != features.get("projection_id"):
        raise ValueError(f"{path}: {name} is not the projection it was trained with (another id)")
    return {**features, "projection": projection}


def check_finite_weights(state: dict[str, torch.Tensor], where: str) -> None:
    """Refuse weights with NaN or infinity: such a model would answer every clip with garbage."""
    bad = [
        name for name, value in state.items() if value.is_floating_point() and not torch.isfinite(value).all()
    ]
    if bad:
        shown = ", ".join(bad[:MAX_LISTED]) + (
            f" and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
        )
        raise ValueError(
            f"{where}: weights contain NaN or infinite values ({shown}); retrain or use another file"
        )


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild the model of a checkpoint and load its weights (eval mode)."""
    path = Path(path)
    checkpoint = read_checkpoint(path)
    config = from_dict(ModelConfig, checkpoint["model_config"])
    dims = from_dict(FeatureDims, checkpoint["feature_dims"])
    classes = tuple(checkpoint["classes"])
    features = _shared_projection(path, checkpoint.get("features") or {"info": None, "projection": None})
    _check_dims(path, config, dims, len(classes), features)
    model = build_model(config)
    check_state_shapes(model.state_dict(), checkpoint["model_state"], str(path))
    check_finite_weights(checkpoint["model_state"], str(path))
    model.load_state_dict(checkpoint["model_state"])
    return LoadedModel(
        model=model.to(device).eval(),
        model_config=config,
        train_config=from_dict(TrainConfig, checkpoint["train_config"]),
        classes=classes,
        feature_dims=dims,
        features_info=None if features.get("info") is None else FeaturesInfo.from_dict(features["info"]),
        projection=None
        if features.get("projection") is None
        else Projection.from_dict(features["projection"]),
        metrics=checkpoint.get("metrics") or {},
        epoch=int(checkpoint.get("epoch", 0)),
        path=path,
        calibration=_calibration(path, checkpoint.get("calibration")),
        trained_classes=None
        if checkpoint.get("trained_classes") is None
        else tuple(checkpoint["trained_classes"]),
        real_footage=checkpoint.get("real_footage"),
    )


def _calibration(path: Path, record: dict[str, Any] | None) -> Calibration | None:
    if record is None:
        return None
    calibration = Calibration.from_dict(record)
    if not 0.0 <= calibration.threshold <= 1.0:
        raise ValueError(f"{path}: its abstention threshold {calibration.threshold} is not a probability")
    return calibration


def check_data_matches(
    loaded: LoadedModel, dims: FeatureDims, classes: tuple[str, ...], data_dir: Path
) -> None:
    """Refuse to evaluate a checkpoint on features of other sizes, classes or backbones."""
    wrong = [
        f"{name}: expected {getattr(loaded.feature_dims, name)}, found {getattr(dims, name)}"
        for name in ("audio_dim", "visual_dim", "grid_h", "grid_w")
        if getattr(loaded.feature_dims, name) != getattr(dims, name)
    ]
    if tuple(classes) != loaded.classes:
        differ = next(
            (i for i, pair in enumerate(zip(loaded.classes, classes, strict=False)) if len(set(pair)) > 1),
            None,
        )
        detail = (
            ""
            if differ is None
            else f", first difference at {differ}: {loaded.classes[differ]!r} vs {classes[differ]!r}"
        )
        wrong.append(f"classes: expected {len(loaded.classes)}, found {len(classes)}{detail}")
    current_info = FeaturesInfo.read(data_dir)
    stored = {} if loaded.features_info is None else loaded.features_info.basis()
    current = {} if current_info is None else current_info.basis()
    wrong += [
        f"{key}: expected {stored[key]!r}, found {current[key]!r}"
        for key in sorted(stored.keys() & current.keys())
        if stored[key] != current[key]
    ]
    if wrong:
        raise ValueError(f"features in {data_dir} do not match checkpoint {loaded.path}: {'; '.join(wrong)}")


def init_from_checkpoint(model: nn.Module, path: str | Path) -> tuple[list[str], list[str]]:
    """Copy the tensors of another checkpoint whose name and shape match (e.g. CML from MMEL).

    Returns (loaded, skipped) tensor names of `model`; raises when nothing matches, since a
    silent no-op would train from scratch while the user believes otherwise.
    """
    source = read_checkpoint(path)["model_state"]
    target = model.state_dict()
    loaded = [name for name, value in target.items() if name in source and source[name].shape == value.shape]
    skipped = [name for name in target if name not in loaded]
    if not loaded:
        raise ValueError(
            f"--init {path}: no tensor matches the model in name and shape (expected some of {len(target)})"
        )
    model.load_state_dict({name: source[name] for name in loaded}, strict=False)
    log.info("init from %s: loaded %d tensors, skipped %d", path, len(loaded), len(skipped))
    log.debug("init loaded: %s", ", ".join(loaded))
    if skipped:
        log.info("init skipped (new or reshaped): %s", ", ".join(skipped))
    return loaded, skipped


def bundle_checkpoints(
    sources: dict[str, Path], out_dir: Path, projection_file: str = PROJECTION_FILE
) -> int:
    """Copy checkpoints into `out_dir` under the given names, with their (identical) feature
    projection stored once as `projection_file` beside them instead of inside each file.

    Weights, configs and metrics are copied unchanged (fp32), so `evaluate` reproduces every stored
    metric. Returns the bytes written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    shared_id, written = None, 0
    for name, source in sources.items():
        checkpoint = read_checkpoint(source)
        features = dict(checkpoint.get("features") or {})
        projection = features.get("projection")
        if projection is not None:
            projection_id = Projection.from_dict(projection).id
            if shared_id is None:
                save_checkpoint(projection, out_dir / projection_file)
                shared_id = projection_id
            elif projection_id != shared_id:
                raise ValueError(f"{source}: its projection differs from the others'; bundle them apart")
            features.update(projection=None, projection_file=projection_file, projection_id=projection_id)
        checkpoint["features"] = features
        save_checkpoint(checkpoint, out_dir / name)
        written += (out_dir / name).stat().st_size
    if shared_id is not None:
        written += (out_dir / projection_file).stat().st_size
    return written
