"""Build the composite benchmark: real photos and recordings rendered into AVE-style videos.

`build_benchmark` plans every video from a seed (composite_plan), renders them to H.264/AAC mp4
files with worker processes (composite_scene, composite_audio), runs the features path on the
decoded files, and writes the official AVE layout plus a manifest of what went where. Each step
skips what a previous run finished, so an interrupted build resumes.

    python -m avel bench build --preset tiny --out data/bench-tiny
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from avel.bench.audio import render_audio
from avel.bench.catalog import MediaCatalog
from avel.bench.plan import BACKGROUND, OPEN, Planner, VideoPlan
from avel.bench.scene import render_frames
from avel.bench.stats import BACKGROUND_FEATURES, BUILD_LOG, MANIFEST, VIDEOS
from avel.common.classes import AVE_CLASSES, BACKGROUND_INDEX, class_index
from avel.common.config import AVE_AUDIO_DIM, AVE_VISUAL_DIM, CompositeConfig, FeatureConfig
from avel.common.files import atomic_path
from avel.data.annotations import Annotation, read_annotations
from avel.data.features_info import FeaturesInfo
from avel.data.layout import ANNOTATIONS_FILE, SPLITS
from avel.data.writer import write_ave_layout
from avel.features.extract import ExtractResult, extract_videos
from avel.features.media import write_clip
from avel.features.projection import Projection

log = logging.getLogger(__name__)

SHARED = Path(__file__).resolve().parents[3] / "shared"  # the checkout's sibling shared/ folder
DEFAULT_MEDIA = SHARED / "media"
DEFAULT_AVE = SHARED / "ave"
FORMAT = "avel.composite/1"


@dataclass(frozen=True)
class Sources:
    """Where the real inputs are: the media package and AVE's Annotations.txt (for the spans)."""

    media: Path = DEFAULT_MEDIA
    ave: Path = DEFAULT_AVE


def plan_record(plan: VideoPlan, cfg: CompositeConfig) -> dict[str, Any]:
    """A manifest entry: the plan plus the ground truth derived from it."""
    return {
        **plan.to_dict(),
        "event_span": list(plan.event_span),
        "labels": plan.labels(cfg.seconds),
        "bbox": [
            list(b) if b else None
            for b in plan.event_object.boxes_per_second(cfg.seconds, cfg.fps, plan.camera)
        ],
    }


def render_clip(plan: VideoPlan, path: Path, media_root: Path, cfg: CompositeConfig) -> None:
    """Render one plan to `path` (mp4); written under a temporary name first, so a file that
    exists is always complete and a resumed build can skip it."""
    frames = render_frames(plan, media_root, cfg)
    audio = render_audio(plan, media_root, cfg)
    with atomic_path(path) as partial:
        write_clip(partial, frames, cfg.fps, audio, sample_rate=cfg.sample_rate, crf=plan.look.crf)


def _render_task(task: tuple[VideoPlan, Path, Path, CompositeConfig]) -> None:
    """Worker entry point: one argument, for Pool.imap_unordered."""
    render_clip(*task)


def _check_resume(out: Path, manifest: dict[str, Any]) -> None:
    """Refuse to resume into a folder planned with another seed or config (it would mix videos)."""
    path = out / MANIFEST
    if not path.is_file():
        return
    old = json.loads(path.read_text(encoding="utf-8"))
    if old != json.loads(json.dumps(manifest)):  # compared as JSON: tuples are lists there
        raise ValueError(
            f"{path}: this folder holds a build with seed {old.get('seed')} and a different plan "
            f"(expected seed {manifest['seed']}); use another --out or delete the folder"
        )


def render_all(
    plans: list[VideoPlan], out: Path, media_root: Path, cfg: CompositeConfig, workers: int
) -> None:
    """Render every plan whose video is missing, with `workers` processes."""
    videos = out / VIDEOS
    videos.mkdir(parents=True, exist_ok=True)
    todo = [p for p in plans if not (videos / f"{p.name}.mp4").is_file()]
    log.info("rendering %d of %d videos (%d already there)", len(todo), len(plans), len(plans) - len(todo))
    tasks = [(p, videos / f"{p.name}.mp4", media_root, cfg) for p in todo]
    progress = tqdm(total=len(tasks), desc="render", unit="video", disable=not tasks)
    if workers <= 1:
        for task in tasks:
            _render_task(task)
            progress.update()
    else:
        with Pool(workers) as pool:
            for _ in pool.imap_unordered(_render_task, tasks, chunksize=4):
                progress.update()
    progress.close()


