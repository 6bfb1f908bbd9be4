"""features.json, typed: what the extractor says about a feature folder.

The extractor writes it beside the h5 files (backbones, K, sizes, the PCA used); checkpoints copy
it so the app re-extracts a clip the way the model's training data was extracted, and `evaluate`
refuses features of another basis. The official AVE features have none (`None` everywhere).
A checkpoint stores `to_dict()` (plain types, so `torch.load(weights_only=True)` reads it).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

FEATURES_INFO_FILE = "features.json"
INFO_FORMAT = "avel.features/1"


@dataclass(frozen=True)
class ProjectionInfo:
    """The PCA that mapped native backbone features to the stored sizes (avel/features/projection.py)."""

    file: str  # projection.pt, beside the h5 files
    id: str  # content id: same backbones with another PCA is another basis
    source: Any  # what it was fitted on (a description, or a list of videos)
    visual_explained: float  # fraction of variance kept
    audio_explained: float


@dataclass(frozen=True)
class FeaturesInfo:
    """One feature folder's extraction settings and sizes."""

    visual_backbone: str
    audio_backbone: str
    frames_per_segment: int  # K frames per second averaged into a segment's map
    frame_size: int
    sample_rate: int
    segments: int  # T
    grid: tuple[int, int]  # (h, w) of the visual map
    audio_dim: int  # stored sizes (after the projection, when projected)
    visual_dim: int
    native_audio_dim: int
    native_visual_dim: int
    projection: ProjectionInfo | None
    num_videos: int
    num_skipped: int
    format: str = INFO_FORMAT

    @property
    def projected(self) -> bool:
        return self.projection is not None

    def basis(self) -> dict[str, Any]:
        """What decides whether two folders' features are comparable: backbones and the PCA."""
        facts: dict[str, Any] = {
            "visual_backbone": self.visual_backbone,
            "audio_backbone": self.audio_backbone,
            "projected": self.projected,
        }
        if self.projection is not None:
            facts["projection id"] = self.projection.id
        return facts

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["grid"] = list(self.grid)
        record["projected"] = self.projected  # kept in the file for readers without this class
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> FeaturesInfo:
        """Parse a features.json record; ValueError names the first missing field."""
        names = {f.name for f in fields(cls)}
        missing = sorted(names - record.keys() - {"format"})
        if missing:
            raise ValueError(f"{FEATURES_INFO_FILE}: missing field(s) {', '.join(missing)}")
        values = {name: record[name] for name in names if name in record}
        values["grid"] = tuple(values["grid"])
        projection = values["projection"]
        values["projection"] = None if projection is None else ProjectionInfo(**projection)
        return cls(**values)

    @classmethod
    def read(cls, data_dir: str | Path) -> FeaturesInfo | None:
        """The folder's features.json, or None when it has none (the official AVE features)."""
        path = Path(data_dir) / FEATURES_INFO_FILE
        if not path.is_file():
            return None
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError, KeyError) as err:
            raise ValueError(f"{path}: not a features.json of avel's extractor ({err})") from err

    def to_json(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=1) + "\n").encode()
