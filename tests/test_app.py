"""The app as a user and an API client meet it: a real server, real checkpoints, real example clips.

One server (python app.py on a free port) serves the whole module; gradio_client drives the API
and headless Chromium the page.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets"
ARTIFACTS = ROOT / "test-artifacts"
STARTUP_TIMEOUT_S = 240
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# The Localize handler's outputs in order (two bundled models), before the cross-modal sliders.
LOCALIZE_VIEWS = (
    "summary",
    "timeline",
    "heatmap0",
    "heatmap1",
    "captions0",
    "captions1",
    "video0",
    "video1",
    "top0",
    "top1",
    "tags",
    "placement",
    "downloads",
    "second_image",
    "second_text",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _examples() -> list[Path]:
    return sorted(ASSETS.glob("*.mp4"))


def _start_app(log_path: Path, extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """`python app.py` on a free port; returns the process and its URL once it listens."""
    port = _free_port()
    env = {
        **os.environ,
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"app.py exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process, f"http://127.0.0.1:{port}/"
        except OSError:
            time.sleep(1)
    process.kill()
    pytest.fail(f"app.py did not listen within {STARTUP_TIMEOUT_S} s:\n{log_path.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """`python app.py` with the default config; yields its URL and stops it afterwards."""
    process, url = _start_app(tmp_path_factory.mktemp("app") / "app.log")
    yield url
    _stop(process)


@pytest.fixture(scope="module")
def client(server: str):
    from gradio_client import Client

    return Client(server, verbose=False)


def test_examples_have_ground_truth() -> None:
    from avel.analysis.clip import load_ground_truths

    examples = _examples()
    assert len(examples) >= 3, "assets/ needs example clips (python -m avel bench examples --out assets)"
    for clip in examples:
        record = json.loads(clip.with_suffix(".json").read_text())
        assert len(record["label_indices"]) == 10
    truths = load_ground_truths(ASSETS).values()
    assert len(truths) == len(examples)
    for truth in truths:  # composite examples: the object's box in the seconds it is visible
        visible = np.isfinite(truth.boxes).all(axis=1)
        assert truth.boxes.shape == (10, 4) and visible.any()
        assert (truth.boxes[visible] >= 0).all() and (truth.boxes[visible] <= 1).all()


def test_a_sidecars_boxes_load_as_fractions_of_the_frame(tmp_path: Path) -> None:
    from avel.analysis.clip import load_ground_truths
    from avel.features.extractor import file_sha256

    (tmp_path / "boxed.mp4").write_bytes(b"example one")  # only hashed, never decoded
    bbox = [None, [64, 0, 128, 256]]
    sidecar = {"label_indices": [28, 2], "bbox": bbox, "frame_size": 256}
    (tmp_path / "boxed.json").write_text(json.dumps(sidecar))
    (tmp_path / "plain.mp4").write_bytes(b"example two")
    (tmp_path / "plain.json").write_text(json.dumps({"label_indices": [2, 2]}))
    truths = load_ground_truths(tmp_path)
    boxed, plain = truths[file_sha256(tmp_path / "boxed.mp4")], truths[file_sha256(tmp_path / "plain.mp4")]
    assert boxed.labels.tolist() == [28, 2] and np.isnan(boxed.boxes[0]).all()
    assert boxed.boxes[1].tolist() == [0.25, 0.0, 0.5, 1.0]
    assert plain.labels.tolist() == [2, 2] and plain.boxes is None
    analysis = _example_analysis(None)
    boxed.apply_to(analysis)  # what the app does for an example's clip
    assert analysis.ground_truth is boxed.labels and analysis.object_boxes is boxed.boxes
    (tmp_path / "boxed.json").write_text(json.dumps({**sidecar, "bbox": bbox[:1]}))
    with pytest.raises(ValueError, match=r"boxed\.json: expected one \[x0, y0, x1, y1\] or null per second"):
        load_ground_truths(tmp_path)


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (apt-get install chromium)")
def test_browser_shows_every_tab_after_its_main_action(server: str) -> None:
    """What a user sees, tab by tab: a screenshot of each after its button, and its visible content."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(server, wait_until="load")  # Gradio's open event stream never lets the network idle
        page.wait_for_selector("#video-input input[type=file]", state="attached", timeout=60_000)
        known = page.inner_text("#known-classes")
        assert "event classes" in known and "Bark" in known  # what the bundled models know
        page.set_input_files("#video-input input[type=file]", str(ASSETS / "baby_cry.mp4"))
        page.wait_for_timeout(1500)
        page.click("#localize-button")
        page.wait_for_selector("#timeline .js-plotly-plot, #timeline .plotly", timeout=180_000)
        page.wait_for_selector("#heatmap-0 img", timeout=60_000)
        page.wait_for_selector("#placement img", state="attached", timeout=60_000)  # lazy-loaded below
        assert page.locator("#overlay-0 video").count() == 0  # the videos wait for their button
        page.click("#overlay-button")
        page.wait_for_selector("#overlay-0 video", state="attached", timeout=120_000)
        page.locator("#placement img").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "app-localize.png"), full_page=True)
        assert "Baby cry" in page.inner_text("#timeline")  # the classes in the timeline's legend
        captions = page.inner_text("#heatmap-captions-0")  # the co-attention model finds this one
        assert re.search(r"\d+-\d+ s: Baby cry, infant cry 0\.\d\d · event 0\.\d\d", captions), captions
        assert "seconds" in page.inner_text("#summary")
        assert "YAMNet" in page.inner_text("#backbone-tags")

        assert "over 60 s a clip is localized in windows" in page.inner_text("#length-note").lower()
        page.get_by_role("tab", name="Cross-modal localization").click()
        assert "It takes clips up to 60 s" in page.inner_text("#cml-note")
        page.click("#cml-button")
        page.wait_for_selector("#cml-result :text('best match at')", timeout=60_000)
        page.wait_for_selector("#cml-plot-0 .js-plotly-plot, #cml-plot-0 .plotly", timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "app-cross-modal.png"), full_page=True)

        page.get_by_role("tab", name="Dataset analysis").click()
        page.click("#explore-button")
        page.wait_for_selector("#explore-result :text('segment accuracy')", timeout=120_000)
        for plot in ("#confusion-0", "#confusion-1", "#tsne"):  # matplotlib figures arrive as images
            page.wait_for_selector(f"{plot} img", state="attached", timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "app-dataset.png"), full_page=True)
        browser.close()