def build_benchmark(
    out: Path,
    cfg: CompositeConfig,
    seed: int = 0,
    workers: int = 2,
    sources: Sources | None = None,
    preset_name: str = "custom",
    plan_only: bool = False,
    projection: Projection | None = None,
) -> dict[str, Any]:
    """Plan, render, extract and write the AVE layout into `out`; returns the manifest.

    `plan_only` stops after writing the manifest: the statistics of a preset, in seconds.
    `projection` (e.g. the bundled checkpoints/projection.pt) replaces the PCA fitted on the train
    videos: backbone features differ in the last bits from one CPU to another, so a PCA fitted
    here is another basis than the bundled models', and `evaluate` refuses it. Given to a finished
    build, it only re-projects the cached native features (a minute, no rendering or extraction).
    """
    start = time.perf_counter()
    out, sources = Path(out), sources or Sources()
    catalog = MediaCatalog.read(sources.media)
    planner = Planner(catalog, read_annotations(sources.ave / ANNOTATIONS_FILE), cfg, seed)
    plans = planner.plan()
    manifest = {
        "format": FORMAT,
        "preset": preset_name,
        "seed": seed,
        "config": asdict(cfg),
        "classes": list(planner.classes),
        "videos": [plan_record(p, cfg) for p in plans],
    }
    _check_resume(out, manifest)
    out.mkdir(parents=True, exist_ok=True)
    if not (out / MANIFEST).is_file():  # one already there is this very manifest (_check_resume)
        (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    if plan_only:
        return manifest
    finished = (out / BUILD_LOG).is_file() and all((out / VIDEOS / f"{p.name}.mp4").is_file() for p in plans)
    if finished and (projection is None or _projection_id(out) == projection.id):
        # Finished before (the build log is written last): rewriting its features would only cost
        # minutes and pull the h5 files from under any training that reads them.
        log.info("%s: already built (%d videos); nothing to do", out, len(plans))
        return manifest

    render_all(plans, out, catalog.root, cfg, workers)
    rendered = time.perf_counter()
    write_features_and_labels(out, plans, cfg, projection)
    done = time.perf_counter()
    timing = {
        "render_s": round(rendered - start, 1),
        "features_s": round(done - rendered, 1),
        "total_s": round(done - start, 1),
        "workers": workers,
    }
    (out / BUILD_LOG).write_text(json.dumps(timing, indent=1) + "\n", encoding="utf-8")
    log.info("built %d videos in %s: %s", len(plans), out, timing)
    return manifest


def _extracted(result: ExtractResult, plans: list[VideoPlan]) -> tuple[np.ndarray, np.ndarray]:
    """The features of `plans` in plan order; every rendered video must have been extracted."""
    skipped = [r for r in result.records if r.row is None]
    if skipped:
        raise ValueError(
            f"{result.out_dir}: {len(skipped)} of {len(plans)} rendered videos could not be extracted, "
            f"e.g. {skipped[0].path} ({skipped[0].status}: {skipped[0].message})"
        )
    return result.arrays()


def _projection_id(out: Path) -> str | None:
    """The id of the PCA a finished build's features were projected with."""
    info = FeaturesInfo.read(out)
    return info.projection.id if info is not None and info.projection is not None else None


def write_features_and_labels(
    out: Path, plans: list[VideoPlan], cfg: CompositeConfig, projection: Projection | None = None
) -> None:
    """Extract features from the decoded videos and write the AVE layout (rows = event and open-set
    videos; the open-set ones, background throughout, are left out of CML's split: they have no
    audio-visual pair of a class to match).

    The projection to AVE's sizes is fitted on the train videos only (or is the given one) and
    reused for the background-only videos. extract_videos keeps per-video parts, so a re-run skips
    finished videos.
    """
    events = [p for p in plans if p.kind != BACKGROUND]
    background = [p for p in plans if p.kind == BACKGROUND]
    # the default backbones and frame size (224): only K is the bench's own choice
    feature_cfg = FeatureConfig(frames_per_segment=cfg.frames_per_segment, sample_rate=cfg.sample_rate)
    videos = out / VIDEOS
    result = extract_videos(
        [videos / f"{p.name}.mp4" for p in events],
        out,  # features.json and projection.pt land beside the h5 files, where training reads them
        feature_cfg,
        segments=cfg.seconds,
        **(
            {"projection": projection}
            if projection is not None
            else {
                "project_to": (AVE_VISUAL_DIM, AVE_AUDIO_DIM),  # AVE's VGG19 / VGGish sizes
                "fit_on": [videos / f"{p.name}.mp4" for p in events if p.split == "train"],
            }
        ),
    )
    audio, visual = _extracted(result, events)
    bg_audio = bg_visual = None
    if background:
        bg_audio, bg_visual = _extracted(
            extract_videos(
                [videos / f"{p.name}.mp4" for p in background],
                out / BACKGROUND_FEATURES,
                feature_cfg,
                segments=cfg.seconds,
                projection=result.projection,
            ),
            background,
        )
    orders = {s: np.array([i for i, p in enumerate(events) if p.split == s], dtype=np.int64) for s in SPLITS}
    match_orders = {
        s: np.array([i for i, p in enumerate(events) if p.split == s and p.kind != OPEN], dtype=np.int64)
        for s in SPLITS
    }
    write_ave_layout(
        out,
        audio=audio,
        visual=visual,
        event_class=np.array([class_index(p.event_class) for p in events], dtype=np.int64),
        event_mask=np.array(
            [[label != BACKGROUND_INDEX for label in p.labels(cfg.seconds)] for p in events], dtype=np.float32
        ),
        orders=orders,
        match_orders=match_orders,  # the splits are media-disjoint already; CML uses the same event rows
        background_audio=bg_audio,
        background_visual=bg_visual,
        annotations=[
            Annotation(p.event_class, p.name, "good", *(p.event_span if p.kind != OPEN else (0, 0)))
            for p in events
        ],
        classes=AVE_CLASSES,
    )
