"""`python -m avel extract`: the command line over avel.features.extract."""

from __future__ import annotations

import argparse
from pathlib import Path

from avel.commands.args import config_from_args
from avel.common import distributed
from avel.common.config import AVE_SEGMENTS, DEVICES, FeatureConfig
from avel.features.backbones import AUDIO_BACKBONES, VISUAL_BACKBONES
from avel.features.extract import extract_videos, list_videos, weights_in_dir
from avel.features.projection import PROJECTION_FILE, Projection


def _dims(text: str) -> tuple[int, int]:
    try:
        visual, audio = (int(x) for x in text.split(","))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected VISUAL,AUDIO such as 512,128, got {text!r}") from err
    return visual, audio


def _run(args: argparse.Namespace) -> None:
    cfg = config_from_args(FeatureConfig, args)
    weights = (
        weights_in_dir(args.weights_dir, (cfg.visual_backbone, cfg.audio_backbone))
        if args.weights_dir
        else None
    )
    result = extract_videos(
        args.videos,
        args.out,
        cfg,
        segments=args.segments,
        project_to=args.project_to,
        projection=Projection.load(args.projection) if args.projection else None,
        fit_on=list_videos(args.fit_on) if args.fit_on else None,
        weights=weights,
        download=args.download,
        device=args.device,
    )
    if not distributed.from_env().is_main:
        return  # rank 0 prints the summary once
    info = result.info
    n, t, (h, w) = info.num_videos, info.segments, info.grid
    print(
        f"extracted {n} of {len(result.records)} videos into {args.out}: "
        f"audio [{n}, {t}, {info.audio_dim}], visual [{n}, {t}, {h}, {w}, {info.visual_dim}]"
    )
    if info.projection is not None:
        print(f"projection {info.projection.source} -> {Path(args.out) / PROJECTION_FILE}")
    for rec in result.records:
        if rec.row is None:
            print(f"skipped {rec.path}: {rec.status}: {rec.message}")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `extract` to the command line (avel/commands/__init__.py)."""
    defaults = FeatureConfig()
    parser = subparsers.add_parser("extract", help="videos -> features in the AVE layout (resumable)")
    parser.add_argument("videos", help="a folder (searched recursively) or a text file of video paths")
    parser.add_argument("--out", required=True, help="output folder; re-run with it to resume")
    parser.add_argument(
        "--visual", dest="visual_backbone", choices=sorted(VISUAL_BACKBONES), default=defaults.visual_backbone
    )
    parser.add_argument(
        "--audio", dest="audio_backbone", choices=sorted(AUDIO_BACKBONES), default=defaults.audio_backbone
    )
    parser.add_argument(
        "--fps",
        dest="frames_per_segment",
        type=int,
        default=defaults.frames_per_segment,
        help="frames sampled per 1-s segment, averaged (K; AVE: 16)",
    )
    parser.add_argument(
        "--segments",
        type=int,
        default=AVE_SEGMENTS,
        help="T: clips are cut to T seconds; shorter ones are skipped (AVE: 10)",
    )
    project = parser.add_mutually_exclusive_group()
    project.add_argument(
        "--project-to",
        type=_dims,
        metavar="VISUAL,AUDIO",
        help="fit a PCA to these dims (AVE sizes: 512,128); saved as projection.pt",
    )
    project.add_argument("--projection", help="reuse a fitted projection.pt")
    parser.add_argument("--fit-on", help="folder or list of the videos to fit the PCA on (default: all)")
    parser.add_argument("--weights-dir", help="folder with backbone weight files under their usual names")
    parser.add_argument("--download", action="store_true", help="allow downloading missing backbone weights")
    parser.add_argument("--device", choices=DEVICES, default="auto")
    parser.set_defaults(func=_run)
