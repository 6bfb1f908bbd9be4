"""Memory and disk of the app across many new API sessions, each with a distinct clip.

    python -m benchmarks.app_soak [--sessions 50] [--clip assets/bark.mp4]

Starts `python app.py` (default AppConfig caps) with its work folder in a temporary TMPDIR, then
opens one new gradio_client session per clip (a byte-distinct copy, so every request decodes,
extracts and renders) and prints the server's RSS and the size of each capped folder every 10
sessions. Prints figures; asserts nothing (tests/test_app.py checks the caps with small values).
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

from avel.common.files import folder_bytes
from benchmarks.app_latency import ROOT, distinct_copy, free_port, start_app, timed_localize

PARTS = ("outputs", "features", "gradio")  # the app's capped folders (AppConfig)


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def folder_mb(folder: Path) -> float:
    return folder_bytes(folder) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--clip", type=Path, default=ROOT / "assets" / "bark.mp4")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="avel-soak-") as tmp:
        folder = Path(tmp)
        port = free_port()
        process = start_app(port, folder / "app.log", {"TMPDIR": str(folder)})
        (work,) = folder.glob("avel-app-*")
        url = f"http://127.0.0.1:{port}/"
        print(
            f"{'sessions':>8} {'RSS MB':>8} "
            + " ".join(f"{p + ' MB':>11}" for p in PARTS)
            + f" {'s/request':>9}"
        )
        started = time.perf_counter()
        try:
            for index in range(1, args.sessions + 1):
                timed_localize(url, distinct_copy(args.clip, folder, index))
                if index % 10 == 0 or index == 1:
                    sizes = " ".join(f"{folder_mb(work / p):>11.1f}" for p in PARTS)
                    rate = (time.perf_counter() - started) / index
                    print(f"{index:>8} {rss_mb(process.pid):>8.0f} {sizes} {rate:>9.2f}", flush=True)
        finally:
            process.terminate()
            process.wait(timeout=30)
        print(f"after SIGTERM the work folder {'is gone' if not work.exists() else 'REMAINS'}")


if __name__ == "__main__":
    main()
