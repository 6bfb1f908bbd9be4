"""The bad-input corpus (tests/badinputs.py) through every road: the Python API, the app, the CLI.

    python -m benchmarks.bad_inputs [--folder DIR]

Writes every case of the corpus (odd and broken media, checkpoints that point outside their
folder or are broken) into a temporary folder, then runs each media case through
`avel.localize`'s road (analyze_clip, the bundled models at one frame a second), the app's
handler (App._view, its messages as a user sees them) and `python -m avel localize --json`
in process, and each checkpoint case through load_checkpoint. Prints per road: inputs tried,
crashes, hangs, silent-wrong answers and unclear messages (tests/badinputs.py says what each
means), then every problem found. Every count but the inputs tried should be zero.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the corpus lives beside the tests that run it in CI

import gradio as gr  # noqa: E402
from badinputs import Case, Summary, checkpoint_cases, judge, media_cases  # noqa: E402

from avel.analysis.clip import Analyzer, ModelPaths, analyze_clip  # noqa: E402
from avel.analysis.localize import default_models  # noqa: E402
from avel.app.config import AppConfig  # noqa: E402
from avel.app.handlers import App  # noqa: E402
from avel.commands import main  # noqa: E402
from avel.common.config import LocalizeConfig  # noqa: E402
from avel.features.extractor import FeatureExtractor  # noqa: E402
from avel.features.media import MediaError  # noqa: E402
from avel.training.checkpoint import load_checkpoint  # noqa: E402

NORMAL_S = 5  # the whole-clip limit of the API's long-road cases and of the app: longer files take windows
LONG_ROAD = LocalizeConfig(whole_clip_seconds=NORMAL_S, decode_window=3)


class CliError(Exception):
    """`localize` skipped the file: its stderr line, as the user reads it."""


def fast_analyzer(cache: Path) -> Analyzer:
    """The bundled localizers at one frame a second (the roads are what is tested, not the features)."""
    analyzer = Analyzer(ModelPaths(localizers=default_models(), matchers={}))
    fast = replace(analyzer.feature_config, frames_per_segment=1)
    analyzer.feature_config = fast
    analyzer.extractor = FeatureExtractor(fast, cache_dir=cache)
    return analyzer


def run_cli(path: Path) -> dict[str, Any]:
    """`python -m avel localize PATH --json` in process: its JSON, or CliError with its message."""
    out, err = io.StringIO(), io.StringIO()
    # every input failed: SystemExit(2), the reason on stderr
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), contextlib.suppress(SystemExit):
        main(["--log-level", "error", "localize", str(path), "--json"])
    lines = out.getvalue().strip().splitlines()
    if lines:
        result = json.loads(lines[-1])
        result["warnings"] = [
            line.split(": ", 2)[-1] for line in err.getvalue().splitlines() if line.startswith("warning:")
        ]
        return result
    skipped = [line for line in err.getvalue().splitlines() if line.startswith("skipped ")]
    raise CliError(skipped[0].removeprefix(f"skipped {path}: ") if skipped else err.getvalue().strip())


def run_roads(cases: list[tuple[Case, Path]], work: Path) -> dict[str, Summary]:
    """Each media case through the API, the app and the CLI; each checkpoint case through load_checkpoint."""
    analyzer = fast_analyzer(work / "features")
    config = replace(
        AppConfig(),
        models=ModelPaths(localizers=default_models(), matchers={}),
        normal_clip_seconds=NORMAL_S,
        localize=LocalizeConfig(decode_window=3),
    )
    app = App(config, analyzer, work / "app")
    hidden = [app.work_dir, Path(tempfile.gettempdir()), ROOT]
    summaries = {road: Summary() for road in ("api", "app", "cli", "checkpoints")}

    def api(path: Path, case: Case) -> dict[str, Any]:
        return analyze_clip(analyzer, path, LONG_ROAD if case.long_road else LocalizeConfig()).to_json()

    def in_app(path: Path) -> dict[str, Any]:
        view = app._view(str(path), None)
        return {"seconds": view.state.num_segments, "warnings": view.warnings}

    def cli(path: Path) -> dict[str, Any]:  # the CLI names the file in its "skipped PATH:" line
        try:
            return run_cli(path)
        except CliError as err:
            raise CliError(f"{path.name}: {err}" if path.name not in str(err) else str(err)) from err

    for case, path in cases:
        if case.target == "checkpoint":
            summaries["checkpoints"].add(
                judge(case, path, lambda p: load_checkpoint(p) and {}, (ValueError,), [])
            )
            continue
        summaries["api"].add(judge(case, path, lambda p, c=case: api(p, c), (MediaError,), []))
        summaries["app"].add(judge(case, path, in_app, (gr.Error,), hidden))
        summaries["cli"].add(judge(case, path, cli, (CliError,), []))
    return summaries


def write_corpus(folder: Path) -> list[tuple[Case, Path]]:
    cases = []
    for case in [*media_cases(), *checkpoint_cases()]:
        place = (
            folder / case.target / case.name.replace(".", "-")
        )  # each checkpoint beside its own projection
        place.mkdir(parents=True)
        cases.append((case, case.make(place)))
    return cases


def main_cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, help="write the corpus here (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="avel-bad-inputs-") as temporary:
        folder = args.folder or Path(temporary)
        started = time.perf_counter()
        cases = write_corpus(folder / "corpus")
        summaries = run_roads(cases, folder / "work")
        print(f"bad-input corpus: {len(cases)} inputs, {time.perf_counter() - started:.0f} s")
        for road, summary in summaries.items():
            print(summary.line(road))
        for road, summary in summaries.items():
            for verdict in summary.problems:
                print(
                    f"  {road} {verdict.case.name} ({verdict.case.kind}): {verdict.outcome}: {verdict.detail}"
                )


if __name__ == "__main__":
    main_cli()
