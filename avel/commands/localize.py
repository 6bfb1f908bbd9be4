"""`python -m avel localize`: the command line over avel.analysis.localize."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from avel.analysis.localize import CSV_FIELDS, csv_rows, list_inputs, load_analyzer, localize_cached
from avel.commands.args import add_checkpoint_option, config_from_args
from avel.common.classes import UNKNOWN
from avel.common.config import DEVICES, FeatureConfig, LocalizeConfig
from avel.features.extract import VIDEO_SUFFIXES
from avel.features.media import MediaError


def _run(args: argparse.Namespace) -> None:
    if args.heatmaps and not args.out:
        raise ValueError("--heatmaps writes image files: give --out DIR too")
    checkpoints = dict(args.checkpoint) if args.checkpoint else None
    analyzer = load_analyzer(checkpoints, args.device, args.batch_frames)
    config = config_from_args(LocalizeConfig, args)
    out = Path(args.out) if args.out else None
    rows: list[dict[str, Any]] = []
    inputs = list_inputs(args.paths)
    empty = [Path(p) for p in args.paths if Path(p).is_dir() and not list_inputs([p])]
    for folder in empty:  # said, not silently dropped
        print(
            f"skipped {folder}: a folder without video files ({', '.join(VIDEO_SUFFIXES)})", file=sys.stderr
        )
    failed = 0
    for path in tqdm(inputs, desc="localize", unit="clip", disable=len(inputs) < 2, file=sys.stderr):
        try:
            result = localize_cached(analyzer, path, config, out, args.heatmaps)
        except (MediaError, ValueError, OSError) as err:
            failed += 1
            print(f"skipped {path}: {err}", file=sys.stderr)
            continue
        for warning in result["warnings"]:  # stored with the result: a resumed run shows them too
            print(f"warning: {path}: {warning}", file=sys.stderr)
        if args.json:
            print(json.dumps(result))
        else:
            _print_summary(result)
        rows += csv_rows(result)
    if args.csv:
        _write_csv(Path(args.csv), rows)
    if failed:
        print(f"{failed} of {len(inputs)} file(s) could not be analysed", file=sys.stderr)
    if failed == len(inputs):  # every file failed, or there was none: a script must see it
        raise ValueError(
            f"no clip could be analysed ({len(inputs)} file(s) found, {len(empty)} empty folder(s))"
        )


def _print_summary(result: dict[str, Any]) -> None:
    print(f"{result['file']} ({result['seconds']} s)")
    for name, model in result["models"].items():
        segments = ", ".join(
            f"{s['label']} {s['start']}-{s['end']} s ({s['score']:.2f})" for s in model["segments"]
        )
        unknown = sum(s["label"] == UNKNOWN for s in model["seconds"])
        print(
            f"  {name}: {segments or 'no event'}" + (f"; {unknown} s not a trained class" if unknown else "")
        )


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `localize` to the command line (avel/commands/__init__.py)."""
    defaults = LocalizeConfig()
    parser = subparsers.add_parser("localize", help="per-second events of your own videos, any length")
    parser.add_argument("paths", nargs="+", help="video files or folders")
    add_checkpoint_option(parser, "an SEL/WSEL model (repeat)")
    parser.add_argument("--out", help="write one JSON per clip here (a rerun skips finished clips)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per clip")
    parser.add_argument("--csv", help="write a flat table: file, model, start, end, label, probability")
    parser.add_argument("--heatmaps", action="store_true", help="write the CSPA overlays (needs --out)")
    parser.add_argument(
        "--window", dest="model_window", type=int, default=defaults.model_window, help="model window (s)"
    )
    parser.add_argument(
        "--hop", dest="model_hop", type=int, default=defaults.model_hop, help="model window step (s)"
    )
    parser.add_argument(
        "--decode-window", type=int, default=defaults.decode_window, help="decoded at a time (s)"
    )
    parser.add_argument("--max-seconds", type=int, default=defaults.max_seconds)
    parser.add_argument(
        "--batch-frames",
        type=int,
        default=FeatureConfig.batch_frames,
        help="frames per backbone pass: memory against speed, same features",
    )
    parser.add_argument("--device", choices=DEVICES, default="auto")
    parser.set_defaults(func=_run)
