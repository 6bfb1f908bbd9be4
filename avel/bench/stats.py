"""Statistics of a built composite benchmark, read from its manifest: the numbers in docs/benchmark.md.

Printed as Markdown by `python -m avel bench stats DIR`, so the documentation quotes a command's
output rather than hand-typed numbers.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from avel.bench.plan import BACKGROUND, EVENT, OPEN
from avel.common.config import FeatureConfig
from avel.common.text import markdown_table
from avel.data.annotations import Annotation
from avel.data.layout import SPLITS
from avel.features.extract import PARTS_DIR
from avel.features.media import decode_clip

MANIFEST = "composite.json"  # the plan + ground truth: deterministic for a seed
BUILD_LOG = "build.json"  # wall times of the last build (not deterministic, so kept apart)
VIDEOS = "videos"
# The event videos' features are extracted into the benchmark folder itself, so its features.json
# and projection.pt sit beside the h5 files where training looks for them (avel/training/checkpoint.py);
# the background-only videos get their own folder, whose h5 files become the *_noisy.h5 files.
BACKGROUND_FEATURES = "features_background"
Video = dict[str, Any]  # one manifest entry (a VideoPlan as JSON plus its ground truth)
# Per background second: what of the class is present. "hard" = exactly one modality.
SECOND_KINDS = ("visible only", "audible only", "neither")
_SHOWN = {
    "event": "event (object visible and sound audible)",
    "visible only": "background: object visible, silent",
    "audible only": "background: sound audible, object off-screen",
    "neither": "background: neither",
    "open event": "background: another kind of event seen and heard (open-set videos)",
}


def read_manifest(out: Path) -> dict[str, Any]:
    """The manifest written by `build_benchmark` (composite.json)."""
    path = Path(out) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no composite manifest (expected a folder made by `bench build`)")
    return json.loads(path.read_text(encoding="utf-8"))


def open_event_spans(out: Path) -> dict[str, tuple[int, int]]:
    """Video name -> the span where its open-set event is seen and heard; empty when `out` holds no
    composite manifest (a folder of real AVE features) or no open-set videos."""
    if not (Path(out) / MANIFEST).is_file():
        return {}
    return {
        v["name"]: (v["event_span"][0], v["event_span"][1])
        for v in read_manifest(out)["videos"]
        if v.get("kind") == OPEN
    }


def second_kind(video: dict[str, Any], t: int) -> str:
    """'event' ('open event' in an open-set video: another kind, labelled background), or which
    modality carries the class in a background second."""
    visible = video["event_object"]["visible"][0] <= t < video["event_object"]["visible"][1]
    audible = video["audible"][0] <= t < video["audible"][1]
    if visible and audible and video.get("kind") == OPEN:
        return "open event"
    return {
        (True, True): "event",
        (True, False): "visible only",
        (False, True): "audible only",
        (False, False): "neither",
    }[(visible, audible)]


def _share(n: int, total: int) -> str:
    return f"{n} ({100 * n / total:.1f} %)" if total else "0"


def _mb(*paths: Path) -> str:
    """Total size of files and folders, in MB."""
    files = [f for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()]
    return f"{sum(f.stat().st_size for f in files) / 2**20:.1f} MB"


def _distinct_per_split(videos: list[Video], key: Callable[[Video], str]) -> str:
    """'train/val/test' counts of distinct key(video) values."""
    return "/".join(str(len({key(v) for v in videos if v["split"] == s})) for s in SPLITS)


def _classes(manifest: dict[str, Any], events: list[Video], background: list[Video]) -> str:
    """Videos per class and split, and how many distinct event photos/recordings they share."""
    rows = []
    for name in manifest["classes"]:
        mine = [v for v in events + background if v["event_class"] == name]
        rows.append(
            [
                name,
                *(sum(v["split"] == s for v in mine if v["kind"] == EVENT) for s in SPLITS),
                sum(v["kind"] != EVENT for v in mine),
                _distinct_per_split(mine, lambda v: v["event_object"]["image"]),
                _distinct_per_split(mine, lambda v: v["sound"]),
            ]
        )
    rows.append(["total", *(sum(v["split"] == s for v in events) for s in SPLITS), len(background), "", ""])
    return "### Videos per class and split\n\n" + markdown_table(
        [
            "class",
            *SPLITS,
            "background-only (train)",
            "distinct photos (train/val/test)",
            "distinct recordings (train/val/test)",
        ],
        rows,
    )


def _lengths(events: list[Video], seconds: int, ave: list[Annotation] | None) -> str:
    """Event-length histogram, beside AVE's own when its annotations are given."""
    ours = Counter(v["event_span"][1] - v["event_span"][0] for v in events)
    theirs = Counter(a.end - a.start for a in ave or [] if a.end > a.start)
    lengths = range(1, seconds + 1)
    rows = [["this benchmark", *(f"{100 * ours[n] / max(1, len(events)):.1f} %" for n in lengths)]]
    if ave:
        rows.append(["AVE Annotations.txt", *(f"{100 * theirs[n] / theirs.total():.1f} %" for n in lengths)])
    return "### Event length histogram (share of event videos)\n\n" + markdown_table(
        ["event length (s)", *map(str, lengths)], rows
    )


