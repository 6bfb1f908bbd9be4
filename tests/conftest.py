"""Shared fixtures: a small learnable dataset in the AVE layout, and the real AVE metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avel.common.classes import AVE_CLASSES
from avel.data import write_ave_layout

SHARED_AVE = Path(__file__).resolve().parents[1] / "../shared/ave"


@pytest.fixture(scope="session")
def random_ave_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded random dataset in the AVE layout that a model can learn from.

    40 videos (splits 24/8/8; the CML `*_order_match.h5` split is a different 24/8/8
    permutation), T=10 segments, audio [40, 10, 128], visual [40, 10, 3, 3, 16], the 29 AVE
    classes with events drawn from the first 4 (Church bell .. Fixed-wing aircraft, 10 videos
    each), plus 6 background-only videos (the *_noisy.h5 set). Each video has one contiguous
    event of 2-8 seconds (never all 10, so CML always has a span to find). Features are N(0, 0.5)
    noise; on event seconds the class's audio prototype is added to the audio, and its visual
    prototype to one grid cell (random per video) of the visual map.
    """
    rng = np.random.default_rng(0)
    num_videos, num_background, num_segments, audio_dim, visual_dim, grid = 40, 6, 10, 128, 16, 3
    num_events, signal = 4, 2.0
    event_class = np.arange(num_videos) % num_events  # (N,)
    lengths = rng.integers(2, 9, size=num_videos)
    starts = rng.integers(0, num_segments - lengths + 1)
    seconds = np.arange(num_segments)
    event_mask = ((seconds >= starts[:, None]) & (seconds < (starts + lengths)[:, None])).astype(np.float32)

    audio = rng.normal(0.0, 0.5, (num_videos, num_segments, audio_dim)).astype(np.float32)
    visual = rng.normal(0.0, 0.5, (num_videos, num_segments, grid, grid, visual_dim)).astype(np.float32)
    audio_prototypes = rng.normal(0.0, 1.0, (num_events, audio_dim)).astype(np.float32)
    visual_prototypes = rng.normal(0.0, 1.0, (num_events, visual_dim)).astype(np.float32)
    audio += signal * event_mask[:, :, None] * audio_prototypes[event_class][:, None, :]
    cells = rng.integers(0, grid, size=(num_videos, 2))  # where the sounding object is
    videos = np.arange(num_videos)
    visual[videos, :, cells[:, 0], cells[:, 1], :] += (  # (N, T, C_v)
        signal * event_mask[:, :, None] * visual_prototypes[event_class][:, None, :]
    )

    def split(permutation: np.ndarray) -> dict[str, np.ndarray]:
        return {"train": permutation[:24], "val": permutation[24:32], "test": permutation[32:]}

    out_dir = tmp_path_factory.mktemp("random_ave")
    write_ave_layout(
        out_dir,
        audio=audio,
        visual=visual,
        event_class=event_class,
        event_mask=event_mask,
        orders=split(rng.permutation(num_videos)),
        match_orders=split(rng.permutation(num_videos)),
        background_audio=rng.normal(0.0, 0.5, (num_background, num_segments, audio_dim)),
        background_visual=rng.normal(0.0, 0.5, (num_background, num_segments, grid, grid, visual_dim)),
        classes=AVE_CLASSES,
    )
    return out_dir


@pytest.fixture(scope="session")
def shared_ave_dir() -> Path:
    """The real AVE metadata in /work/shared/ave (labels, orders, annotations; no main features)."""
    if not SHARED_AVE.is_dir():
        pytest.skip(f"real AVE metadata not found at {SHARED_AVE.resolve()}")
    return SHARED_AVE.resolve()
