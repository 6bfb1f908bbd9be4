"""Issue 25: nothing silently wrong, nobody waits behind one long clip, no cap walked around.

The bad-input corpus (tests/badinputs.py) runs through the Python API and the app in process, with
the bundled localizers at one frame a second (small clips: a few seconds each); the rest checks one
promise each: one truth for odd media with its warnings kept on cached repeats, fair queueing, the
upload cap and stale work folders, checkpoints that stay in their folder, and the smaller points.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import replace
from pathlib import Path

import gradio as gr
import pytest
from badinputs import Case, Summary, checkpoint_cases, judge, media_cases
from fastapi.testclient import TestClient

from avel import localize
from avel.analysis.clip import Analyzer, ModelPaths, analyze_clip
from avel.analysis.localize import default_models
from avel.app.config import ROOT, AppConfig
from avel.app.errors import public_message
from avel.app.handlers import App
from avel.app.layout import build_demo
from avel.app.server import MARKER, make_work_dir, remove_stale_work_dirs, upload_cap
from avel.commands import main
from avel.common.config import LocalizeConfig
from avel.common.files import folder_bytes
from avel.features.extractor import FeatureExtractor
from avel.features.media import MediaError
from avel.training.checkpoint import load_checkpoint

NORMAL_S = 5  # the app's (and the long-road cases') whole-clip limit: longer files take the long road
LONG_ROAD = LocalizeConfig(whole_clip_seconds=NORMAL_S, decode_window=3)
WHOLE_ROAD = LocalizeConfig()
MB = 2**20
USED_HERE = ("frozen.mp4", "frozen-long.mp4", "silent-long.mp4")  # by the tests after the corpus's


class Recorder:
    """Stands in for gr.Progress and gr.Warning: keeps what it is given."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, *args: object, desc: str | None = None, **_: object) -> None:
        self.calls.append(" ".join(str(a) for a in (*args, desc or "")).strip())


@pytest.fixture(scope="module")
def analyzer(tmp_path_factory: pytest.TempPathFactory) -> Analyzer:
    """The bundled localizers at one frame a second (the features change, the roads do not)."""
    loaded = Analyzer(ModelPaths(localizers=default_models(), matchers={}))
    fast = replace(loaded.feature_config, frames_per_segment=1)
    loaded.feature_config = fast
    loaded.extractor = FeatureExtractor(fast, cache_dir=tmp_path_factory.mktemp("features"))
    return loaded


@pytest.fixture(scope="module")
def app(analyzer: Analyzer, tmp_path_factory: pytest.TempPathFactory) -> App:
    config = replace(
        AppConfig(),
        models=ModelPaths(localizers=default_models(), matchers={}),
        normal_clip_seconds=NORMAL_S,
        localize=LocalizeConfig(decode_window=3),
    )
    return App(config, analyzer, tmp_path_factory.mktemp("work"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Case, Path]]:
    folder = tmp_path_factory.mktemp("corpus")
    return [(case, case.make(folder)) for case in media_cases() if case.in_ci or case.name in USED_HERE]


def _app_result(app: App, path: Path) -> dict:
    view = app._view(str(path), None)
    return {"seconds": view.state.num_segments, "warnings": view.warnings}


def test_the_bad_input_corpus_gives_no_crash_hang_silent_wrong_or_unclear_answer(
    analyzer: Analyzer, app: App, corpus: list[tuple[Case, Path]]
) -> None:
    api, in_app = Summary(), Summary()
    hidden = [app.work_dir, Path(tempfile.gettempdir()), ROOT]
    for case, path in [(case, path) for case, path in corpus if case.in_ci]:
        config = LONG_ROAD if case.long_road else WHOLE_ROAD
        api.add(
            judge(case, path, lambda p, c=config: analyze_clip(analyzer, p, c).to_json(), (MediaError,), [])
        )
        in_app.add(judge(case, path, lambda p: _app_result(app, p), (gr.Error,), hidden))
    assert api.tried == in_app.tried == 11  # 10 refusals and a clip without audio
    assert not api.problems and not in_app.problems, [
        (v.case.name, v.outcome, v.detail) for v in api.problems + in_app.problems
    ]


