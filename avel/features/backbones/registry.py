"""One interface for every backbone: the protocols, the name -> builder registry, and weight-file lookup.

Backbones are looked up by name (`visual_backbone("mobilenet_v2")`) so that a feature file or a checkpoint
can record which network made its features. Weight files are *located* (an explicit path, a file shipped
by an installed package, the torch hub cache) and fetched only when the caller passes `download=True`.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import torch
from torch import Tensor

log = logging.getLogger(__name__)


class VisualBackbone(Protocol):
    """Frames -> spatial feature maps, one per frame."""

    name: str
    out_channels: int  # C_v (512 for VGG19 pool5, 1280 for MobileNetV2)
    grid: tuple[int, int]  # (H, W) of the map, (7, 7) for a 224 x 224 frame

    def __call__(self, frames: np.ndarray | Tensor) -> Tensor:
        """(N, 224, 224, 3) uint8 RGB -> (N, H, W, C_v) float32 on the CPU."""
        ...

    def classify(self, frames: np.ndarray | Tensor) -> Tensor:
        """(N, 224, 224, 3) uint8 RGB -> (N, 1000) ImageNet logits, named by `categories`."""
        ...


class AudioBackbone(Protocol):
    """A 16 kHz mono waveform -> one embedding per 1-s segment."""

    name: str
    out_dim: int  # C_a (128 for VGGish, 1024 for YAMNet)

    def __call__(self, waveform: np.ndarray | Tensor, num_segments: int) -> Tensor:
        """(L,) float waveform -> (num_segments, C_a) float32 on the CPU; row t: the 0.96-s patch at t s."""
        ...


class WeightsNotFoundError(FileNotFoundError):
    """A backbone's weight file is absent; the message names the file and where to put it."""


@dataclass(frozen=True)
class WeightsFile:
    """A weight file a backbone needs: its name, where it may already be, and where it can be fetched."""

    filename: str
    description: str  # what the file holds, for the error message
    url: str | None = None  # fetched only on download=True; None: no known download source
    check_hash: bool = False  # the name carries a sha256 prefix (torchvision's files do)
    package: str | None = None  # an installed distribution that ships the file (located, never imported)
    package_path: str = ""  # the file's path inside that package
    pip_hint: str = ""  # how to install that package

    def hub_path(self) -> Path:
        """Where torch hub keeps (and `torch.hub.load_state_dict_from_url` writes) this file."""
        return Path(torch.hub.get_dir()) / "checkpoints" / self.filename

    def package_file(self) -> Path | None:
        """The copy shipped by `package`, found without executing the package's code."""
        if self.package is None:
            return None
        # find_spec on a top-level name locates it without importing it (their __init__ may need
        # dependencies such as onnxruntime that are deliberately not installed here).
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        return Path(next(iter(spec.submodule_search_locations))) / self.package_path

    def candidates(self) -> list[Path]:
        """Places searched when no explicit path is given, in order."""
        return [p for p in (self.package_file(), self.hub_path()) if p is not None]

    def find(self, weights: str | Path | None, *, backbone: str) -> Path | None:
        """The explicit path if given (it must exist), else the first existing candidate, else None."""
        if weights is not None:
            path = Path(weights).expanduser()
            if not path.is_file():
                raise WeightsNotFoundError(
                    f"{backbone}: weights={str(weights)!r} is not a file; expected {self.filename} "
                    f"({self.description})"
                )
            return path
        return next((p for p in self.candidates() if p.is_file()), None)

    def missing(self, backbone: str) -> WeightsNotFoundError:
        """The error for a file that is nowhere to be found, listing every way to provide it."""
        ways = [f"copy it to {self.hub_path()}", "or pass weights=<path to the file>"]
        if self.pip_hint:
            ways.append(f"or install it: {self.pip_hint}")
        if self.url:
            ways.append(f"or pass download=True to fetch {self.url}")
        searched = ", ".join(str(p) for p in self.candidates())
        return WeightsNotFoundError(
            f"{backbone} needs {self.filename} ({self.description}); not found in: {searched}. "
            + "; ".join(ways)
        )

    def path(self, weights: str | Path | None, *, backbone: str) -> Path:
        """Locate the file (never downloads); raise WeightsNotFoundError when it is absent."""
        found = self.find(weights, backbone=backbone)
        if found is None:
            raise self.missing(backbone)
        return found

    def state_dict(self, weights: str | Path | None, *, download: bool, backbone: str) -> dict[str, Tensor]:
        """Load a torch state dict from the located file, downloading it only when `download` is True."""
        found = self.find(weights, backbone=backbone)
        if found is not None:
            log.info("%s: loading weights from %s", backbone, found)
            return torch.load(found, map_location="cpu", weights_only=True)
        if download and self.url:
            log.info("%s: downloading %s", backbone, self.url)
            return torch.hub.load_state_dict_from_url(
                self.url, map_location="cpu", weights_only=True, check_hash=self.check_hash
            )
        raise self.missing(backbone)


VisualBuilder = Callable[..., VisualBackbone]
AudioBuilder = Callable[..., AudioBackbone]
VISUAL_BACKBONES: dict[str, VisualBuilder] = {}
AUDIO_BACKBONES: dict[str, AudioBuilder] = {}

_Builder = TypeVar("_Builder", bound=Callable[..., Any])


def _register(table: dict[str, Any], name: str) -> Callable[[_Builder], _Builder]:
    def add(builder: _Builder) -> _Builder:
        if name in table:
            raise ValueError(f"backbone {name!r} is registered twice")
        table[name] = builder
        return builder

    return add


def register_visual(name: str) -> Callable[[_Builder], _Builder]:
    """Decorator: make a visual builder available to `visual_backbone(name)`."""
    return _register(VISUAL_BACKBONES, name)


def register_audio(name: str) -> Callable[[_Builder], _Builder]:
    """Decorator: make an audio builder available to `audio_backbone(name)`."""
    return _register(AUDIO_BACKBONES, name)


def _lookup(kind: str, table: dict[str, Any], name: str) -> Any:
    if name not in table:
        raise ValueError(f"unknown {kind} backbone {name!r}; valid: {', '.join(sorted(table))}")
    return table[name]


def visual_backbone(
    name: str,
    *,
    weights: str | Path | None = None,
    download: bool = False,
    device: str | torch.device = "cpu",
    optimize: bool = True,
) -> VisualBackbone:
    """Build a pretrained visual backbone by name.

    `optimize` folds BatchNorm into the convolutions and runs channels-last (same outputs to ~1e-5,
    several times faster on CPU); False keeps the plain eager network.
    """
    builder = _lookup("visual", VISUAL_BACKBONES, name)
    return builder(weights=weights, download=download, device=device, optimize=optimize)


def audio_backbone(
    name: str,
    *,
    weights: str | Path | None = None,
    download: bool = False,
    device: str | torch.device = "cpu",
) -> AudioBackbone:
    """Build a pretrained audio backbone by name."""
    builder = _lookup("audio", AUDIO_BACKBONES, name)
    return builder(weights=weights, download=download, device=device)
