"""`python -m avel report`: train what the results need, then write RESULTS.md and its figures.

    python -m avel report --data data/ave --out RESULTS.md --runs runs/report           # everything
    python -m avel report --data data/ave --out RESULTS.md --runs runs/report --dry-run # the plan only
    python -m avel report ... --seeds 0 1 --epochs 1 --cml-epochs 1 --lambdas 0 1        # a quick check

Three steps, each its own module: plan the runs (report_plan), train the runs the ledger
(--ledger, one JSON record per finished run, avel/report/ledger.py) lacks (report_run; train()
resumes unfinished ones), then read the records and render (report_results, report_figures,
report_render). Rendering never trains, so rerunning the command over finished
runs rewrites RESULTS.md identically except for its "Generated:" line.
"""

from __future__ import annotations

import argparse

from avel.commands.args import config_from_args
from avel.common.config import DEVICES, ONLY_CHOICES, SWEEP_LAMBDAS, ReportConfig
from avel.report.plan import plan_runs
from avel.report.run import plan_states, train_missing
from avel.report.write import format_plan, write_report


def _run(args: argparse.Namespace) -> None:
    config = config_from_args(ReportConfig, args, seeds=tuple(args.seeds), lambdas=tuple(args.lambdas))
    plan = plan_runs(config)
    print(format_plan(plan, plan_states(plan, config), config.runs))
    if args.dry_run:
        return
    trained = train_missing(plan, config, progress=True)
    print(f"trained {len(trained)} run(s); {len(plan.runs) - len(trained)} reused")
    out, figures = write_report(plan, config)
    print(f"wrote {out} and {len(figures)} figure(s) under {config.figures}")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `report` to the command line (avel/commands/__init__.py)."""
    defaults = ReportConfig(data="")
    parser = subparsers.add_parser(
        "report", help="train the missing runs and write RESULTS.md with the paper's tables and figures"
    )
    parser.add_argument("--data", required=True, help="AVE-layout feature folder")
    parser.add_argument("--out", default=defaults.out, help="the markdown report to write")
    parser.add_argument("--runs", default=defaults.runs, help="folder of run directories (reused, resumed)")
    parser.add_argument(
        "--ledger",
        default=defaults.ledger,
        help="folder of run records (committed; trains only what it lacks)",
    )
    parser.add_argument("--figures", default=defaults.figures, help="folder for the PNG figures")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(defaults.seeds), help="main comparison")
    parser.add_argument(
        "--lambdas",
        type=float,
        nargs="+",
        default=list(SWEEP_LAMBDAS),
        help="Fig. 5 sweep values (shrink for a quick check)",
    )
    parser.add_argument("--epochs", type=int, help="SEL/WSEL epochs (default: the paper's 300)")
    parser.add_argument("--cml-epochs", type=int, help="CML epochs (default: the paper's 30)")
    parser.add_argument("--device", choices=DEVICES, default=defaults.device, help="training device")
    parser.add_argument(
        "--only", choices=ONLY_CHOICES, default=defaults.only, help="sections to run and render"
    )
    parser.add_argument(
        "--real-clips", help="real clips with a labels.csv (score-clips): the main runs are scored on them"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan and how much of it exists")
    parser.set_defaults(func=_run)
