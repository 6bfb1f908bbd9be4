"""The app's long clips (issue 13): a clip over the normal length goes through the windowed
localizer with progress per decode window, a zoomable timeline and the most eventful seconds'
heatmaps; over the configured limit it is refused before decoding.

The handler is called in process with the bundled checkpoints; one frame per second and small
decode windows keep a 130-s clip quick.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import gradio as gr
import numpy as np
import plotly.graph_objects as go
import pytest
from clipgen import make_clip
from PIL import Image
from test_app import LOCALIZE_VIEWS

from avel.analysis.clip import WINDOWS_SHARE, Analyzer, most_eventful
from avel.app.config import AppConfig
from avel.app.handlers import App
from avel.common.config import LocalizeConfig
from avel.features.extractor import FeatureExtractor

LONG_S = 130  # over two minutes, more than twice the normal length
WINDOWS = LocalizeConfig(model_window=10, model_hop=10, decode_window=30)  # 5 decode windows
OUTPUTS = [*LOCALIZE_VIEWS, "start", "end"]  # and the cross-modal sliders


class Recorder:
    """Stands in for gr.Progress: keeps every (fraction, description) it is given."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []

    def __call__(self, fraction: float, desc: str | None = None) -> None:
        self.calls.append((fraction, desc or ""))


@pytest.fixture(scope="module")
def long_app(tmp_path_factory: pytest.TempPathFactory) -> App:
    work = tmp_path_factory.mktemp("work")
    config = replace(AppConfig(), localize=WINDOWS)
    analyzer = Analyzer(config.models, max_seconds=config.normal_clip_seconds)
    fast = replace(analyzer.feature_config, frames_per_segment=1)  # the bundled backbones, 1 frame/s
    analyzer.extractor = FeatureExtractor(fast, cache_dir=work / "features")
    return App(config, analyzer, work)


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "concert.mp4", LONG_S, fps=2).path


def test_a_long_clip_is_localized_in_windows_with_progress_and_a_zoomable_timeline(
    long_app: App, long_clip: Path
) -> None:
    progress = Recorder()
    out = dict(zip(OUTPUTS, long_app.localize(str(long_clip), None, progress), strict=True))
    windows = [(f, desc) for f, desc in progress.calls if desc.startswith("windows:")]
    assert [desc for _, desc in windows] == [
        f"windows: {end} of {LONG_S} s" for end in (30, 60, 90, 120, 130)
    ]
    fractions = [f for f, _ in windows]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(WINDOWS_SHARE)

    assert f"A long clip ({LONG_S} s)" in out["summary"] and "Co-attention" in out["summary"]
    timeline: go.Figure = out["timeline"]
    rows = [trace for trace in timeline.data if trace.meta == {"role": "row"}]
    assert [trace.name for trace in rows] == ["Co-attention", "Baseline"]
    assert all(len(trace.x) == LONG_S for trace in rows)  # every second, from the windowed path
    axis = timeline.layout.xaxis
    assert tuple(axis.range) == (0, 60) and axis.rangeslider.visible  # the first minute, zoomable
    assert tuple(axis.rangeslider.range) == (0, LONG_S)
    for table in (out["top0"], out["top1"]):
        assert [row[0] for row in table] == [f"{t}-{t + 1}" for t in range(LONG_S)]

    for heatmap, captions in ((out["heatmap0"], out["captions0"]), (out["heatmap1"], out["captions1"])):
        shown = [int(t) for t in re.findall(r"(\d+)-\d+ s: [^\n]*· event \d\.\d\d", captions)]
        assert len(shown) == long_app.config.long_heatmap_seconds and shown == sorted(set(shown))
        assert all(0 <= t < LONG_S for t in shown) and "most eventful seconds" in captions
        with Image.open(heatmap) as grid:  # 10 seconds, 5 per row, each a 224-px tile under its caption
            assert grid.width >= 5 * 224 and 2 * 224 < grid.height < 3 * 224
    assert out["video0"] is None and out["placement"] is None and out["tags"] == []

    again = Recorder()
    long_app.localize(str(long_clip), None, again)
    assert again.calls == []  # the rendered views come from the cache


def test_a_long_clip_has_no_overlay_videos_or_cross_modal_matching(long_app: App, long_clip: Path) -> None:
    long_app.localize(str(long_clip), None, Recorder())
    with pytest.raises(gr.Error, match="Overlay videos are made for clips up to 60 s; this one lasts 130 s"):
        long_app.overlay_videos(str(long_clip), Recorder())
    with pytest.raises(gr.Error, match="Cross-modal localization takes clips up to 60 s"):
        long_app.cross_modal("A2V", 0, 5, None)


def test_a_clip_over_the_configured_limit_is_refused_before_decoding(long_app: App, long_clip: Path) -> None:
    strict = App(replace(long_app.config, max_clip_seconds=100), long_app.analyzer, long_app.work_dir)
    progress = Recorder()
    with pytest.raises(
        gr.Error, match=r"concert\.mp4 lasts 130 s; this app analyses clips up to 100 s"
    ) as err:
        strict.localize(str(long_clip), None, progress)
    assert "python -m avel localize concert.mp4" in str(err.value) and progress.calls == []


def test_most_eventful_seconds_are_the_top_ones_in_time_order() -> None:
    event = np.array([0.1, 0.9, 0.3, 0.9, 0.8, 0.05])
    assert most_eventful(event, 3) == [1, 3, 4]
    assert most_eventful(event, 10) == [0, 1, 2, 3, 4, 5]
