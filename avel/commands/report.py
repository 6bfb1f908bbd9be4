"""`python -m avel report`: train what the results need, then write RESULTS.md and its figures.

    python -m avel report --data data/ave --out RESULTS.md --runs runs/report           # everything
    python -m avel report --data data/ave --out RESULTS.md --runs runs/report --dry-run # the plan only
    python -m avel report ... --seeds 0 1 --epochs 1 --cml-epochs 1 --lambdas 0 1        # a quick check

Three steps, each its own module: plan the runs (report_plan), train the missing ones
(report_run; train() resumes unfinished ones), then read the runs and render (report_results,
report_figures, report_render). Rendering never trains, so rerunning the command over finished
runs rewrites RESULTS.md identically except for its "Generated:" line.
"""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime
from pathlib import Path

from avel.common.config import DEVICES, ONLY_CHOICES, SWEEP_LAMBDAS, ReportConfig
from avel.report.figures import write_figures
from avel.report.plan import Plan, plan_runs
from avel.report.render import render_markdown
from avel.report.results import collect_results
from avel.report.run import RUN_STATUSES, RunState, plan_states, train_missing

log = logging.getLogger(__name__)


def format_plan(plan: Plan, states: dict[str, RunState], runs: str) -> str:
    """The plan as text: one line per run (status, epochs, sections), then the counts."""
    counts = {status: sum(state.status == status for state in states.values()) for status in RUN_STATUSES}
    sections = ", ".join(f"{section} {len(names)}" for section, names in plan.sections.items())
    lines = [
        f"plan: {len(plan.runs)} runs under {runs} ({sections}); "
        + ", ".join(f"{count} {status}" for status, count in counts.items())
    ]
    width = max(map(len, plan.runs))
    for name, state in states.items():
        shown_in = ", ".join(plan.section_of(name)) or "init only"
        lines.append(
            f"  {state.status:<8} {state.epochs_done:>4}/{state.epochs:<4} {name:<{width}}  {shown_in}"
        )
    return "\n".join(lines)


def write_report(
    plan: Plan, config: ReportConfig, generated: str | None = None
) -> tuple[Path, dict[str, Path]]:
    """Read the finished runs, draw the figures and write RESULTS.md; returns (report, figures)."""
    results = collect_results(plan, config)
    figures = write_figures(results, config.figures)
    generated = generated or datetime.now(UTC).isoformat(timespec="seconds")
    out = Path(config.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_markdown(results, figures, generated), encoding="utf-8")
    log.info("wrote %s", out)
    return out, figures


def _run(args: argparse.Namespace) -> None:
    config = ReportConfig(
        data=args.data,
        out=args.out,
        runs=args.runs,
        figures=args.figures,
        seeds=tuple(args.seeds),
        lambdas=tuple(args.lambdas),
        epochs=args.epochs,
        cml_epochs=args.cml_epochs,
        device=args.device,
        only=args.only,
        real_clips=args.real_clips,
    )
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
