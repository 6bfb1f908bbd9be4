"""Planted-signal data: a known, learnable signal in chosen modalities, with real features' spread.

A model that trains is not a model that learns: these sets say whether a model can find a signal
that is known to be there. Features start as post-ReLU noise like VGGish and VGG pool5 rows
(relu(N(0, sigma)), sigma = 0.3 gives the real VGGish rows' mean 0.12, AVE's
audio_feature_noisy.h5, docs/ave-format.md); during each event second a class prototype is added to the
audio ("audio"), or to one cell of the visual map that moves by one column each second
("visual"), or both ("both"). Then every channel gets its own scale and offset, as real backbone
channels do: VGG19 pool5 channels span orders of magnitude and are not centred, and VGGish rows
are about 30 times smaller than pool5 maps. One number per modality (avel/models/scaling.py)
cannot undo that, so a model that learns here does not owe it to the input scale.
Used by the learnability tests and benchmarks/diagnose_streams.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avel.common.classes import AVE_CLASSES, BACKGROUND_INDEX

SIGNALS = ("audio", "visual", "both")
VGGISH_SIGMA = 0.3  # relu(N(0, 0.3)): mean 0.12, like the real VGGish rows (mean 0.122)
PROTOTYPE_GAIN = 3.0  # prototypes are relu(N(0, 3 sigma)): a clear but not trivial signal
# PlantedSpec sizes small enough for the runs of tests/test_learnability.py on 2 cores.
SMALL_SIZES = {"audio_dim": 32, "visual_dim": 64, "grid": 4}
# The plain profile: every channel alike, audio and visual at one scale (the sets before issue 23).
PLAIN_PROFILE = {"channel_decades": 0.0, "channel_offset": 0.0, "visual_gain": 1.0}


@dataclass(frozen=True)
class PlantedSpec:
    """Sizes and signal of one planted set (AVE sizes by default: T = 10, 128, 7 x 7 x 512)."""

    signal: str = "both"  # one of SIGNALS
    scale: float = 1.0  # multiplies every feature (benchmarks/diagnose_streams.py's raw-input setups)
    # Channel c of a modality becomes x * s_c + o_c: log10(s_c) uniform over channel_decades
    # (then scaled to RMS 1 over the channels), o_c uniform in [0, channel_offset * s_c * sigma].
    # 0 and 0: the plain noise. AVE's VGGish rows spread their channel RMS over 1.6 decades (5th
    # to 95th percentile) with median mean / std 0.43 (test_planted_audio_spreads_like_the_real_vggish_rows);
    # relu noise alone has mean / std 0.7, and offsets up to 2 sigma (mean / std 2.4) were measured
    # to stall every model on the one-cell signal: real features are not that far from centred.
    channel_decades: float = 2.0
    channel_offset: float = 0.5
    # The visual channels' scale over the audio's: 60 makes the visual map's RMS about 30 times the
    # audio's (pool5 vs VGGish), the audio carrying its prototype in every event second.
    visual_gain: float = 60.0
    num_classes: int = 5  # event classes used (the first of AVE's 28)
    num_segments: int = 10
    audio_dim: int = 128
    visual_dim: int = 512
    grid: int = 7  # H = W

    def __post_init__(self) -> None:
        if self.signal not in SIGNALS:
            raise ValueError(f"PlantedSpec.signal: expected one of {SIGNALS}, got {self.signal!r}")
        if self.channel_decades < 0 or self.channel_offset < 0 or min(self.visual_gain, self.scale) <= 0:
            raise ValueError(f"PlantedSpec: expected channel spread and offset >= 0, gains > 0: {self}")

    @property
    def model_sizes(self) -> dict[str, int]:
        """The ModelConfig fields that fit these features."""
        return {
            "audio_dim": self.audio_dim,
            "visual_dim": self.visual_dim,
            "grid_h": self.grid,
            "grid_w": self.grid,
        }


def planted_set(
    spec: PlantedSpec, num_videos: int, seed: int, background_only: bool = False
) -> dict[str, np.ndarray]:
    """Arrays of one split: audio (N, T, C_a), visual (N, T, H, W, C_v), labels (N, T) class indices
    (background = BACKGROUND_INDEX), event (N, T) float, event_class (N,), video_label (N,) (the
    event class, or BACKGROUND_INDEX). The prototypes and channel profiles depend on `spec` only, so
    every seed draws videos of the same classes. `background_only`: no event anywhere (AVE's
    "noisy" set, which WSEL adds so that its background class has positive videos)."""
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
    event &= not background_only
    video, second = np.nonzero(event)
    if spec.signal in ("audio", "both"):
        audio[video, second] += proto_audio[event_class[video]]
    if spec.signal in ("visual", "both"):
        row = rng.integers(0, g, num_videos)[video]
        column = (rng.integers(0, g, num_videos)[video] + second) % g  # one step right per second
        visual[video, second, row, column] += proto_visual[event_class[video]]
    labels = np.where(event, event_class[:, None], BACKGROUND_INDEX)
    audio_scale, audio_offset = channel_profile(spec, spec.audio_dim, salt=0)
    visual_scale, visual_offset = channel_profile(spec, spec.visual_dim, salt=1)
    return {
        "audio": (audio * audio_scale + audio_offset).astype(np.float32),
        "visual": (visual * (spec.visual_gain * visual_scale) + spec.visual_gain * visual_offset).astype(
            np.float32
        ),
        "labels": labels,
        "event": event.astype(np.float32),
        "event_class": event_class,
        "video_label": np.where(event.any(axis=1), event_class, BACKGROUND_INDEX),
    }


def channel_profile(spec: PlantedSpec, dim: int, salt: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel scale s_c and offset o_c of one modality (fixed by the spec, like the prototypes:
    a backbone's channels are the same in every split)."""
    rng = np.random.default_rng(5678 + salt)
    half = spec.channel_decades / 2
    scale = 10.0 ** rng.uniform(-half, half, dim)
    scale /= np.sqrt(np.mean(scale**2))  # RMS 1 over the channels: visual_gain is the RMS ratio
    offset = rng.uniform(0.0, spec.channel_offset, dim) * scale * VGGISH_SIGMA * spec.scale
    return scale.astype(np.float32), offset.astype(np.float32)


def one_hot_labels(labels: np.ndarray) -> np.ndarray:
    """(N, T) class indices -> (N, T, 29) one-hot float32, the AVE label layout."""
    return np.eye(len(AVE_CLASSES), dtype=np.float32)[labels]
