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

from avel.analysis.clip import (
    Analyzer,
)
from avel.app.config import MB, AppConfig
from avel.app.handlers import App
from avel.app.layout import CSS, PLAYBACK_JS, build_demo
from avel.common.device import resolve_device

log = logging.getLogger("avel.app")


def make_work_dir() -> Path:
    """One temporary folder for uploads, caches and outputs, removed at exit."""
    work_dir = Path(tempfile.mkdtemp(prefix="avel-app-"))
    atexit.register(shutil.rmtree, work_dir, ignore_errors=True)
    return work_dir


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
    work_dir = make_work_dir()
    os.environ.setdefault("GRADIO_TEMP_DIR", str(work_dir / "gradio"))
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    demo = build_demo(load_app(config, work_dir))
    clean_up_on_signals(work_dir)
    demo.queue(max_size=config.queue_size).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        max_file_size=f"{config.max_upload_mb}mb",
        css=CSS,
        js=PLAYBACK_JS,
    )
