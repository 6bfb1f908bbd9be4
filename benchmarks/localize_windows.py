"""Which model window and hop `localize` should use on long videos, measured on known truth.

    python -m benchmarks.localize_windows [--data data/bench-full] [--videos-per-clip 6 30]

Long videos are made by concatenating composite benchmark videos of one split (seeded order):
their per-second truth is known. Each bundled SEL model then runs over every long video with
each window choice, exactly as `python -m avel localize` does (avel.analysis.localize: windows averaged,
abstention applied, seconds merged into segments), on the stored features of the benchmark
(already projected, so no decoding: the choice of window does not depend on decoding).
Prints segment accuracy (an abstained second counts as wrong) and event-segment mAP at
tIoU 0.5 (UnAV-100's metric) per split, window and model. Pick the default on `val`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from avel.analysis.clip import ClipAnalysis, Localization
from avel.analysis.windows import ModelTrack, window_starts
from avel.common.calibration import softmax
from avel.common.classes import background_index
from avel.common.config import LocalizeConfig
from avel.common.metrics import merge_segments, segment_map
from avel.data import AVEDirectory
from avel.training.checkpoint import load_checkpoint
from avel.training.evaluate import checkpoint_dataset

ROOT = Path(__file__).resolve().parents[1]
MODELS = {
    "Co-attention": ROOT / "checkpoints" / "coatt_sel.pt",
    "Baseline": ROOT / "checkpoints" / "baseline_sel.pt",
}
WINDOWS = ((10, 10), (10, 5), (10, 2), (20, 10), (30, 15), (60, 30))  # (window, hop) in seconds
SEED = 0


def long_videos(labels: np.ndarray, per_clip: int, seed: int) -> list[np.ndarray]:
    """Row indices of the split's videos, shuffled and cut into groups of `per_clip` (one long video each)."""
    order = np.random.default_rng(seed).permutation(len(labels))
    return [order[i : i + per_clip] for i in range(0, len(order) - per_clip + 1, per_clip)]


@torch.inference_mode()
def run_model(loaded, audio: np.ndarray, visual: np.ndarray, window: int, hop: int) -> ModelTrack:
    """One model over one long video's (T, ...) stored features, windowed as localize does."""
    num_segments = len(audio)
    track = ModelTrack.empty(num_segments, loaded.model_config.num_classes, loaded.abstain_threshold)
    for start in window_starts(num_segments, window, hop):
        end = min(start + window, num_segments)
        a = torch.as_tensor(audio[start:end][None], dtype=torch.float32)
        v = torch.as_tensor(visual[start:end][None], dtype=torch.float32)
        track.add(start, softmax(loaded.model(a, v).scores()[0].numpy()), None)
    return track


def evaluate(
    split, loaded_models: dict, per_clip: int, window: int, hop: int, offset: int
) -> dict[str, tuple[float, float]]:
    """name -> (segment accuracy, mAP@0.5) over the long videos of one split."""
    classes = next(iter(loaded_models.values())).classes
    background = background_index(classes)
    truth_all = split.labels.argmax(axis=-1)  # (N, T)
    scores = {}
    for name, loaded in loaded_models.items():
        correct = total = 0
        predictions, truths = [], []
        for rows in long_videos(truth_all, per_clip, SEED):
            # the first `offset` s are cut so that video boundaries do not fall on window boundaries
            audio = split.audio[rows].reshape(-1, *split.audio.shape[2:])[offset:]  # (L, D_a)
            visual = split.visual[rows].reshape(-1, *split.visual.shape[2:])[offset:]
            truth = truth_all[rows].reshape(-1)[offset:]
            track = run_model(loaded, audio, visual, window, hop)
            result = ClipAnalysis(
                file="long",
                content_hash="",
                num_segments=len(truth),
                classes=classes,
                localizations={name: Localization.from_track(track, background)},
                shown_seconds={},
                frames={},
                windowed=True,
                config=LocalizeConfig(model_window=window, model_hop=hop),
            )
            out = result.to_json()["models"][name]
            labels = [s["label"] for s in out["seconds"]]
            names = ["background" if i == background else c for i, c in enumerate(classes)]
            correct += sum(label == names[t] for label, t in zip(labels, truth, strict=True))
            total += len(truth)
            predictions.append(
                [(classes.index(s["label"]), s["start"], s["end"], s["score"]) for s in out["segments"]]
            )
            truths.append(
                [
                    (c, s, e)
                    for c, s, e, _ in merge_segments(
                        truth, np.ones((len(truth), len(classes))), (background,)
                    )
                ]
            )
        scores[name] = (correct / total, segment_map(predictions, truths, len(classes), tiou=0.5))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "bench-full")
    parser.add_argument("--videos-per-clip", type=int, nargs="+", default=[6, 30])
    parser.add_argument(
        "--offsets", type=int, nargs="+", default=[0, 3], help="seconds cut from the start (0: windows align)"
    )
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    models = {name: load_checkpoint(path) for name, path in MODELS.items()}
    data = AVEDirectory(args.data)
    names = " | ".join(f"{n} acc / mAP@0.5" for n in models)
    print(f"| split | long video | offset (s) | window / hop (s) | {names} |")
    print("|---|---|---|---|" + "---|" * len(models))
    for split_name in ("val", "test"):
        split = checkpoint_dataset(next(iter(models.values())), data, split_name)
        for per_clip in args.videos_per_clip:
            for offset in args.offsets:
                for window, hop in WINDOWS:
                    scores = evaluate(split, models, per_clip, window, hop, offset)
                    cells = " | ".join(f"{100 * acc:.1f} / {100 * m:.1f}" for acc, m in scores.values())
                    length = per_clip * 10 - offset
                    print(
                        f"| {split_name} | {length} s | {offset} | {window} / {hop} | {cells} |", flush=True
                    )


if __name__ == "__main__":
    main()
