"""The app as a user and an API client meet it: a real server, real checkpoints, real example clips.

One server (python app.py on a free port) serves the whole module; gradio_client drives the API
and headless Chromium the page.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _examples() -> list[Path]:
    return sorted(ASSETS.glob("*.mp4"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """`python app.py` on a free port; yields its URL and stops it afterwards."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("app") / "app.log"
    env = {
        **os.environ,
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONUNBUFFERED": "1",
    }
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"app.py exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(1)
    else:
        process.kill()
        pytest.fail(f"app.py did not listen within {STARTUP_TIMEOUT_S} s:\n{log_path.read_text()[-3000:]}")
    yield url
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def client(server: str):
    from gradio_client import Client

    return Client(server, verbose=False)


def test_examples_have_ground_truth() -> None:
    examples = _examples()
    assert len(examples) >= 3, "assets/ needs example clips (python -m avel bench examples --out assets)"
    for clip in examples:
        record = json.loads(clip.with_suffix(".json").read_text())
        assert len(record["label_indices"]) == 10


def test_localize_example_returns_timeline_heatmaps_and_tables(client) -> None:
    from gradio_client import handle_file

    clip = _examples()[0]
    result = client.predict(handle_file(str(clip)), api_name="/localize")
    summary, timeline, gallery_coatt, gallery_baseline, video_coatt, video_baseline, top_coatt, top_base = (
        result[:8]
    )
    assert "Co-attention" in summary and "Baseline" in summary and "Ground truth" in summary
    plot = json.loads(timeline["plot"]) if isinstance(timeline, dict) and "plot" in timeline else timeline
    assert plot, "the timeline plot is empty"
    assert len(gallery_coatt) == 10 and len(gallery_baseline) == 10  # one heatmap per second
    for video in (video_coatt, video_baseline):
        path = video["video"] if isinstance(video, dict) and "video" in video else video
        path = path["path"] if isinstance(path, dict) else path
        assert Path(path).stat().st_size > 0
    for table in (top_coatt, top_base):
        rows = table["data"] if isinstance(table, dict) else table
        assert len(rows) == 10 and len(rows[0]) == 7  # seconds + 3 x (class, probability)


def test_cross_modal_after_localize(client) -> None:
    from gradio_client import handle_file

    client.predict(handle_file(str(_examples()[0])), api_name="/localize")
    text, *plots = client.predict("A2V", 2, 5, api_name="/cross_modal")
    assert "best match at seconds" in text
    assert len(plots) == 2


def test_bad_upload_gets_a_clear_error(client, tmp_path: Path) -> None:
    from gradio_client import handle_file

    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video")
    with pytest.raises(Exception, match=r"(?i)not a readable|cannot|invalid|media"):
        client.predict(handle_file(str(fake)), api_name="/localize")
    # The server keeps serving after the error.
    summary = client.predict(handle_file(str(_examples()[1])), api_name="/localize")[0]
    assert "Co-attention" in summary


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (apt-get install chromium)")
def test_browser_upload_shows_timeline_and_heatmap(server: str) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(server, wait_until="load")  # Gradio's open event stream never lets the network idle
        page.wait_for_selector("#video-input input[type=file]", state="attached", timeout=60_000)
        page.set_input_files("#video-input input[type=file]", str(_examples()[0]))
        page.wait_for_timeout(1500)
        page.click("#localize-button")
        page.wait_for_selector("#timeline .js-plotly-plot, #timeline .plotly", timeout=180_000)
        page.wait_for_selector("#gallery-0 img", timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "app-localize.png"), full_page=True)
        assert "seconds" in page.inner_text("#summary")
        browser.close()


def test_runs_table_lists_finished_runs_with_their_test_scores(tmp_path: Path) -> None:
    """The dataset tab's Table V analogue reads each run's best.pt (here: copies of the bundled ones)."""
    from avel.checkpoint import read_checkpoint
    from avel.explore import runs_table

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
