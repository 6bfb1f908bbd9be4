"""`python -m avel train`: the command line over avel.training.train."""

from __future__ import annotations

import argparse

from avel.commands.args import config_from_args
from avel.common import distributed
from avel.common.config import (
    ABLATIONS,
    DEVICES,
    LR_SCHEDULES,
    MODALITIES,
    MODELS,
    ORDERS,
    TASKS,
    ModelConfig,
    RunConfig,
    TrainConfig,
)
from avel.training.train import HISTORY_METRICS, train


def _run(args: argparse.Namespace) -> None:
    model_config = ModelConfig(model=args.model, task=args.task, ablation=args.ablation)
    if args.stream_weight is not None:
        model_config = model_config.with_cspa_weight(args.stream_weight)
    train_config = config_from_args(TrainConfig, args)
    result = train(
        RunConfig(data=args.data, out=args.out, model=model_config, train=train_config), progress=True
    )
    if not distributed.from_env().is_main:
        return  # rank 0 prints the summary once
    name = "mean of A2V and V2A" if args.task == "cml" else "segment accuracy"
    print(f"run: {result.out} (best.pt, last.pt, history.jsonl, config.json)")
    print(f"best epoch {result.best_epoch} of {result.epochs}, selected on validation {name}")
    for split in ("val", "test"):
        scores = result.val if split == "val" else result.test
        shown = ", ".join(
            f"{key} {100 * scores[key]:.1f}%" for key in (*HISTORY_METRICS, "chance") if key in scores
        )
        print(f"  {split}: {shown}")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `train` to the command line (avel/commands/__init__.py)."""
    defaults = TrainConfig()
    parser = subparsers.add_parser("train", help="train a model on SEL, WSEL or CML (resumes if interrupted)")
    parser.add_argument("--task", choices=TASKS, required=True)
    parser.add_argument("--model", choices=MODELS, default="coatt")
    parser.add_argument("--ablation", choices=ABLATIONS, default="full", help="Table V variant (coatt only)")
    parser.add_argument("--data", required=True, help="AVE-layout feature folder")
    parser.add_argument("--out", required=True, help="run directory (rerun the same command to resume)")
    parser.add_argument("--epochs", type=int, help="default: the paper's (300 SEL/WSEL, 30 CML)")
    parser.add_argument("--batch-size", type=int, help="default: the paper's (64 SEL/WSEL, 32 CML)")
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--init", help="checkpoint whose matching layers start the model (CML from MMEL)")
    parser.add_argument("--device", choices=DEVICES, default=defaults.device)
    parser.add_argument(
        "--patience",
        type=int,
        help="stop once this many epochs in a row bring no better validation score (default: train all)",
    )
    parser.add_argument(
        "--lambda",
        dest="stream_weight",
        metavar="LAMBDA",
        type=float,
        help="the task's CSPA stream weight (Fig. 5 sweep)",
    )
    parser.add_argument(
        "--no-weak-background",
        dest="weak_background",
        action="store_false",
        help="WSEL: leave out the background-only videos",
    )
    parser.add_argument(
        "--modalities",
        choices=MODALITIES,
        default=defaults.modalities,
        help="train and score on one modality only (the other zeroed): a control",
    )
    parser.add_argument(
        "--lr-schedule",
        choices=LR_SCHEDULES,
        default=defaults.lr_schedule,
        help="step: x0.1 after 15,000 iterations (the released AVE code); constant",
    )
    parser.add_argument(
        "--orders",
        choices=ORDERS,
        default=defaults.orders,
        help="match: train/select/test on *_order_match.h5 (a clean SEL init for CML)",
    )
    parser.add_argument(
        "--allow-init-overlap",
        action="store_true",
        help="CML: accept an --init that trained on CML test videos (recorded in the checkpoint)",
    )
    parser.set_defaults(func=_run)