def _path(value) -> str:
    """A file path from whatever gradio_client returns for a file (a dict or a string)."""
    for key in ("video", "path", "image"):
        if isinstance(value, dict) and key in value:
            return _path(value[key])
    return value


def _rows(table) -> list[list]:
    return table["data"] if isinstance(table, dict) else table


def _localize(client, clip: Path) -> dict:
    from gradio_client import handle_file

    result = client.predict(handle_file(str(clip)), api_name="/localize")
    return dict(zip(LOCALIZE_VIEWS, result[: len(LOCALIZE_VIEWS)], strict=True))


def test_localize_example_returns_every_view(client) -> None:
    from PIL import Image

    out = _localize(client, _examples()[2])  # no other test asks for this clip's overlay videos
    assert (
        "Co-attention" in out["summary"] and "Baseline" in out["summary"] and "Ground truth" in out["summary"]
    )
    plot = json.loads(out["timeline"]["plot"]) if isinstance(out["timeline"], dict) else out["timeline"]
    assert plot, "the timeline plot is empty"
    for heatmap, captions in ((out["heatmap0"], out["captions0"]), (out["heatmap1"], out["captions1"])):
        with Image.open(_path(heatmap)) as grid:  # 10 seconds in a 5 x 2 grid of 224-px tiles
            assert grid.width >= 5 * 224 and 2 * 224 < grid.height < 3 * 224
        lines = re.findall(r"(\d+)-\d+ s: [^\n]*?\d\.\d\d\)? · event \d\.\d\d", captions)
        assert lines == [str(t) for t in range(10)], captions  # one caption per second, in order
    assert out["video0"] is None and out["video1"] is None  # made on demand, not on every analysis
    for table in (out["top0"], out["top1"]):
        rows = _rows(table)
        assert len(rows) == 10 and len(rows[0]) == 8  # seconds, answer, 3 x (class, probability)
    tags = _rows(out["tags"])
    assert len(tags) == 10 and all(len(row) == 3 and row[1] and row[2] for row in tags)
    assert Path(_path(out["placement"])).stat().st_size > 0  # the clip on the stored t-SNE maps


def test_overlay_videos_on_demand_keep_the_clips_resolution_frame_rate_and_sound(client) -> None:
    import av
    from gradio_client import handle_file

    from avel.features.media import probe

    source = probe(_examples()[0])
    videos = client.predict(handle_file(str(_examples()[0])), api_name="/overlay_videos")
    assert len(videos) == 2
    for video in videos:
        with av.open(_path(video)) as container:
            stream = container.streams.video[0]
            assert container.streams.audio, "the overlay video lost the clip's sound"
            assert abs(float(container.duration / av.time_base) - 10) < 0.6
            assert (stream.width, stream.height) == (source["width"], source["height"])
            assert abs(float(stream.average_rate) - source["fps"]) < 0.5  # every frame, not 2 a second
    again = _localize(client, _examples()[0])
    assert Path(_path(again["video0"])).stat().st_size > 0  # made once, then served with the views


