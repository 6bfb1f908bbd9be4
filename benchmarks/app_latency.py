"""Upload-to-result latency of the app for a 10-s clip: cold, cached, and 4 users at once.

    python -m benchmarks.app_latency [--clip assets/bark.mp4] [--users 4]

Starts `python app.py` on a free port (bundled checkpoints), then drives the /localize endpoint
with gradio_client, as a browser would. "Cold" is the first analysis of a file (decoding,
backbones, models and drawing run); "again" is the same file again (the rendered views come from
the app's render cache). Targets (issue 12): cold < 3 s, again < 0.5 s on a 2-core CPU.
Concurrent users each upload a byte-distinct copy of the clip, so none of them hits the cache.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_S = 300
COLD_TARGET_S, AGAIN_TARGET_S = 3.0, 0.5


def start_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", **(extra or {})}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(port: int, log_path: Path, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    """The app as `make demo` runs it (plus `extra_env`), on `port`; returns once it listens."""
    env = {**start_env(extra_env), "GRADIO_SERVER_PORT": str(port)}
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"app.py exited:\n{log_path.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit(f"app.py did not start within {STARTUP_TIMEOUT_S} s")


def distinct_copy(clip: Path, folder: Path, index: int) -> Path:
    """A copy with one extra trailing byte: same video, different content hash (no cache hit)."""
    copy = folder / f"{clip.stem}-{index}{clip.suffix}"
    shutil.copyfile(clip, copy)
    with copy.open("ab") as handle:
        handle.write(bytes([index % 256]))
    return copy


def timed_localize(url: str, clip: Path) -> float:
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    started = time.perf_counter()
    client.predict(handle_file(str(clip)), api_name="/localize")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clip", type=Path, default=ROOT / "assets" / "bark.mp4")
    parser.add_argument("--users", type=int, default=4)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="avel-latency-") as tmp:
        folder = Path(tmp)
        process = start_app(port, folder / "app.log")
        url = f"http://127.0.0.1:{port}/"
        try:
            first = distinct_copy(args.clip, folder, 0)
            cold = timed_localize(url, first)
            cached = timed_localize(url, first)
            copies = [distinct_copy(args.clip, folder, i + 1) for i in range(args.users)]
            started = time.perf_counter()
            with ThreadPoolExecutor(args.users) as pool:
                each = list(pool.map(lambda clip: timed_localize(url, clip), copies))
            wall = time.perf_counter() - started
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(f"clip: {args.clip.name}; CPU threads: {os.cpu_count()}")
    print(f"cold (decode + backbones + models + figures): {cold:.2f} s (target < {COLD_TARGET_S} s)")
    print(f"again (the same file, rendered views cached): {cached:.2f} s (target < {AGAIN_TARGET_S} s)")
    print(
        f"{args.users} concurrent users, each a new file: wall {wall:.2f} s; per user median "
        f"{statistics.median(each):.2f} s, max {max(each):.2f} s"
    )


if __name__ == "__main__":
    main()
