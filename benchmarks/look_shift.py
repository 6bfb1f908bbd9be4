"""Which difference between the composite and real footage costs the bundled models most.

    python -m benchmarks.look_shift --out DIR [--videos 48] [--seed 1] [--variants 0 1 4 7]

Builds small validation-only composite sets (seed 1, media of the val split, the bundled
projection) that differ from the old composite look (photo pasted at 30-55 % of the frame, still
camera, clean picture and sound) in one respect each, and scores the bundled SEL checkpoints on
them: the share of event seconds labelled with their class and, on the open-set set, the share
of open-event seconds (a non-AVE object heard and seen) claimed as a trained class at p >= 0.5.
A model that drops on a variant has not learned to read that kind of picture; no model is
trained here, so it shows sensitivity, not what training on the variant would gain.
Prints a markdown table; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from avel.analysis.localize import default_models
from avel.bench.composite import build_benchmark
from avel.common.calibration import softmax
from avel.common.config import composite_preset
from avel.common.locations import bundled_checkpoints
from avel.data import AVEDirectory
from avel.features.projection import Projection
from avel.training.checkpoint import load_checkpoint
from avel.training.evaluate import checkpoint_dataset, collect_outputs

MODELS = default_models()  # the bundled SEL pair
OLD_LOOK = {  # the composite before issue 22: every new knob at its clean end
    "object_scale": (0.3, 0.55),
    "p_full_frame": 0.0,
    "p_camera_motion": 0.0,
    "blur_sigma": (0.0, 0.0),
    "capture_scale": (1.0, 1.0),
    "brightness": (1.0, 1.0),
    "contrast": (1.0, 1.0),
    "saturation": (1.0, 1.0),
    "tint": (1.0, 1.0),
    "noise_sigma": (0.0, 0.0),
    "crf": (23, 23),
    "highpass_hz": (0.0, 0.0),
    "lowpass_hz": (8000.0, 8000.0),
    "open_share": 0.0,
}
DEFAULTS = composite_preset("full")
VARIANTS = {
    "old look": {},
    "photo fills the frame": {"p_full_frame": 1.0},
    "large pasted photo (55-75 %)": {"object_scale": (0.55, 0.75)},
    "moving camera": {"p_camera_motion": 1.0},
    "picture degraded": {
        k: getattr(DEFAULTS, k)
        for k in (
            "blur_sigma",
            "capture_scale",
            "brightness",
            "contrast",
            "saturation",
            "tint",
            "noise_sigma",
            "crf",
        )
    },
    "microphone band": {"highpass_hz": DEFAULTS.highpass_hz, "lowpass_hz": DEFAULTS.lowpass_hz},
    "new look (all of the above)": {k: getattr(DEFAULTS, k) for k in OLD_LOOK if k != "open_share"},
    "open set only": {"open_share": 1.0},
}


def score(folder: Path, checkpoint: Path) -> dict[str, float]:
    """Event seconds right and open-event seconds claimed (p >= 0.5) on the folder's val split."""
    loaded = load_checkpoint(checkpoint)
    data = AVEDirectory(folder)
    outputs = collect_outputs(
        loaded.model, checkpoint_dataset(loaded, data, "val"), "sel", torch.device("cpu")
    )
    p = softmax(outputs["scores"])  # (N, T, C)
    truth, predicted, top = outputs["labels"], p.argmax(-1), p.max(-1)
    background = p.shape[-1] - 1
    manifest = json.loads((folder / "composite.json").read_text())
    names = [a.video_id for a in data.annotations()]
    kinds = {v["name"]: v for v in manifest["videos"]}
    rows = data.order("val", "sel")
    open_mask = np.zeros(truth.shape, dtype=bool)
    for i, row in enumerate(rows):
        video = kinds[names[row]]
        if video["kind"] == "open":
            open_mask[i, video["event_span"][0] : video["event_span"][1]] = True
    event = truth != background
    claimed = (predicted != background) & (top >= 0.5)
    return {
        "event_right": float((predicted == truth)[event].mean()) if event.any() else float("nan"),
        "open_claimed": float(claimed[open_mask].mean()) if open_mask.any() else float("nan"),
        "background_right": float((predicted == truth)[~event & ~open_mask].mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--videos", type=int, default=48)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--variants", type=int, nargs="+", help="indices into VARIANTS, run in this order")
    args = parser.parse_args()
    projection = Projection.load(bundled_checkpoints() / "projection.pt")
    rows = []
    names = list(VARIANTS)
    for i in args.variants or range(len(names)):  # in the order given
        name, change = names[i], VARIANTS[names[i]]
        counts = {"n_train": 0, "n_val": args.videos, "n_test": 0, "n_background": 0}
        cfg = composite_preset("full", **{**OLD_LOOK, **change, **counts})
        folder = args.out / f"variant{i}"
        build_benchmark(folder, cfg, seed=args.seed, workers=1, projection=projection, preset_name=name)
        scores = {model: score(folder, path) for model, path in MODELS.items()}
        rows.append((name, scores))
        print(name, json.dumps(scores), flush=True)
    print("\n| variant | " + " | ".join(f"{m} event s right | {m} open s claimed" for m in MODELS) + " |")
    print("|---|" + "---|---|" * len(MODELS))
    for name, scores in rows:
        cells = [f"{100 * s['event_right']:.1f} % | {100 * s['open_claimed']:.1f} %" for s in scores.values()]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