def test_an_upload_keeps_its_shape_is_scored_on_request_and_its_results_download(
    client, tmp_path: Path
) -> None:
    """A 16:9 upload without ground truth: wide heatmap tiles, cross-modal says why it is not
    scored, the user's event scores it, and the downloads follow the `localize --json/--csv` schema."""
    import csv

    from clipgen import make_clip
    from gradio_client import handle_file
    from PIL import Image

    from avel.analysis.localize import CSV_FIELDS

    clip = make_clip(tmp_path / "street.mp4", 4.0, size=(160, 90)).path
    out = _localize(client, clip)
    with Image.open(_path(out["heatmap0"])) as grid:  # 4 tiles in a row, 4 px apart, 224 x 224 pixels each
        assert (grid.width - 3 * 4) / 4 == round(224 * (16 / 9) ** 0.5)  # as wide as the clip, not square
    text = client.predict("A2V", 1, 3, api_name="/cross_modal")[0]
    assert "Not scored" in text and "Score your own clip" in text
    scored = client.predict(handle_file(str(clip)), "Bark", 1, 3, api_name="/localize")[0]
    assert "**Your ground truth:** Bark, seconds 1-3" in scored
    assert re.search(r"Co-attention \d of 4 s right \(\d+%\) · Baseline \d of 4 s right", scored), scored
    files = {
        Path(_path(f)).name: Path(_path(f))
        for f in client.predict(handle_file(str(clip)), api_name="/downloads")
    }
    result = json.loads(files["street-results.json"].read_text())
    assert result["format"] == "avel.localize/1" and result["file"] == "street.mp4" and result["seconds"] == 4
    assert set(result["models"]) == {"Co-attention", "Baseline"}
    with files["street-results.csv"].open() as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == CSV_FIELDS and len(rows) == 2 * 4
    assert rows[0]["label"] == result["models"]["Co-attention"]["seconds"][0]["label"]
    with Image.open(files["street-co-attention-heatmaps.png"]) as png:
        assert png.format == "PNG"
    assert "<svg" in files["street-timeline.svg"].read_text()[:500]


def test_the_same_clip_again_reuses_the_rendered_views(client) -> None:
    first, again = _localize(client, _examples()[1]), _localize(client, _examples()[1])
    assert first["summary"] == again["summary"] and first["tags"] == again["tags"]


def test_cross_modal_after_localize(client) -> None:
    from gradio_client import Client

    _localize(client, _examples()[0])
    text, *plots = client.predict("A2V", 2, 5, api_name="/cross_modal")
    assert re.search(r"best match at \d+-\d+ s", text), text
    assert len(plots) == 2
    fresh = Client(client.src, verbose=False)  # another session has analysed nothing yet
    with pytest.raises(Exception, match="Analyse a clip in the first tab first"):
        fresh.predict("A2V", 2, 5, api_name="/cross_modal")


def test_bad_upload_gets_a_clear_error_naming_the_file(client, tmp_path: Path) -> None:
    from gradio_client import handle_file

    fake = tmp_path / "holiday notes.mp4"
    fake.write_text("this is not a video")
    with pytest.raises(Exception, match=r"(?i)not a readable|cannot|invalid|media") as raised:
        client.predict(handle_file(str(fake)), api_name="/localize")
    message = str(raised.value)
    assert "holiday notes.mp4" in message and "/tmp" not in message and "gradio" not in message
    assert "Errno" not in message, message  # FFmpeg's error number means nothing to a user
    summary = client.predict(handle_file(str(_examples()[1])), api_name="/localize")[0]
    assert "Co-attention" in summary  # the server keeps serving after the error


def test_a_clip_over_the_apps_limit_points_to_the_localize_command(client, tmp_path: Path) -> None:
    """Refused from the file's header, before decoding (shorter long clips: tests/test_app_long.py)."""
    from clipgen import make_clip
    from gradio_client import handle_file

    from avel.app.config import AppConfig

    limit = AppConfig().max_clip_seconds
    long = make_clip(tmp_path / "lecture.mp4", limit + 5, fps=1, audio=False).path
    with pytest.raises(
        Exception, match=rf"lecture\.mp4 lasts {limit + 5} s; this app analyses clips up to {limit} s"
    ) as raised:
        client.predict(handle_file(str(long)), api_name="/localize")
    assert "python -m avel localize lecture.mp4" in str(raised.value)