def _seconds(events: list[Video], background: list[Video], seconds: int) -> str:
    """What each second holds; the share of hard background seconds."""
    kinds = Counter(second_kind(v, t) for v in events for t in range(seconds))
    bg_kinds = Counter(second_kind(v, t) for v in background for t in range(seconds))
    n_event, n_background = len(events) * seconds, len(background) * seconds
    background_seconds = n_event - kinds["event"]
    hard = kinds["visible only"] + kinds["audible only"]
    with_background = sum(1 for v in events if v["event_span"] != [0, seconds])
    return (
        "### Seconds (share of each column's seconds)\n\n"
        + markdown_table(
            ["second", "event videos", "background-only videos"],
            [
                [_SHOWN[k], _share(kinds[k], n_event), _share(bg_kinds[k], n_background)]
                for k in ("event", *SECOND_KINDS)
            ]
            + [["all", n_event, n_background]],
        )
        + f"\n\nHard background (the class in one modality only): {_share(hard, background_seconds)} of "
        f"the {background_seconds} background seconds of event videos; {with_background} of "
        f"{len(events)} event videos have background seconds."
    )


def _media(videos: list[Video]) -> str:
    """Distinct files of every kind per split, and the SNR range."""
    rows = []
    for split in SPLITS:
        mine = [v for v in videos if v["split"] == split]
        scenes = {p for v in mine for p in [v["backdrop"], *(d["image"] for d in v["distractors"])]}
        ambient = {p for v in mine for p in v["ambient"]}
        rows.append(
            [
                split,
                len(mine),
                len({v["event_object"]["image"] for v in mine}),
                len({v["sound"] for v in mine}),
                len(scenes),
                len(ambient),
            ]
        )
    snr = [v["snr_db"] for v in videos]
    return (
        "### Distinct media used (all videos of a split)\n\n"
        + markdown_table(
            [
                "split",
                "videos",
                "event photos",
                "event recordings",
                "backdrop/distractor photos",
                "ambient recordings",
            ],
            rows,
        )
        + f"\n\nEvent-over-ambient SNR: {min(snr):.1f} to {max(snr):.1f} dB."
    )


def _disk(out: Path, frames_per_segment: int) -> str:
    """Sizes on disk and the last build's wall times (absent for a plan-only folder)."""
    timing = json.loads((out / BUILD_LOG).read_text(encoding="utf-8"))
    rows = [
        ["videos/ (mp4)", _mb(out / VIDEOS)],
        ["AVE layout (*.h5, *.txt)", _mb(*out.glob("*.h5"), *out.glob("*.txt"))],
        [
            f"extraction cache ({PARTS_DIR}/, {BACKGROUND_FEATURES}/)",
            _mb(out / PARTS_DIR, out / BACKGROUND_FEATURES),
        ],
        ["whole folder", _mb(out)],
    ]
    return (
        "### Disk and build time\n\n"
        + markdown_table(["part", "size"], rows)
        + (
            f"\n\nLast build: render {timing['render_s']} s, features {timing['features_s']} s, total "
            f"{timing['total_s']} s with {timing['workers']} worker(s), K = {frames_per_segment}."
        )
    )