def test_a_checkpoint_names_its_projection_only_beside_it_and_a_bad_one_in_one_line(tmp_path: Path) -> None:
    summary = Summary()
    for case in checkpoint_cases():
        folder = tmp_path / case.name
        folder.mkdir()
        path = case.make(folder)
        summary.add(judge(case, path, lambda p: load_checkpoint(p) and {}, (ValueError,), []))
    assert summary.tried == 7 and not summary.problems, [(v.case.name, v.detail) for v in summary.problems]


def test_the_long_road_gives_the_whole_roads_seconds_labels_and_warning(
    analyzer: Analyzer, corpus: list[tuple[Case, Path]]
) -> None:
    """A 12-s file with 6 s of video: the header's 12 s would leave 6 s unscored on the long road."""
    path = next(p for case, p in corpus if case.name == "frozen-long.mp4")
    whole = analyze_clip(analyzer, path, WHOLE_ROAD)
    windowed = analyze_clip(analyzer, path, LONG_ROAD)
    assert windowed.windowed and not whole.windowed
    assert windowed.num_segments == whole.num_segments == 6 and windowed.warnings == whole.warnings
    for name, loc in whole.localizations.items():
        assert (windowed.localizations[name].shown(29) == loc.shown(29)).all()


def test_the_cli_the_api_and_the_app_agree_and_cached_repeats_keep_their_warnings(
    app: App, corpus: list[tuple[Case, Path]], tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch
) -> None:
    path = next(p for case, p in corpus if case.name == "frozen.mp4")  # 3 s of video under 8 s of sound
    shown = []
    for _ in range(2):  # the second run reads the stored result back
        assert main(["localize", str(path), "--json", "--out", str(tmp_path / "out")]) == 0
        captured = capsys.readouterr()
        shown.append((json.loads(captured.out.strip().splitlines()[-1]), captured.err))
    api = localize(path, device="cpu")
    for result, err in shown:
        assert result["seconds"] == api["seconds"] == 3 and result["warnings"] == api["warnings"]
        assert f"warning: {path}: the video track ends at 3.0 s" in err
        for name, model in api["models"].items():
            assert [s["label"] for s in result["models"][name]["seconds"]] == [
                s["label"] for s in model["seconds"]
            ]
    warned = Recorder()
    monkeypatch.setattr(gr, "Warning", warned)
    for repeat in range(2):  # the second from the render cache
        app.localize(str(path))
        assert len(warned.calls) == repeat + 1 and warned.calls[-1] == f"frozen.mp4: {api['warnings'][0]}"
    assert app._view(str(path), None).warnings == api["warnings"]


def test_short_clips_and_cached_repeats_never_wait_behind_a_long_clip(
    app: App, corpus: list[tuple[Case, Path]]
) -> None:
    short = next(p for case, p in corpus if case.name == "silent.mp4")
    long = next(p for case, p in corpus if case.name == "silent-long.mp4")
    event = next(fn for fn in build_demo(app).fns.values() if fn.api_name == "localize")
    assert event.concurrency_limit == app.config.analysis_workers > 1  # requests run side by side
    assert app.long_slots.acquire(blocking=False)  # a long clip is being analysed
    waiting, done = Recorder(), threading.Event()

    def second_long_clip() -> None:
        with app._turn(str(long), waiting) as step:
            step(0.5, "windows")  # a long analysis's progress step: it pauses while a short one runs
            done.set()

    worker = threading.Thread(target=second_long_clip)
    worker.start()
    app._view(str(short), None)  # a short clip passes at once
    assert not done.wait(0.2) and "long clips take turns" in waiting.calls[0]
    with app._turn(str(short), None):  # a short clip runs as the long one gets its turn
        app.long_slots.release()
        assert not done.wait(0.5) and "paused while a short clip is analysed" in waiting.calls[-1]
    worker.join(5)
    assert done.is_set() and waiting.calls[-1] == "0.5 windows"


