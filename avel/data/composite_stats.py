"""Statistics of a built composite benchmark, read from its manifest: the numbers in docs/benchmark.md.

Printed as Markdown by `python -m avel bench stats DIR`, so the documentation quotes a command's
output rather than hand-typed numbers.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from avel.data.annotations import Annotation
from avel.data.composite_config import SPLITS

MANIFEST = "composite.json"  # the plan + ground truth: deterministic for a seed
BUILD_LOG = "build.json"  # wall times of the last build (not deterministic, so kept apart)
VIDEOS = "videos"
FEATURES = "features"  # extract_videos' output for the event videos (projection fitted here)
BACKGROUND_FEATURES = "features_background"
# Per background second: what of the class is present. "hard" = exactly one modality.
SECOND_KINDS = ("visible only", "audible only", "neither")
_SHOWN = {
    "event": "event (object visible and sound audible)",
    "visible only": "background: object visible, silent",
    "audible only": "background: sound audible, object off-screen",
    "neither": "background: neither",
}


def read_manifest(out: Path) -> dict[str, Any]:
    """The manifest written by `build_benchmark` (composite.json)."""
    path = Path(out) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no composite manifest (expected a folder made by `bench build`)")
    return json.loads(path.read_text(encoding="utf-8"))


def second_kind(video: dict[str, Any], t: int) -> str:
    """'event', or which modality carries the class in a background second."""
    visible = video["event_object"]["visible"][0] <= t < video["event_object"]["visible"][1]
    audible = video["audible"][0] <= t < video["audible"][1]
    return {(True, True): "event", (True, False): "visible only", (False, True): "audible only",
            (False, False): "neither"}[(visible, audible)]


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _share(n: int, total: int) -> str:
    return f"{n} ({100 * n / total:.1f} %)" if total else "0"


def _folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20 if path.exists() else 0.0


def benchmark_stats(out: Path, ave_annotations: list[Annotation] | None = None) -> str:
    """Markdown: classes per split, event lengths (vs AVE), background kinds, media use, size, time."""
    out = Path(out)
    manifest = read_manifest(out)
    videos = manifest["videos"]
    seconds = manifest["config"]["seconds"]
    events = [v for v in videos if v["kind"] == "event"]
    background = [v for v in videos if v["kind"] != "event"]
    parts = [f"Benchmark `{out}`: preset {manifest['preset']}, seed {manifest['seed']}, "
             f"{len(events)} event videos + {len(background)} background-only videos."]

    per_class = Counter((v["event_class"], v["split"]) for v in events)
    parts.append("### Event videos per class and split\n\n" + _table(
        ["class", *SPLITS, "background-only (train)"],
        [[c, *(per_class[(c, s)] for s in SPLITS), sum(v["event_class"] == c for v in background)]
         for c in manifest["classes"]]
        + [["total", *(sum(v["split"] == s for v in events) for s in SPLITS), len(background)]],
    ))

    lengths = Counter(v["event_span"][1] - v["event_span"][0] for v in events)
    header, row = ["event length (s)"], ["this benchmark"]
    ave_row = ["AVE Annotations.txt"]
    ave_lengths = Counter(a.end - a.start for a in ave_annotations or [] if a.end > a.start)
    for n in range(1, seconds + 1):
        header.append(str(n))
        row.append(f"{100 * lengths[n] / max(1, len(events)):.1f} %")
        ave_row.append(f"{100 * ave_lengths[n] / max(1, ave_lengths.total()):.1f} %")
    parts.append("### Event length histogram (share of event videos)\n\n"
                 + _table(header, [row, *([ave_row] if ave_annotations else [])]))

    kinds = Counter(second_kind(v, t) for v in events for t in range(seconds))
    bg_kinds = Counter(second_kind(v, t) for v in background for t in range(seconds))
    n_event, n_background = len(events) * seconds, len(background) * seconds
    background_seconds = n_event - kinds["event"]
    hard = kinds["visible only"] + kinds["audible only"]
    parts.append("### Seconds (share of each column's seconds)\n\n" + _table(
        ["second", "event videos", "background-only videos"],
        [[_SHOWN[k], _share(kinds[k], n_event),
          _share(bg_kinds[k], n_background)] for k in ("event", *SECOND_KINDS)]
        + [["all", n_event, n_background]],
    ) + f"\n\nHard background (the class in one modality only): {_share(hard, background_seconds)} of "
        f"the {background_seconds} background seconds of event videos; "
        f"{sum(1 for v in events if v['event_span'] != [0, seconds])} of {len(events)} event videos "
        "have background seconds (AVE: a third).")

    rows = []
    for split in SPLITS:
        in_split = [v for v in videos if v["split"] == split]
        photos = {v["event_object"]["image"] for v in in_split}
        sounds = {v["sound"] for v in in_split}
        scenes = {p for v in in_split for p in [v["backdrop"], *(d["image"] for d in v["distractors"])]}
        ambient = {p for v in in_split for p in v["ambient"]}
        rows.append([split, len(in_split), len(photos), len(sounds), len(scenes), len(ambient)])
    snr = [v["snr_db"] for v in videos]
    parts.append("### Distinct media used\n\n" + _table(
        ["split", "videos", "event photos", "event recordings", "backdrop/distractor photos",
         "ambient recordings"], rows,
    ) + f"\n\nEvent-over-ambient SNR: {min(snr):.1f} to {max(snr):.1f} dB.")

    parts_on_disk = (VIDEOS, FEATURES, BACKGROUND_FEATURES)
    size_rows = [[name, f"{_folder_mb(out / name):.1f} MB"] for name in parts_on_disk]
    size_rows.append(["whole folder", f"{_folder_mb(out):.1f} MB"])
    build = out / BUILD_LOG
    timing = json.loads(build.read_text(encoding="utf-8")) if build.is_file() else None
    parts.append("### Disk and build time\n\n" + _table(["part", "size"], size_rows) + (
        f"\n\nLast build: render {timing['render_s']} s, features {timing['features_s']} s, total "
        f"{timing['total_s']} s with {timing['workers']} worker(s)." if timing else ""))
    return "\n\n".join(parts) + "\n"
