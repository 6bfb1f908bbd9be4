"""The app's example clips (assets/): a few composite videos of different classes from TEST media.

Each clip shows an event with both kinds of hard background next to it (the object on screen but
silent, and its sound with the object off-screen), and comes with its ground truth as JSON.
Sources of unknown licence are left out, since assets/ is redistributed with the code.

    python -m avel bench examples --out assets
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from avel.bench.catalog import UNKNOWN_LICENCE_SOURCES, MediaCatalog
from avel.bench.composite import Sources, plan_record, render_clip
from avel.bench.plan import Planner, VideoPlan
from avel.bench.stats import second_kind
from avel.common.classes import AVE_CLASSES, class_index
from avel.common.config import CompositeConfig, composite_preset
from avel.data.annotations import read_annotations
from avel.data.layout import ANNOTATIONS_FILE

log = logging.getLogger(__name__)

CANDIDATES = 4000  # test plans drawn to pick from (about 2 % show the event and both hard kinds)
EVENT_LENGTHS = range(2, 9)  # an example shows background on both sides of a 2-8 s event


def slug(name: str) -> str:
    """'Fixed-wing aircraft, airplane' -> 'fixed_wing_aircraft' (file name of the example)."""
    return re.sub(r"[^a-z0-9]+", "_", name.split(",")[0].lower()).strip("_")


def _shows_everything(record: dict[str, Any], seconds: int) -> bool:
    kinds = {second_kind(record, t) for t in range(seconds)}
    start, end = record["event_span"]
    return end - start in EVENT_LENGTHS and {"visible only", "audible only"} <= kinds


def choose_examples(plans: list[VideoPlan], cfg: CompositeConfig, count: int) -> list[VideoPlan]:
    """The first plan of each class (in AVE class order) that shows event and both hard kinds."""
    chosen: dict[str, VideoPlan] = {}
    for plan in plans:
        if plan.event_class not in chosen and _shows_everything(plan_record(plan, cfg), cfg.seconds):
            chosen[plan.event_class] = plan
    ordered = sorted(chosen.values(), key=lambda p: class_index(p.event_class))
    if len(ordered) < count:
        raise ValueError(f"examples: expected {count} classes with a suitable clip, found {len(ordered)}")
    return ordered[:count]


def render_examples(out: Path, count: int = 5, seed: int = 0, sources: Sources | None = None) -> list[Path]:
    """Render `count` example clips + ground-truth JSON into `out`; returns the clip paths."""
    out, sources = Path(out), sources or Sources()
    catalog = MediaCatalog.read(sources.media, exclude_sources=UNKNOWN_LICENCE_SOURCES)
    cfg = composite_preset("full", n_train=0, n_val=0, n_test=CANDIDATES, n_background=0)
    planner = Planner(catalog, read_annotations(sources.ave / ANNOTATIONS_FILE), cfg, seed, splits=("test",))
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for plan in choose_examples(planner.plan(), cfg, count):
        name = slug(plan.event_class)
        path = out / f"{name}.mp4"
        render_clip(plan, path, catalog.root, cfg)
        record = plan_record(plan, cfg)
        truth = {
            "video": path.name,
            "class": plan.event_class,
            "class_index": class_index(plan.event_class),
            "event_span": record["event_span"],  # [start, end) in seconds
            "labels": [AVE_CLASSES[i] for i in record["labels"]],  # one per 1-s segment
            "label_indices": record["labels"],
            "visible": list(plan.visible),  # the object is on screen in [start, end)
            "audible": list(plan.audible),  # its sound is mixed in over [start, end)
            "bbox": record["bbox"],  # per second: (x0, y0, x1, y1) of the object, in pixels
            "frame_size": cfg.frame_size,
            "snr_db": plan.snr_db,
            "media": [
                {"path": item.path, "source_dataset": item.source_dataset, "license": item.license}
                for item in (catalog.items[p] for p in plan.media())
            ],
            "made_by": f"python -m avel bench examples --out {out} --count {count} --seed {seed}",
        }
        (out / f"{name}.json").write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
        log.info("example %s: %s, event %s", path, plan.event_class, record["event_span"])
        paths.append(path)
    return paths