def loudness_per_kind(out: Path) -> dict[str, list[float]]:
    """dBFS of every second of the decoded soundtracks, grouped by kind of second (decodes every video).

    The check behind "level alone does not give the label": event seconds must not be louder.
    """
    out = Path(out)
    manifest = read_manifest(out)
    seconds, sr = manifest["config"]["seconds"], manifest["config"]["sample_rate"]
    # the sound is what is measured: one tiny frame per second keeps the decode cheap
    decode_cfg = FeatureConfig(frames_per_segment=1, frame_size=32, sample_rate=sr)
    levels: dict[str, list[float]] = {k: [] for k in ("event", *SECOND_KINDS, "open event")}
    for video in tqdm(manifest["videos"], desc="loudness", unit="video"):
        audio = decode_clip(out / VIDEOS / f"{video['name']}.mp4", decode_cfg).audio
        power = np.mean(np.square(audio[: seconds * sr].reshape(seconds, sr), dtype=np.float64), axis=1)
        for t, db in enumerate(10 * np.log10(np.maximum(power, 1e-12))):  # (T,) dBFS
            levels[second_kind(video, t)].append(float(db))
    return levels


def loudness_stats(out: Path) -> str:
    """Markdown table of `loudness_per_kind`: mean, spread and share near the target per kind."""
    target = read_manifest(out)["config"]["target_dbfs"]
    rows = [
        [
            _SHOWN[k],
            len(v),
            f"{np.mean(v):.2f}",
            f"{np.std(v):.2f}",
            _share(sum(abs(x - target) <= 1 for x in v), len(v)),
        ]
        for k, v in loudness_per_kind(out).items()
        if v
    ]
    return (
        f"### Loudness of the decoded audio per second (target {target} dBFS)\n\n"
        + markdown_table(["second", "seconds", "mean dBFS", "std dB", "within 1 dB of the target"], rows)
        + "\n"
    )


def _realism(events: list[dict[str, Any]], opened: list[dict[str, Any]], seconds: int) -> str:
    """How the event videos are shot (photo filling the frame or pasted, camera still or moving),
    and how much of the open-set videos shows their other event."""
    n = max(len(events), 1)
    filled = sum(v["event_object"].get("fill", False) for v in events)
    moving = sum(v["camera"]["zoom"] != [1.0, 1.0] for v in events)
    open_event = sum(second_kind(v, t) == "open event" for v in opened for t in range(seconds))
    return (
        f"Event photo filling the frame: {_share(filled, n)}; pasted: {_share(len(events) - filled, n)}. "
        f"Camera moving (zoom, pan, shake): {_share(moving, n)}. Open-set videos: {len(opened)}, their "
        f"other event seen and heard in {_share(open_event, len(opened) * seconds)} of their seconds "
        "(all labelled background)."
    )


def benchmark_stats(out: Path, ave_annotations: list[Annotation] | None = None) -> str:
    """Markdown: classes per split, event lengths (vs AVE), background kinds, media use, size, time."""
    out = Path(out)
    manifest = read_manifest(out)
    videos, seconds = manifest["videos"], manifest["config"]["seconds"]
    events = [v for v in videos if v["kind"] == EVENT]
    background = [v for v in videos if v["kind"] == BACKGROUND]
    opened = [v for v in videos if v["kind"] == OPEN]
    built = (out / BUILD_LOG).is_file()
    parts = [
        f"Benchmark `{out}`: preset {manifest['preset']}, seed {manifest['seed']}, {len(events)} event "
        f"videos + {len(opened)} open-set videos + {len(background)} background-only videos"
        + ("." if built else " (plan only, not built)."),
        _realism(events, opened, seconds),
        _classes(manifest, events, background),
        _lengths(events, seconds, ave_annotations),
        _seconds(events, background, seconds),
        _media(videos),
        *([_disk(out, manifest["config"]["frames_per_segment"])] if built else []),
    ]
    return "\n\n".join(parts) + "\n"
