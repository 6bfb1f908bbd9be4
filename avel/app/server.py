"""Start the app: the work folder (removed at exit and on signals), the models loaded once, then serve."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from avel.analysis.clip import (
    Analyzer,
)
from avel.app.config import MB, AppConfig
from avel.app.handlers import App
from avel.app.layout import build_demo
from avel.common.device import resolve_device
from avel.common.files import evict_oldest, pid_alive

log = logging.getLogger("avel.app")


WORK_PREFIX = "avel-app-"
MARKER = ".avel-app-owner"  # in every work folder: "avel-app PID", so a killed instance's folder is known


def make_work_dir(temp_root: Path | None = None) -> Path:
    """One temporary folder for uploads, caches and outputs, removed at exit; marked with our pid
    so that the next start can tell a killed instance's folder (SIGKILL skips atexit)."""
    work_dir = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=temp_root))
    (work_dir / MARKER).write_text(f"avel-app {os.getpid()}\n", encoding="utf-8")
    atexit.register(shutil.rmtree, work_dir, ignore_errors=True)
    return work_dir


def remove_stale_work_dirs(temp_root: Path | None = None) -> list[Path]:
    """Remove the work folders of killed app instances: ours by name, owner and marker, with a dead pid.

    A folder without the marker, of another user, or of a running instance is never touched.
    """
    root = Path(temp_root or tempfile.gettempdir())
    removed = []
    for folder in root.glob(f"{WORK_PREFIX}*"):
        marker = folder / MARKER
        try:
            if folder.is_symlink() or folder.stat().st_uid != os.getuid() or not marker.is_file():
                continue
            kind, pid = marker.read_text(encoding="utf-8").split()
        except (OSError, ValueError):  # vanished, unreadable, or not our marker's two words
            continue
        if kind == "avel-app" and pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


class UploadCap:
    """ASGI middleware: after each upload to Gradio's upload route, the upload folder is pruned to
    its cap (oldest first), so uploads that are never analysed cannot grow it past AppConfig.uploads_mb."""

    def __init__(self, app: ASGIApp, folder: Path, max_bytes: int) -> None:
        self.app, self.folder, self.max_bytes = app, folder, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)  # Gradio moves the upload into place before this returns
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].endswith("/upload"):
            await run_in_threadpool(evict_oldest, self.folder, self.max_bytes)


def upload_cap(folder: Path, max_bytes: int) -> dict[str, list[Middleware]]:
    """launch(app_kwargs=...) that puts UploadCap in front of the app."""
    return {"middleware": [Middleware(UploadCap, folder=folder, max_bytes=max_bytes)]}


def clean_up_on_signals(work_dir: Path) -> None:
    """SIGTERM and SIGINT exit through the atexit cleanup (SIGTERM's default action skips it)."""

    def stop(signum: int, _frame: object) -> None:
        log.info("signal %d: removing %s and stopping", signum, work_dir)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def load_app(config: AppConfig, work_dir: Path) -> App:
    """The models, backbones and bundled summary, checked; SystemExit with the reason otherwise."""
    paths = [*config.models.localizers.values(), *config.models.matchers.values()]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise SystemExit(f"missing checkpoints: {', '.join(missing)} (see checkpoints/README.md)")
    try:
        analyzer = Analyzer(
            config.models,
            max_seconds=config.normal_clip_seconds,
            cache_dir=work_dir / "features",
            device=str(resolve_device(config.device)),
            cache_max_bytes=config.feature_cache_mb * MB,
        )
        analyzer.extractor.load()  # the backbones now, not on the first user's clip
        app = App(config, analyzer, work_dir)
        app.warm_up()
        return app
    except ValueError as err:  # a checkpoint of the wrong shape, with NaNs, or a broken summary
        raise SystemExit(f"avel app: cannot start: {err}") from err


def main(config: AppConfig | None = None) -> None:
    """Load the models once, then serve."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = config or AppConfig.from_env()
    for folder in remove_stale_work_dirs():
        log.info("removed %s, left by a killed instance", folder)
    work_dir = make_work_dir()
    # Our own folder, always: the upload cap prunes it, and must never prune a shared one.
    os.environ["GRADIO_TEMP_DIR"] = str(work_dir / "gradio")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    app = load_app(config, work_dir)
    demo = build_demo(app)
    clean_up_on_signals(work_dir)
    demo.queue(max_size=config.queue_size).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        max_file_size=f"{config.max_upload_mb}mb",
        app_kwargs=upload_cap(app.uploads_dir, config.uploads_mb * MB),
    )