def test_dataset_tab_shows_the_bundled_summary_and_refuses_outside_folders(client) -> None:
    text, *plots = client.predict("", "test", api_name="/explore")
    assert "segment accuracy" in text and "Co-attention" in text
    confusion0, confusion1, per_class, _attention_note, _attention, tsne, _note, _runs = plots
    for plot in (confusion0, confusion1, per_class, tsne):
        assert plot, "a dataset figure is missing"
    for folder in ("/etc", "/root", "data/../..", "~"):
        with pytest.raises(Exception, match="Only dataset folders under data/") as raised:
            client.predict(folder, "test", api_name="/explore")
        assert "file not found" not in str(raised.value)


def _example_analysis(boxes):
    """A 2-second analysis of one model on grey frames: what render_clip gets for a clip."""
    from avel.analysis.clip import ClipAnalysis, Localization
    from avel.common.config import LocalizeConfig

    probabilities = np.array([[0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])  # Cat, then background
    loc = Localization(
        probabilities,
        probabilities.argmax(-1),
        np.ones(2, bool),
        1 - probabilities[:, 2],
        np.full((2, 7, 7), 1 / 49),
    )
    frames = {t: np.full((64, 64, 3), 90, np.uint8) for t in range(2)}
    return ClipAnalysis(
        "clip.mp4", None, 2, ("Bark", "Cat", "Background"), {"M": loc}, {"M": [0, 1]}, frames, False,
        LocalizeConfig(), object_boxes=boxes,
    )  # fmt: skip


def test_an_examples_heatmaps_and_overlay_videos_outline_the_true_object_box(tmp_path: Path) -> None:
    from PIL import Image

    import viz
    from avel.app.views import BOX_NOTE, ViewSettings, _overlaid, render_clip

    boxes = np.array([[0.25, 0.25, 0.75, 0.75], [np.nan] * 4])  # second 1: the object is hidden
    settings = ViewSettings(columns=2, timeline_seconds=10)
    grids = {}
    for name, known in (("example", boxes), ("upload", None)):
        view = render_clip(_example_analysis(known), tmp_path / name, settings, placement=None)
        with Image.open(view.heatmaps[0]) as grid:
            grids[name] = viz.gallery_tiles(np.asarray(grid.convert("RGB")), 2, 2)
    strip = grids["upload"][0].shape[0] - 64
    edge = (slice(strip + 16, strip + 48), 16)  # the box's left edge in second 0's tile
    assert grids["example"][0][edge].min() > 220 and grids["upload"][0][edge].max() < 200  # white: drawn
    assert np.abs(grids["example"][1].astype(int) - grids["upload"][1]).max() < 12  # hidden: none (JPEG)
    frames = iter([(0.5, np.full((40, 80, 3), 90, np.uint8)), (1.5, np.full((40, 80, 3), 90, np.uint8))])
    labels = ["0-1 s: Cat 0.80", "1-2 s: background 0.80"]
    shown, hidden = _overlaid(frames, np.full((2, 7, 7), 1 / 49), labels, [False, True], boxes)
    band = viz.caption_band(f"{labels[0]} · {BOX_NOTE}", 80)  # the legend entry on the video
    np.testing.assert_array_equal(shown[: band.shape[0]], band)
    assert "true object box" in BOX_NOTE and shown[29, 20:60].min() == 255  # the box's bottom edge
    np.testing.assert_array_equal(hidden[: band.shape[0]], viz.caption_band(labels[1], 80, muted=True))
    assert hidden[band.shape[0] :].max() < 255  # no box that second


def _summary_with_attention(measured: bool):
    """A hand-made dataset summary of two models on 3 classes; the baseline never saw a Cat box."""
    import numpy as np

    from avel.analysis.summary import DatasetSummary, ModelSummary

    def scores(pointing: float, seconds: int) -> dict:
        return {"pointing": pointing, "mass": 0.25, "iou_auc": 0.125, "chance": 0.2, "num_seconds": seconds}

    def model(pointing: float, per_class: dict) -> ModelSummary:
        confusion = np.eye(3, dtype=np.int64)
        attention = {**scores(pointing, 30), "per_class": per_class} if measured else None
        return ModelSummary(np.zeros((1, 3), np.int64), confusion, np.ones(3), 1.0, {}, attention=attention)

    models = {
        "Co-attention": model(0.75, {"Bark": scores(0.8, 20), "Cat": scores(0.65, 10)}),
        "Baseline": model(0.5, {"Bark": scores(0.5, 20)}),
    }
    return DatasetSummary(
        ("Bark", "Cat", "Background"),
        "test",
        np.array([[0, 1, 2]]),
        models,
        "bench, test split",
        attention_measured=measured,
    )


def test_dataset_tab_shows_attention_accuracy_per_class_or_says_it_was_not_measured() -> None:
    from avel.app.views import attention_table, render_dataset

    note, table = attention_table(_summary_with_attention(measured=True))
    assert "peak lies in the true object box" in note and "30 event seconds" in note
    assert table["headers"][:3] == ["class", "event seconds", "chance (%)"]
    assert table["headers"][3:6] == [
        "Co-attention: pointing game (%)",
        "Co-attention: mass in box (%)",
        "Co-attention: AUC (%)",
    ]
    assert table["data"] == [
        ["all classes", 30, 20.0, 75.0, 25.0, 12.5, 50.0, 25.0, 12.5],
        ["Bark", 20, 20.0, 80.0, 25.0, 12.5, 50.0, 25.0, 12.5],
        ["Cat", 10, 20.0, 65.0, 25.0, 12.5, None, None, None],
    ]
    old = render_dataset(_summary_with_attention(measured=False))  # a file from before: it still loads
    assert "not measured for this summary" in old.attention_note and old.attention["data"] == []


def test_runs_table_lists_finished_runs_with_their_test_scores(tmp_path: Path) -> None:
    """The dataset tab's Table V analogue reads each run's best.pt (here: copies of the bundled ones)."""
    from avel.training.checkpoint import read_checkpoint
    from avel.training.runs import runs_table

    for name in ("coatt_sel", "baseline_cml"):
        (tmp_path / name).mkdir()
        shutil.copyfile(ROOT / "checkpoints" / f"{name}.pt", tmp_path / name / "best.pt")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "best.pt").write_text("not a checkpoint")
    rows = {row[0]: row[1:] for row in runs_table(tmp_path)}
    sel_test = read_checkpoint(ROOT / "checkpoints" / "coatt_sel.pt")["metrics"]["test"]["accuracy"]
    assert rows["coatt_sel"] == ["coatt", "full", "both", "sel", round(100 * sel_test, 1)]
    assert rows["baseline_cml"][:4] == ["baseline", "full", "both", "cml"]
    assert "broken" not in rows


