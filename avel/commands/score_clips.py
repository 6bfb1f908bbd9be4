"""`python -m avel score-clips DIR`: how the models do on real footage (avel/analysis/realdev.py).

    python -m avel score-clips ../shared/realdev --cache runs/realdev-cache --out runs/realdev.json

Runs `localize` on every clip listed in DIR/labels.csv and prints, per model, the share of
known-class event seconds labelled right and the share of other-event seconds claimed as a trained
class, then each clip's answers. `--cache` keeps each clip's result, so a rerun is instant.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from avel.analysis.localize import load_analyzer
from avel.analysis.realdev import CLAIM_PROBABILITY, ModelScore, read_labels, score_folder, store_score
from avel.commands.args import add_checkpoint_option
from avel.common.config import DEVICES


def _run(args: argparse.Namespace) -> None:
    folder = Path(args.folder)
    read_labels(folder)  # a bad labels.csv fails before the models load
    analyzer = load_analyzer(dict(args.checkpoint) if args.checkpoint else None, args.device)
    _, scores = score_folder(analyzer, folder, Path(args.cache) if args.cache else None)
    for name, score in scores.items():
        _print_model(name, score)
        if args.store:
            store_score(analyzer.localizers[name].path, folder.name, score)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        record = {"folder": folder.name, "models": {n: s.to_dict() for n, s in scores.items()}}
        Path(args.out).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


def _print_model(name: str, score: ModelScore) -> None:
    print(
        f"{name}: known-class event seconds right {score.known_right}/{score.known_seconds} "
        f"({score.known_accuracy:.1%}); other-event seconds claimed (p >= {CLAIM_PROBABILITY}) "
        f"{score.other_claimed}/{score.other_seconds} ({score.other_claim_rate:.1%}); "
        f"{len(score.clips)} clips"
    )
    print(
        f"  known-class event seconds named as a trained class at p >= {CLAIM_PROBABILITY} (the claim test "
        f"on the known seconds): {score.known_named}/{score.known_seconds} ({score.known_named_rate:.1%})"
    )
    record = score.to_dict()
    print(
        f"  abstained: 'not a known event' on {record['other_not_known']} other-event and "
        f"{record['known_not_known']} known-class seconds; 'unsure' on {record['other_unsure']} and "
        f"{record['known_unsure']}"
    )
    for clip in score.clips:
        tally = f"{clip.right}/{clip.seconds} right" if clip.label != "none" else f"{clip.claimed} claimed"
        print(f"  {clip.file} [{clip.label}] {tally}: {clip.answers}")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `score-clips` to the command line (avel/commands/__init__.py)."""
    parser = subparsers.add_parser("score-clips", help="score the models on real clips with a labels.csv")
    parser.add_argument("folder", help="clips and their labels.csv (file,label,event_start,event_end)")
    add_checkpoint_option(parser, "an SEL/WSEL model (repeat); default: the bundled two")
    parser.add_argument("--cache", help="keep each clip's localize result here (a rerun skips it)")
    parser.add_argument("--out", help="write the scores as JSON")
    parser.add_argument(
        "--store", action="store_true", help="write the figures into each checkpoint (the app states them)"
    )
    parser.add_argument("--device", choices=DEVICES, default="auto")
    parser.set_defaults(func=_run)
