"""The report's last step: read the finished runs, draw the figures and write RESULTS.md; the plan as text."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from avel.common.config import ReportConfig
from avel.report.figures import write_figures
from avel.report.plan import Plan
from avel.report.render import render_markdown
from avel.report.results import collect_results
from avel.report.run import RUN_STATUSES, RunState

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