def _rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def _work_dir(tmp: Path) -> Path:
    (work,) = tmp.glob("avel-app-*")  # the app's one work folder (TMPDIR points here)
    return work


def _mb(folder: Path) -> float:
    from avel.common.files import folder_bytes

    return folder_bytes(folder) / 2**20


SOAK_CAPS = {  # small caps, so a dozen sessions must hit every one of them
    "AVEL_APP_MAX_SESSIONS": "3",
    "AVEL_APP_RENDER_CACHE_ENTRIES": "2",
    "AVEL_APP_OUTPUTS_MB": "2",
    "AVEL_APP_FEATURE_CACHE_MB": "3",
    "AVEL_APP_UPLOADS_MB": "2",
}
SOAK_SESSIONS = 12
CLIP_MB = 1.5  # the most one 3-s request adds to a cached folder before it is pruned (measured: < 1.3)
RSS_GROWTH_MB = 120  # allowed growth from the 3rd to the last session (allocator slack, no leak)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")
def test_many_new_sessions_stay_under_the_caps_and_sigterm_cleans_up(tmp_path: Path) -> None:
    """New API sessions with distinct clips: memory flat, every folder under its cap; SIGTERM removes all."""
    from clipgen import make_clip
    from gradio_client import Client, handle_file

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    process, url = _start_app(tmp_path / "app.log", {**SOAK_CAPS, "TMPDIR": str(tmp)})
    work = _work_dir(tmp)
    rss, sizes = [], []
    try:
        for index in range(SOAK_SESSIONS):
            clip = make_clip(tmp_path / f"clip{index}.mp4", 3.0, amplitude=0.2 + 0.05 * index).path
            session = Client(url, verbose=False)  # a new session
            session.predict(handle_file(str(clip)), api_name="/localize")
            if index % 3 == 0:  # the overlay videos live in the capped outputs folder too
                session.predict(handle_file(str(clip)), api_name="/overlay_videos")
            rss.append(_rss_mb(process.pid))
            sizes.append({part: _mb(work / part) for part in ("outputs", "features", "gradio")})
    finally:
        _stop(process)
    assert rss[-1] - rss[2] < RSS_GROWTH_MB, rss
    for size in sizes:
        assert size["outputs"] <= 2 + CLIP_MB and size["features"] <= 3 + CLIP_MB, sizes
        assert size["gradio"] <= 2 + 2 * CLIP_MB, sizes  # the cap, plus this request's upload and outputs
    assert process.returncode == 0 and not work.exists(), "SIGTERM left the work folder behind"


