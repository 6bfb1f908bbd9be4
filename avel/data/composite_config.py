"""Settings of the composite benchmark (issue 4): one dataclass, two presets.

Kept beside the builder rather than in avel/config.py because only the bench uses it; every
default carries the reason for its value.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from avel.config import check_choice
from avel.data.layout import SPLITS


@dataclass(frozen=True)
class CompositeConfig:
    """How many videos, how they look and sound, and how their features are extracted."""

    # Videos per split (70/15/15 in `full`, like a usual split; AVE itself is 3339/402/402).
    n_train: int = 1400
    n_val: int = 300
    n_test: int = 300
    # All-background videos from train media, AVE's "noisy" set for WSEL: AVE has 178 of them
    # beside 4143 videos (4.3 %), so about 90 beside 2000.
    n_background: int = 90
    seconds: int = 10  # T: AVE videos are ten 1-s segments
    fps: int = 16  # AVE's visual features average 16 frames per second
    # Rendered frame side. Not the backbones' 224 (the decoder resizes to FeatureConfig.frame_size):
    # at 224 the chroma rows (112 px) are not a multiple of 32 and libx264's SIMD output then
    # varies from run to run (measured: 6 of 12 clips); at 256 every run is byte-identical.
    frame_size: int = 256
    sample_rate: int = 16_000  # VGGish/YAMNet input rate; the media are 16 kHz already
    # Event object: long side as a share of the frame side; big enough to cover a few cells of
    # the 7x7 grid, small enough that its position matters.
    object_scale: tuple[float, float] = (0.3, 0.55)
    # Distance the object travels over its visible interval, as a share of the frame side.
    object_travel: tuple[float, float] = (0.15, 0.4)
    # Backdrops: distractor photos at least this big (ImageNet samples), not 32x32 CIFAR blurs.
    backdrop_min_side: int = 96
    n_distractors: tuple[int, int] = (1, 3)  # non-AVE objects pasted over the backdrop (inclusive)
    distractor_scale: tuple[float, float] = (0.15, 0.3)
    # Distractors drift too, so motion alone does not point at the event object.
    distractor_travel: tuple[float, float] = (0.0, 0.15)
    snr_db: tuple[float, float] = (-5.0, 10.0)  # event over ambient, drawn per video
    target_dbfs: float = -26.0  # every second is brought to this RMS: level carries no label
    peak_dbfs: float = -1.0  # ... unless its peak would pass this (no clipping, no codec overshoot)
    max_gain_db: float = 30.0  # cap of that per-second gain (a near-silent second stays quiet)
    fade_s: float = 0.02  # fades at every cut and loop joint: no clicks
    gain_ramp_s: float = 0.05  # the per-second gain changes over this long, centred on the boundary
    active_floor_db: float = -35.0  # 25-ms frames this far below the clip's loudest are gaps, dropped
    # Background seconds next to the event, per side of the span: the object is visible but
    # silent, or audible but off-screen, or neither (the rest).
    p_visible_only: float = 0.35
    p_audible_only: float = 0.35
    # Feature extraction: K frames per 1-s segment. AVE averages 16; measured here (2 cores, light
    # load) K = 16 costs 1.24 s per video (about 45 min of extraction for `full`), K = 4 0.39 s
    # (about 14 min). The objects move slowly, so 4 frames a second still see every position.
    frames_per_segment: int = 4

    def __post_init__(self) -> None:
        for name in ("n_train", "n_val", "n_test", "n_background"):
            if getattr(self, name) < 0:
                raise ValueError(f"CompositeConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.frames_per_segment < 1:
            raise ValueError(
                f"CompositeConfig.frames_per_segment must be >= 1, got {self.frames_per_segment}"
            )
        if self.p_visible_only + self.p_audible_only > 1:
            raise ValueError(
                "CompositeConfig: p_visible_only + p_audible_only must be <= 1, got "
                f"{self.p_visible_only} + {self.p_audible_only}"
            )
        if self.fade_s * self.sample_rate < 1 or self.gain_ramp_s >= 1:
            raise ValueError(
                f"CompositeConfig: fade_s ({self.fade_s}) must span >= 1 sample and gain_ramp_s "
                f"({self.gain_ramp_s}) must be < 1 s"
            )

    def count(self, split: str) -> int:
        """Videos with an event in `split`."""
        check_choice("split", split, SPLITS)
        return {"train": self.n_train, "val": self.n_val, "test": self.n_test}[split]

    @property
    def frames_per_video(self) -> int:
        return self.seconds * self.fps


PRESETS: dict[str, CompositeConfig] = {
    # A few dozen videos: every usable class in every split, built in CI in a couple of minutes.
    "tiny": CompositeConfig(n_train=22, n_val=11, n_test=11, n_background=4),
    # About 2,000 videos, 70/15/15.
    "full": CompositeConfig(),
}


def preset(name: str, **overrides: object) -> CompositeConfig:
    """A preset by name, with fields replaced (e.g. a smaller tiny for tests)."""
    check_choice("preset", name, tuple(PRESETS))
    return replace(PRESETS[name], **overrides)
