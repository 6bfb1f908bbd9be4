"""`python -m avel localize` and `avel.localize`: per-second answers and segments of any-length videos."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from avel import localize
from avel.analysis.clip import Analyzer, ModelPaths, analyze_clip
from avel.analysis.localize import default_models
from avel.analysis.windows import window_starts
from avel.commands import main
from avel.common.config import FeatureConfig, LocalizeConfig
from avel.common.metrics import merge_segments
from avel.features.media import decode_clip, write_clip
from avel.training.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "assets").glob("*.mp4"))
REPEATS = 3  # the examples, 3 times over: a 150-s clip with 15 known events
FPS = 4
MIN_EVENTS_MET = 5  # of the 15 true events, met by a co-attention segment of their class (a regression guard)


def test_window_starts_cover_the_clip_and_end_at_its_end() -> None:
    assert window_starts(7, 10, 5) == [0]
    assert window_starts(25, 10, 5) == [0, 5, 10, 15]
    assert window_starts(27, 10, 5) == [0, 5, 10, 15, 17]  # the last window ends at 27
    with pytest.raises(ValueError, match="model_hop"):
        LocalizeConfig(model_window=10, model_hop=11)


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """The example clips played one after another (re-encoded), with their per-second truth."""
    frames, audio, truth = [], [], []
    cfg = FeatureConfig(frames_per_segment=FPS)
    for _ in range(REPEATS):
        for example in EXAMPLES:
            clip = decode_clip(example, cfg)
            frames.append(clip.frames.reshape(-1, *clip.frames.shape[2:]))  # (T * K, S, S, 3) at K fps
            audio.append(clip.audio)
            truth += json.loads(example.with_suffix(".json").read_text())["label_indices"]
    path = tmp_path_factory.mktemp("long") / "long clip.mp4"
    write_clip(path, np.concatenate(frames), FPS, np.concatenate(audio), 16_000)
    return path, np.asarray(truth)


def test_a_long_clip_gives_every_second_and_segments_where_the_events_are(long_clip, capsys) -> None:
    path, truth = long_clip
    assert main(["localize", str(path), "--json", "--decode-window", "20"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["file"] == str(path) and result["seconds"] == len(truth) == 10 * REPEATS * len(EXAMPLES)
    classes = load_checkpoint(default_models()["Co-attention"]).classes
    for model in result["models"].values():
        seconds = model["seconds"]
        assert [s["start"] for s in seconds] == list(range(len(truth)))
        # segments are exactly the runs of equal event labels among the seconds
        runs = [(s["start"], s["end"], s["label"]) for s in model["segments"]]
        labels = [s["label"] for s in seconds]
        for start, end, label in runs:
            assert set(labels[start:end]) == {label} and label not in ("background", "unknown")
            assert (start == 0 or labels[start - 1] != label) and (end == len(labels) or labels[end] != label)
        assert sum(e - s for s, e, _ in runs) == sum(x not in ("background", "unknown") for x in labels)
    # where they lie: the content repeats every 50 s, so the 2nd and 3rd repeats (windows at the same
    # phase) give the same per-second answers up to the codec's noise, and true events are found
    segments = result["models"]["Co-attention"]["segments"]
    labels = [s["label"] for s in result["models"]["Co-attention"]["seconds"]]
    period = 10 * len(EXAMPLES)
    second, third = labels[period : 2 * period - 5], labels[2 * period : 3 * period - 5]  # last 5 s: 1 window
    assert np.mean([a == b for a, b in zip(second, third, strict=True)]) >= 0.9
    events = [
        (c, s, e)
        for c, s, e, _ in merge_segments(truth, np.ones((len(truth), len(classes))), (len(classes) - 1,))
    ]
    met = [
        any(g["label"] == classes[c] and g["start"] < e and s < g["end"] for g in segments)
        for c, s, e in events
    ]
    assert len(events) == REPEATS * len(EXAMPLES)
    assert sum(met) >= MIN_EVENTS_MET, met  # measured: 6 of 15 with the bundled co-attention model


def test_one_window_over_a_short_clip_equals_the_apps_analysis() -> None:
    clip = EXAMPLES[0]
    analyzer = Analyzer(ModelPaths(localizers=default_models(), matchers={}), device="cpu")
    direct = analyze_clip(analyzer, clip)  # decoded whole, as the app does up to a minute
    windowed = analyze_clip(
        analyzer, clip, LocalizeConfig(model_window=10, model_hop=10, whole_clip_seconds=0)
    )
    assert not direct.windowed and windowed.windowed
    for name, loc in direct.localizations.items():
        np.testing.assert_allclose(windowed.localizations[name].probabilities, loc.probabilities, atol=1e-5)


def test_json_schema_of_the_python_api() -> None:
    result = localize(EXAMPLES[1], device="cpu")
    assert set(result) == {"format", "file", "seconds", "warnings", "models"}
    for model in result["models"].values():
        for second in model["seconds"]:
            assert set(second) == {"start", "end", "label", "probability", "top3"}
            assert second["end"] == second["start"] + 1 and len(second["top3"]) == 3
            assert 0.0 <= second["probability"] <= 1.0
        for segment in model["segments"]:
            assert set(segment) == {"start", "end", "label", "score"} and segment["label"] != "background"


def test_bad_files_are_reported_and_skipped_and_a_folder_resumes(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "notes.mp4").write_text("not a video")
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "good.mp4").write_bytes(EXAMPLES[2].read_bytes())
    out = tmp_path / "out"
    assert (
        main(["localize", str(folder), "--out", str(out), "--csv", str(tmp_path / "t.csv"), "--heatmaps"])
        == 0
    )
    err = capsys.readouterr().err
    assert "skipped" in err and "notes.mp4" in err and "empty.mp4" in err and "2 of 3 file(s)" in err
    (result_file,) = out.glob("good-*.json")
    heatmaps = sorted(out.glob("good-*-heatmaps/co-attention/*.jpg"))
    assert len(heatmaps) == 10  # one CSPA overlay per second
    rows = (tmp_path / "t.csv").read_text().splitlines()
    assert rows[0] == "file,model,start,end,label,probability" and len(rows) == 1 + 2 * 10
    stamp = result_file.stat().st_mtime_ns
    assert main(["localize", str(folder), "--out", str(out)]) == 0
    assert result_file.stat().st_mtime_ns == stamp  # finished clips are read back, not redone


def _peak_rss_mb(path: Path, decode_window: int) -> float:
    """Peak RSS of a `localize` run in its own process (ru_maxrss of that child alone)."""
    code = (
        "import resource, sys; from avel.commands import main; "
        f"main(['--log-level', 'error', 'localize', {str(path)!r}, '--decode-window', '{decode_window}']); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return int(done.stdout.strip().splitlines()[-1]) / 1024


def test_memory_does_not_grow_with_the_length(long_clip, tmp_path: Path) -> None:
    path, _ = long_clip
    short = tmp_path / "short.mp4"
    clip = decode_clip(path, FeatureConfig(frames_per_segment=FPS, max_seconds=30, on_too_long="cut"))
    write_clip(short, clip.frames.reshape(-1, *clip.frames.shape[2:]), FPS, clip.audio, 16_000)
    short_rss, long_rss = _peak_rss_mb(short, 10), _peak_rss_mb(path, 10)  # 30 s vs 150 s
    assert long_rss - short_rss < 60, (short_rss, long_rss)