def test_app_refuses_a_checkpoint_with_nan_weights(tmp_path: Path) -> None:
    import torch

    from avel.analysis.clip import ModelPaths
    from avel.app.config import AppConfig
    from avel.app.server import load_app
    from avel.training.checkpoint import read_checkpoint, save_checkpoint

    checkpoint = read_checkpoint(ROOT / "checkpoints" / "baseline_sel.pt")
    name = next(k for k, v in checkpoint["model_state"].items() if v.is_floating_point())
    checkpoint["model_state"][name] = torch.full_like(checkpoint["model_state"][name], float("nan"))
    broken = tmp_path / "baseline_sel.pt"
    save_checkpoint(checkpoint, broken)
    shutil.copyfile(ROOT / "checkpoints" / "projection.pt", tmp_path / "projection.pt")
    config = AppConfig(models=ModelPaths(localizers={"Baseline": broken}, matchers={}))
    with pytest.raises(SystemExit, match=f"cannot start: .*baseline_sel.pt: weights contain NaN.*{name}"):
        load_app(config, tmp_path / "work")


def test_errors_hide_server_paths_and_the_data_box_stays_in_its_roots(tmp_path: Path) -> None:
    from avel.app.config import AppConfig
    from avel.app.errors import public_message

    upload = tmp_path / "gradio" / "0a1b2c" / "my clip.mp4"
    error = ValueError(f"{upload}: not a readable audio/video file ({upload})")
    message = public_message(error, upload, [tmp_path])
    assert message == "my clip.mp4: not a readable audio/video file (my clip.mp4)"
    ffmpeg = ValueError(f"{upload}: not a readable audio/video file ([Errno 1094995529] Invalid data found)")
    assert public_message(ffmpeg, upload, [tmp_path]).endswith("file (Invalid data found)")  # no errno
    other = public_message(ValueError(f"{tmp_path}/features/x.npz: broken"), None, [tmp_path])
    assert str(tmp_path) not in other and other.startswith("<server>")
    config = AppConfig.from_env({"AVEL_APP_MAX_SESSIONS": "5", "AVEL_APP_DEVICE": "ignored: not an int"})
    assert config.max_sessions == 5 and config.device == "auto"


# ---- the page as a researcher reads it (issue 24): what is on screen, by geometry and pixels --------

TIMELINE_GEOMETRY_JS = """() => {
  const plot = document.querySelector('#timeline .js-plotly-plot');
  const box = document.querySelector('#timeline').getBoundingClientRect();
  const layout = plot._fullLayout, x = layout.xaxis2, y = layout.yaxis, y2 = layout.yaxis2;
  const svg = plot.querySelector('.main-svg').getBoundingClientRect();  // plotly's pixels count from here
  const seconds = plot.data.find(t => t.meta && t.meta.role === 'row').x.length;
  const rows = {};
  for (const name of y.categoryarray) {
    rows[name] = [...Array(seconds).keys()].map(t => [
      x._offset + x.l2p(t + 0.5) + svg.left - box.left,
      y._offset + y.l2p(y.d2c(name)) + svg.top - box.top]);
  }
  const rect = el => { const r = el.getBoundingClientRect();
    return [r.left - box.left, r.top - box.top, r.right - box.left, r.bottom - box.top]; };
  const legend = {};
  for (const entry of plot.querySelectorAll('.legend .traces')) {
    legend[entry.querySelector('.legendtext').textContent] = rect(entry.querySelector('.legendpoints'));
  }
  return {rows, legend, legendBox: rect(plot.querySelector('.legend')),
          xTitle: rect(plot.querySelector('.g-x2title')),
          yTitle: plot.querySelector('.g-y2title').textContent,
          probability: [y2._offset + svg.top - box.top, y2._length]};
}"""


def _patch(image, x: float, y: float, half: int = 4):
    import numpy as np

    return np.asarray(image)[
        int(y) - half : int(y) + half + 1, int(x) - half : int(x) + half + 1, :3
    ].reshape(-1, 3)


def _screenshot(locator):
    import io

    from PIL import Image

    return Image.open(io.BytesIO(locator.screenshot())).convert("RGB")


def _score_own_clip(page, event: str, start: int, end: int) -> None:
    page.get_by_text("Score your own clip").click()
    page.click("#truth-class input")
    page.click(f"li[role=option][aria-label='{event}']")
    page.fill("#truth-start input", str(start))
    page.fill("#truth-end input", str(end))