def test_uploads_count_against_their_cap_as_they_arrive(tmp_path: Path, monkeypatch) -> None:
    """12 uploads of 1 MB, never analysed, under a 3-MB cap: the folder never holds more than the cap."""
    uploads = tmp_path / "gradio"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(uploads))
    with gr.Blocks() as demo:
        gr.File()
    demo.max_file_size = None  # what launch() sets when no limit is given
    server = gr.routes.App.create_app(demo, app_kwargs=upload_cap(uploads, 3 * MB))
    sizes = []
    with TestClient(server) as client:
        for index in range(12):
            data = bytes([index]) * MB
            response = client.post("/gradio_api/upload", files={"files": (f"clip{index}.mp4", data)})
            assert response.status_code == 200, response.text
            sizes.append(folder_bytes(uploads))
    assert max(sizes) <= 3 * MB and sizes[-1] > 0, sizes


def test_a_killed_instances_work_folder_is_removed_at_start_and_nothing_else(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead = int(done.stdout)  # a pid no process has now
    killed, running = make_work_dir(tmp_path), make_work_dir(tmp_path)
    (killed / MARKER).write_text(f"avel-app {dead}\n")
    unmarked, other = tmp_path / "avel-app-mine", tmp_path / "other-app-x"
    unmarked.mkdir()
    other.mkdir()
    (other / MARKER).write_text(f"avel-app {dead}\n")
    assert remove_stale_work_dirs(tmp_path) == [killed]
    assert not killed.exists() and running.is_dir() and unmarked.is_dir() and other.is_dir()


def test_server_paths_never_show_whatever_the_folders_nest(tmp_path: Path) -> None:
    """The app's hidden folders in the app's order: work folder, temp folder, checkout (under temp)."""
    checkout, work = tmp_path / "srv" / "avel", tmp_path / "avel-app-1"
    message = public_message(
        ValueError(f"{checkout}/data/ave: no labels; {checkout}/checkpoints/coatt_sel.pt; {work}/x"),
        None,
        [work, tmp_path, checkout],
    )
    assert str(tmp_path) not in message and "srv" not in message, message
    assert message == "<server>/data/ave: no labels; <server>/checkpoints/coatt_sel.pt; <server>/x"


def test_extract_refuses_an_out_file_at_once_and_cleans_a_killed_runs_temporaries(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    listing = tmp_path / "videos.txt"
    listing.write_text("missing.mp4\n")  # decoding fails at once: no backbone is loaded
    taken = tmp_path / "taken"
    taken.write_text("a file")
    with pytest.raises(SystemExit) as exit_info:
        main(["extract", str(listing), "--out", str(taken)])
    assert exit_info.value.code == 2 and "exists and is not a folder" in capsys.readouterr().err
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = out / f".visual_feature.{int(dead.stdout)}.tmp.h5"  # as the extract of issue 25 left it
    live = out / f".audio_feature.{os.getpid()}.140.tmp.h5"
    stale.write_bytes(b"half")
    live.write_bytes(b"being written")
    with pytest.raises(SystemExit):
        main(["extract", str(listing), "--out", str(out)])  # no video: refused, after the clean-up
    assert not stale.exists() and live.exists()


def test_localize_exits_non_zero_when_every_input_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "notes.mp4").write_text("not a video")
    (tmp_path / "holiday").mkdir()  # a folder without videos is said, not silently dropped
    with pytest.raises(SystemExit) as exit_info:
        main(["localize", str(tmp_path / "notes.mp4"), str(tmp_path / "gone.mp4"), str(tmp_path / "holiday")])
    err = capsys.readouterr().err
    assert (
        exit_info.value.code == 2 and "no clip could be analysed (2 file(s) found, 1 empty folder(s))" in err
    )
    assert f"skipped {tmp_path / 'holiday'}: a folder without video files" in err
