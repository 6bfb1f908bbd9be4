"""Planted-signal data: a known, learnable signal in chosen modalities, at a chosen feature scale.

A model that trains is not a model that learns: these sets say whether a model can find a signal
that is known to be there, and at which input scales. Features are post-ReLU noise like VGGish
and VGG pool5 rows (relu(N(0, sigma)); at scale 1, sigma = 0.3 gives the real VGGish rows' mean
0.12, AVE's audio_feature_noisy.h5, docs/ave-format.md); during each event second a class prototype is added
to the audio ("audio"), or to one cell of the visual map that moves by one column each second
("visual"), or both ("both"). Used by the learnability tests and benchmarks/diagnose_streams.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avel.common.classes import AVE_CLASSES, BACKGROUND_INDEX

SIGNALS = ("audio", "visual", "both")
VGGISH_SIGMA = 0.3  # relu(N(0, 0.3)): mean 0.12, like the real VGGish rows (mean 0.122)
PROTOTYPE_GAIN = 3.0  # prototypes are relu(N(0, 3 sigma)): a clear but not trivial signal
# PlantedSpec sizes small enough for the 63 runs of tests/test_learnability.py on 2 cores.
SMALL_SIZES = {"audio_dim": 32, "visual_dim": 64, "grid": 4}


@dataclass(frozen=True)
class PlantedSpec:
    """Sizes and signal of one planted set (AVE sizes by default: T = 10, 128, 7 x 7 x 512)."""

    signal: str = "both"  # one of SIGNALS
    scale: float = 1.0  # multiplies every feature: 1 = the real VGGish rows' scale
    num_classes: int = 5  # event classes used (the first of AVE's 28)
    num_segments: int = 10
    audio_dim: int = 128
    visual_dim: int = 512
    grid: int = 7  # H = W

    def __post_init__(self) -> None:
        if self.signal not in SIGNALS:
            raise ValueError(f"PlantedSpec.signal: expected one of {SIGNALS}, got {self.signal!r}")

    @property
    def model_sizes(self) -> dict[str, int]:
        """The ModelConfig fields that fit these features."""
        return {
            "audio_dim": self.audio_dim,
            "visual_dim": self.visual_dim,
            "grid_h": self.grid,
            "grid_w": self.grid,
        }


def planted_set(spec: PlantedSpec, num_videos: int, seed: int) -> dict[str, np.ndarray]:
    """Arrays of one split: audio (N, T, C_a), visual (N, T, H, W, C_v), labels (N, T) class indices
    (background = BACKGROUND_INDEX), event (N, T) float, event_class (N,). The prototypes depend on
    `spec` only, so every seed draws videos of the same classes."""
    rng = np.random.default_rng(seed)
    sigma = VGGISH_SIGMA * spec.scale
    t, g = spec.num_segments, spec.grid
    audio = np.maximum(rng.normal(0, sigma, (num_videos, t, spec.audio_dim)), 0).astype(np.float32)
    visual = np.maximum(rng.normal(0, sigma, (num_videos, t, g, g, spec.visual_dim)), 0).astype(np.float32)
    prototypes = np.random.default_rng(1234)
    proto_audio = np.maximum(
        prototypes.normal(0, PROTOTYPE_GAIN * sigma, (spec.num_classes, spec.audio_dim)), 0
    )
    proto_visual = np.maximum(
        prototypes.normal(0, PROTOTYPE_GAIN * sigma, (spec.num_classes, spec.visual_dim)), 0
    )
    event_class = rng.integers(0, spec.num_classes, num_videos)  # (N,)
    length = rng.integers(2, t - 1, num_videos)  # 2 .. T-2 event seconds: background on both sides possible
    start = rng.integers(0, t - length + 1)
    seconds = np.arange(t)
    event = (seconds >= start[:, None]) & (seconds < (start + length)[:, None])  # (N, T)
    video, second = np.nonzero(event)
    if spec.signal in ("audio", "both"):
        audio[video, second] += proto_audio[event_class[video]]
    if spec.signal in ("visual", "both"):
        row = rng.integers(0, g, num_videos)[video]
        column = (rng.integers(0, g, num_videos)[video] + second) % g  # one step right per second
        visual[video, second, row, column] += proto_visual[event_class[video]]
    labels = np.where(event, event_class[:, None], BACKGROUND_INDEX)
    return {
        "audio": audio,
        "visual": visual,
        "labels": labels,
        "event": event.astype(np.float32),
        "event_class": event_class,
    }


def one_hot_labels(labels: np.ndarray) -> np.ndarray:
    """(N, T) class indices -> (N, T, 29) one-hot float32, the AVE label layout."""
    return np.eye(len(AVE_CLASSES), dtype=np.float32)[labels]