def _check_timeline(page) -> None:
    """Points 1-3: the disagreement row follows the cells shown, the legend tells every swatch apart,
    nothing overlaps, and the probabilities sit under the rows on the same axis."""
    import numpy as np

    geometry = page.evaluate(TIMELINE_GEOMETRY_JS)
    image = _screenshot(page.locator("#timeline"))
    rows = geometry["rows"]
    coatt, base, marks = rows["Co-attention"], rows["Baseline"], rows["Disagreement"]
    differ = [
        float(np.abs(_patch(image, *a).mean(0) - _patch(image, *b).mean(0)).max()) > 25
        for a, b in zip(coatt, base, strict=True)
    ]
    marked = [int(_patch(image, *m, half=3).min()) < 80 for m in marks]  # a black x in the row
    assert any(differ) and marked == differ, (differ, marked)
    legend = geometry["legend"]
    assert "thick outline / x: the models' answers differ" in legend
    swatch = {
        name: np.asarray(image.crop(legend[name])).reshape(-1, 3).mean(0)
        for name in ("Background", "Unsure between trained classes")  # train_horn.mp4 shows both
    }
    assert np.abs(swatch["Background"] - swatch["Unsure between trained classes"]).max() > 30, swatch
    _, top, _, bottom = geometry["legendBox"]
    x_title = geometry["xTitle"]
    assert x_title[1] > bottom or x_title[3] < top  # the "seconds" title clear of the legend
    first_row_top = min(y for _, y in rows[next(iter(rows))]) - 18  # a cell is 36 px high
    assert -5 <= first_row_top - bottom < 40, (bottom, first_row_top)  # no empty band above the rows
    assert geometry["yTitle"] == "probability"
    assert geometry["probability"][0] > max(y for _, y in marks)  # under the rows, same x axis
    assert any(name.startswith("Co-attention: abstains below 0.") for name in legend)
    abstentions = []  # the hover of every cell where a model abstains, found by hovering each cell
    for row, cells in (("Co-attention", coatt), ("Baseline", base)):
        for t, cell in enumerate(cells):
            page.mouse.move(*_page_point(page, cell))
            under = page.locator(".hoverlayer .hovertext", has_text=f"{row}, {t}-{t + 1} s: ")
            hover = under.text_content(timeout=5_000)  # times out unless the cell under the pointer
            if "Unsure" in hover or "Not a known event" in hover:
                abstentions.append(hover)
    assert abstentions  # train_horn.mp4: the co-attention model is unsure on seconds 7 and 9


def _page_point(page, point: list[float]) -> tuple[float, float]:
    box = page.locator("#timeline").bounding_box()
    return box["x"] + point[0], box["y"] + point[1]


def _check_heatmaps(page) -> None:
    """Point 4: an explanation, a colour bar (blue to red), background seconds dimmed but coloured."""
    import numpy as np

    assert "red most, blue least" in page.inner_text("#heatmap-explanation")
    page.locator("#heatmap-0 img").scroll_into_view_if_needed()
    grid = np.asarray(_screenshot(page.locator("#heatmap-0 img"))).astype(int)
    bar = grid[-12, : grid.shape[1] // 4]  # the colour bar's row, its left quarter: low to high
    bluest, reddest = bar[np.argmax(bar[:, 2] - bar[:, 0])], bar[np.argmax(bar[:, 0] - bar[:, 2])]
    assert bluest[2] - bluest[0] > 100 and reddest[0] - reddest[2] > 100, (bluest, reddest)
    tile = grid[grid.shape[0] // 6 : grid.shape[0] // 3, 10 : grid.shape[1] // 5 - 10]  # second 0: background
    spread = (tile.max(axis=-1) - tile.min(axis=-1)).mean()
    assert spread > 15, spread  # dimmed, its colours kept (greyed out it would be 0)


def _check_playback(page) -> None:
    """Point 5: the cursor follows the video; a click on a second seeks it and shows its heatmaps."""
    geometry = page.evaluate(TIMELINE_GEOMETRY_JS)
    cells = geometry["rows"]["Co-attention"]
    page.evaluate("() => { document.querySelector('#video-input video').currentTime = 3.5; }")
    page.wait_for_function("() => document.querySelector('#timeline-cursor')?.dataset.time === '3.50'")
    cursor = page.locator("#timeline-cursor").bounding_box()
    box = page.locator("#timeline").bounding_box()
    expected = box["x"] + cells[3][0]  # 3.5 s: the centre of second 3
    assert abs(cursor["x"] + cursor["width"] / 2 - expected) < 3, (cursor, expected)
    page.mouse.click(*_page_point(page, cells[6]))
    page.wait_for_selector("#second-text :text('Second 6-7 s')", timeout=30_000)
    page.wait_for_selector("#second-heatmaps img", timeout=30_000)
    assert page.evaluate("() => document.querySelector('#video-input video').currentTime") == 6.5


def _uncovered(page, selector: str) -> bool:
    """No component label (Gradio's block label) overlaps the shown image, e.g. its title."""
    return page.evaluate(
        """(selector) => {
        const r = document.querySelector(selector).getBoundingClientRect();
        return [...document.querySelectorAll('[data-testid=block-label]')].every(label => {
          const l = label.getBoundingClientRect();
          return l.width === 0 || l.right <= r.left || l.left >= r.right
            || l.bottom <= r.top || l.top >= r.bottom;
        }); }""",
        selector,
    )


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (apt-get install chromium)")
def test_browser_page_reads_at_a_glance_and_links_playback(server: str) -> None:
    """Issue 24 on screen: train_horn.mp4 scored against the user's own event, each point by what is drawn.

    On train_horn.mp4 one model abstains where the other says background: the disagreement row must
    follow the answers shown, not the raw top classes."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(server, wait_until="load")
        page.wait_for_selector("#video-input input[type=file]", state="attached", timeout=60_000)
        examples = page.inner_text("#examples")
        assert "bark" in examples and "train_horn" in examples  # named thumbnails (point 9)
        page.set_input_files("#video-input input[type=file]", str(ASSETS / "train_horn.mp4"))
        page.wait_for_selector("#video-input video", state="attached", timeout=30_000)
        _score_own_clip(page, "Train horn", 6, 8)
        page.click("#localize-button")
        page.wait_for_selector("#summary :text('Per-second accuracy')", timeout=180_000)
        summary = page.inner_text("#summary")
        assert "Your ground truth: Train horn, seconds 6-8" in summary, summary  # point 6
        assert re.search(r"Co-attention \d+ of 10 s right \(\d+%\)", summary), summary
        page.wait_for_selector("#heatmap-0 img", timeout=60_000)
        page.wait_for_selector("#timeline .js-plotly-plot", timeout=60_000)
        _check_timeline(page)
        _check_heatmaps(page)
        _check_playback(page)
        page.wait_for_selector("#placement img", state="attached", timeout=60_000)
        page.locator("#placement img").scroll_into_view_if_needed()
        page.wait_for_function("() => document.querySelector('#placement img').naturalWidth > 0")  # lazy
        assert _uncovered(page, "#placement img"), "a label covers the t-SNE placement's title"
        header = page.locator("#top3-1 th", has_text="P 3").first.bounding_box()
        table = page.locator("#top3-1").bounding_box()
        assert header["x"] + header["width"] <= table["x"] + table["width"] + 1  # the last column shown
        page.click("#overlay-button")
        page.wait_for_function(
            "() => document.querySelector('#overlay-0 video')?.videoWidth === 256", timeout=120_000
        )  # the clip's own resolution (train_horn.mp4: 256 x 256), not 224-px tiles
        page.get_by_role("button", name=re.compile("Prepare downloads")).click()
        page.wait_for_selector("#downloads :text('train_horn-timeline')", timeout=60_000)
        files = page.inner_text("#downloads").replace("\n.", ".")  # the name, then its suffix below
        for name in ("results.json", "results.csv", "co-attention-heatmaps.png", "timeline.svg"):
            assert f"train_horn-{name}" in files, files

        page.get_by_role("tab", name="Cross-modal localization").click()
        page.click("#cml-button")
        page.wait_for_selector("#cml-plot-0 .js-plotly-plot", timeout=60_000)
        result = page.inner_text("#cml-result")
        assert re.search(r"best match at \d+-\d+ s", result), result  # point 7
        assert not re.search(r"seconds \d+-\d+ s", result), result
        for box, value in (("#cml-start", "7"), ("#cml-end", "3")):
            page.fill(f"{box} input[type=number]", value)
            page.press(f"{box} input[type=number]", "Enter")
        page.click("#cml-button")
        page.wait_for_selector("#cml-result :text('The span is empty')", timeout=30_000)
        assert page.locator("#cml-plot-0 .js-plotly-plot").count() == 0  # the old results are gone

        page.get_by_role("tab", name="Dataset analysis").click()
        page.click("#explore-button")
        page.wait_for_selector("#runs-note :text('bundled checkpoints')", timeout=120_000)  # point 8
        assert "coatt_sel" in page.inner_text("#runs")
        for plot in ("#confusion-0", "#tsne"):
            page.wait_for_selector(f"{plot} img", timeout=60_000)
            page.locator(f"{plot} img").scroll_into_view_if_needed()
            assert _uncovered(page, f"{plot} img"), f"something covers {plot}'s title or first row"
        shown = page.evaluate(
            "() => { const i = document.querySelector('#confusion-0 img'); return i.width / i.naturalWidth; }"
        )
        assert shown > 0.75, shown  # the 10-pt tick labels are not scaled down to a few pixels
        browser.close()
