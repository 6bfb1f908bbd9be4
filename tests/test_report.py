"""The results report: run plan, statistics, checks, and `python -m avel report` on `random_ave_dir`."""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import re
import shutil
import threading
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest

from avel.analysis.realdev import ClipScore, ModelScore, clips_digest
from avel.commands import main
from avel.common.config import MODELS, TASKS, ModelConfig, ReportConfig, RunConfig, TrainConfig
from avel.data import AVEDirectory, AVESplit
from avel.data.layout import AUDIO_FILE, DATASET_KEY, VISUAL_FILE
from avel.report.figures import FIGURE_FILES
from avel.report.ledger import (
    MODALITY_SWAP_FIELD,
    REAL_FOOTAGE_FIELD,
    add_to_record,
    benchmark_fingerprint,
    config_key,
    read_ledger,
    write_record,
)
from avel.report.plan import Plan, RunSpec, plan_runs, report_command, run_config, run_dir
from avel.report.render import (
    GENERATED_PREFIX,
    _ablation_section,
    _attention_section,
    _early_stopping_section,
    _real_footage_section,
    format_duration,
    format_mean_std,
)
from avel.report.results import (
    SUBTASKS,
    ReportResults,
    RunResult,
    _modality_swap,
    _real_footage,
    chance_flags,
    collect_results,
    derangement,
    mean_std,
    modality_swap_accuracy,
    replay_early_stop,
    swap_modality,
    val_picked_lambdas,
)
from avel.report.run import (
    LOCK_FILE,
    checkpoint_runs,
    claim_run,
    plan_states,
    real_footage_runs,
    run_state,
    runs_to_train,
    train_missing,
)
from avel.training.checkpoint import read_checkpoint
from avel.training.train import train

TINY = ["--seeds", "0", "1", "--epochs", "1", "--cml-epochs", "1", "--lambdas", "0", "1"]
# main (models x seeds x tasks) + other ablations x seeds + the CML sweep runs (SEL's and WSEL's
# lambda 0 and 1 are the Table V csea and cspa runs of the first seed)
PLANNED_RUNS = 2 * 2 * 3 + 5 * 2 * 3 + 2
# + the co-attention CML inits on the match split (2 seeds x the full model and 5 other ablations):
# the fixture's SEL train rows overlap its CML test rows, as the real AVE files' do
TINY_RUNS = PLANNED_RUNS + 2 + 5 * 2
AUDIO_EPOCHS = 15  # co-attention SEL learns the fixture's audio prototypes by then
VISUAL_EPOCHS = 25  # from the grid alone it takes longer
SECTION_HEADINGS = (
    "## Setup",
    "## Chance levels and the chance check",
    "## Tables II-IV analogue: co-attention vs. baseline",
    "## Modality check: SEL with one modality taken from another video",
    "## Fig. 4 analogue",
    "## Fig. 7 analogue",
    "## Table V analogue: ablations",
    "## Attention accuracy",
    "## Fig. 5 analogue",
    "## Early stopping: what a patience would have changed",
    "## Appendix: every run",
)


# --- pure parts ---------------------------------------------------------------------------------


def test_mean_std_is_the_sample_std_and_formats_in_percent() -> None:
    mean, std = mean_std([0.5, 0.6, 0.7])
    assert mean == pytest.approx(0.6) and std == pytest.approx(0.1)  # sqrt(0.02 / (3 - 1))
    assert format_mean_std([0.5, 0.6, 0.7]) == "60.0 ± 10.0 (n=3)"
    assert format_mean_std([0.7651, 0.7649]) == "76.5 ± 0.0 (n=2)"
    assert mean_std([0.765]) == (0.765, None)
    assert format_mean_std([0.765]) == "76.5 (n=1)"
    assert format_mean_std([]) == "-"
    with pytest.raises(ValueError, match="at least one value"):
        mean_std([])
    assert [format_duration(s) for s in (12.34, 125, 7322)] == ["12.3 s", "2 min 05 s", "2 h 02 min"]


def test_plan_has_every_run_once_with_inits_first() -> None:
    config = ReportConfig(data="d", runs="r", seeds=(0, 1), lambdas=(0.0, 0.3, 1.0))
    plan = plan_runs(config)
    names = list(plan.runs)
    # lambda_s = 0.3 is the paper's: that sweep point is the main SEL run, not a new one
    assert (
        len(names) == PLANNED_RUNS + 2
    )  # no data folder: no leak to avoid; + CML and WSEL at 0.3 (their paper values are 0.6 and 0.7)
    assert "sel-coatt-full-seed0" in plan.sections["sweeps"]
    assert "sel-coatt-full-lambda0.3-seed0" not in names
    assert "cml-coatt-full-lambda0.3-seed0" in names
    for name, spec in plan.runs.items():
        if spec.task == "cml" and spec.model == "coatt":
            assert spec.init == RunSpec("sel", "coatt", spec.ablation, seed=spec.seed)  # its own SEL run
            assert names.index(spec.init.name) < names.index(name)
        else:
            assert spec.init is None  # SEL, WSEL, and the baseline's AVDLN start from nothing
    for seed in (0, 1):  # Table V's full row: the main runs, every seed
        assert plan.sections["ablations"].count(f"sel-coatt-full-seed{seed}") == 1
        assert {f"{task}-coatt-csea_no_a2v-seed{seed}" for task in TASKS} <= set(plan.sections["ablations"])
    assert all(plan.runs[name].seed == 0 for name in plan.sections["sweeps"])
    cml = run_config(config, plan.runs["cml-coatt-full-lambda1-seed0"])
    assert cml.model.lambda_c == 1.0 and cml.train.init == str(Path("r") / "sel-coatt-full-seed0" / "best.pt")


@pytest.mark.parametrize("task", ["sel", "wsel"])
def test_sweep_end_points_reuse_the_single_module_runs(task: str) -> None:
    """lambda = 1 (0) builds the CSPA-only (CSEA-only) model: the Table V run, not a second one."""
    config = ReportConfig(data="d", runs="r", lambdas=(0.0, 0.5, 1.0))
    plan = plan_runs(config)
    runs = [plan.runs[name] for name in plan.sections["sweeps"]]
    sweep = {spec.stream_weight_used: spec.name for spec in runs if spec.task == task}
    assert sweep[1.0] == f"{task}-coatt-cspa-seed0" and sweep[0.0] == f"{task}-coatt-csea-seed0"
    assert {sweep[1.0], sweep[0.0]} <= set(plan.sections["ablations"])
    assert f"{task}-coatt-full-lambda1-seed0" not in plan.runs
    assert f"{task}-coatt-full-lambda0-seed0" not in plan.runs
    assert sweep[0.5] == f"{task}-coatt-full-lambda0.5-seed0"
    for value, name in sweep.items():  # the run trains the model the lambda describes (its switches)
        swept = replace(ModelConfig(task=task).with_cspa_weight(value).parts, label="")
        assert replace(run_config(config, plan.runs[name]).model.parts, label="") == swept
    # CML's end points start from the full model's SEL run, so they stay runs of their own
    assert "cml-coatt-full-lambda1-seed0" in plan.sections["sweeps"]
    assert "cml-coatt-full-lambda0-seed0" in plan.sections["sweeps"]


def test_only_one_section_still_plans_the_runs_it_starts_from() -> None:
    plan = plan_runs(ReportConfig(data="d", only="sweeps", lambdas=(0.0,)))
    assert list(plan.sections) == ["sweeps"]
    assert "sel-coatt-full-seed0" in plan.runs  # init of the CML sweep runs, shown nowhere
    assert plan.section_of("sel-coatt-full-seed0") == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("seeds", (0, 0), "distinct seeds"),
        ("lambdas", (0.5, 1.5), r"in \[0, 1\]"),
        ("epochs", 0, "expected >= 1"),
        ("only", "tables", "unknown --only"),
    ],
)
def test_report_config_refuses_bad_values(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReportConfig(data="d", **{field: value})


def test_derangement_gives_every_video_another_videos_features() -> None:
    source = derangement(7, seed=3)
    assert sorted(source) == list(range(7)) and (source != np.arange(7)).all()
    assert (derangement(7, seed=3) == source).all()  # fixed by the seed
    with pytest.raises(ValueError, match="1 video"):
        derangement(1, seed=0)
    rng = np.random.default_rng(0)
    split = AVESplit(
        audio=rng.normal(size=(3, 2, 4)),
        visual=rng.normal(size=(3, 2, 1, 1, 5)),
        labels=np.eye(2)[[[0, 1]] * 3],
        event=np.ones((3, 2)),
        video_labels=np.eye(2)[[0, 0, 1]],
        rows=np.arange(3),
    )
    source = derangement(3, seed=0)
    swapped = swap_modality(split, "audio", source)
    np.testing.assert_array_equal(swapped.audio, split.audio[source])
    np.testing.assert_array_equal(swapped.visual, split.visual)
    np.testing.assert_array_equal(swapped.labels, split.labels)  # labels stay with the video
    swapped = swap_modality(split, "visual", source)
    np.testing.assert_array_equal(swapped.visual, split.visual[source])
    np.testing.assert_array_equal(swapped.audio, split.audio)


def test_chance_flags_name_each_score_below_chance_plus_margin() -> None:
    def result(task: str, test: dict[str, float]) -> RunResult:
        return RunResult(RunSpec(task), {}, test, best_epoch=1, epochs=1, seconds=0.0, hardware=None)

    runs = {
        "sel": result("sel", {"accuracy": 0.25, "chance": 0.17}),
        "sel-low": result("sel", {"accuracy": 0.20, "chance": 0.17}),
        "cml": result("cml", {"a2v": 0.50, "v2a": 0.12, "chance": 0.10}),
    }
    flags = chance_flags(runs, margin=0.05)
    assert [(f.run, f.subtask, f.value, f.chance) for f in flags] == [
        ("sel-low", "sel", 0.20, 0.17),
        ("cml", "v2a", 0.12, 0.10),
    ]


def test_lambda_picked_on_validation_is_the_best_val_run_not_the_best_test_run() -> None:
    def result(task: str, weight: float, val: float, test: float) -> RunResult:
        metric = "average" if task == "cml" else "accuracy"
        spec = RunSpec(task, stream_weight=weight)
        return RunResult(
            spec, {metric: val}, {metric: test}, best_epoch=1, epochs=1, seconds=0.0, hardware=None
        )

    runs = [
        result("sel", 1.0, val=0.80, test=0.70),
        result("sel", 0.5, val=0.80, test=0.60),  # ties with 1.0 on val: the smaller lambda wins
        result("sel", 0.0, val=0.70, test=0.90),  # best on test, never picked
        result("cml", 0.1, val=0.40, test=0.50),
        result("cml", 0.9, val=0.45, test=0.40),
    ]
    plan = Plan(runs={r.spec.name: r.spec for r in runs}, sections={"sweeps": [r.spec.name for r in runs]})
    results = ReportResults(
        config=ReportConfig(data="unused"),
        plan=plan,
        runs={r.spec.name: r for r in runs},
        data=None,  # type: ignore[arg-type]  # not read
        swaps={},
        dataset=None,
        chance_flags=[],
    )
    picked = val_picked_lambdas(results)
    assert {task: run.spec.stream_weight for task, run in picked.items()} == {"sel": 0.5, "cml": 0.9}


def test_early_stopping_replay_follows_the_history_and_the_section_names_changed_picks() -> None:
    best = [True, False, True, False, False, False]  # epochs 1 and 3 improved validation
    history = [
        {"epoch": epoch, "val_accuracy": 0.5 + epoch / 100, "best": improved, "seconds": float(epoch)}
        for epoch, improved in enumerate(best, start=1)
    ]
    run = RunResult(
        RunSpec("sel"),
        {"accuracy": 0.53},
        {},
        best_epoch=3,
        epochs=6,
        seconds=21.0,
        hardware=None,
        history=history,
    )
    # (last epoch trained, picked epoch, its val, seconds) per patience
    replays = {p: replay_early_stop(run, p) for p in (1, 2, 3)}
    assert [(r.last_epoch, r.picked_epoch, r.seconds) for r in replays.values()] == [
        (2, 1, 3.0),  # epoch 2 brought nothing: stop before 3
        (5, 3, 15.0),  # epochs 4 and 5 brought nothing: stop before 6
        (6, 3, 21.0),  # never runs out within 6 epochs
    ]
    assert replays[1].picked_val == pytest.approx(0.51)
    results = ReportResults(
        config=ReportConfig(data="unused", patiences=(1, 2)),
        plan=Plan(runs={run.spec.name: run.spec}, sections={"main": [run.spec.name]}),
        runs={run.spec.name: run},
        data=None,  # type: ignore[arg-type]  # not read
        swaps={},
        dataset=None,
        chance_flags=[],
    )
    section = _early_stopping_section(results)
    assert (
        "| 1 | 0/1 | 2/6 | 3.0 s of 21.0 s |" in section and "| 2 | 1/1 | 5/6 | 15.0 s of 21.0 s |" in section
    )
    assert f"patience 1: `{run.spec.name}` would pick epoch 1 (val 51.0) instead of 3 (val 53.0)" in section


def test_real_footage_table_stands_beside_the_composite_one() -> None:
    def result(task: str, model: str, seed: int) -> RunResult:
        spec = RunSpec(task, model, seed=seed)
        return RunResult(spec, {}, {}, best_epoch=1, epochs=1, seconds=0.0, hardware=None)

    runs = [result(t, m, seed) for t in ("sel", "wsel") for m in MODELS for seed in (0, 1)]
    clips = [{"label": "Bark"}, {"label": "none"}, {"label": "none"}]
    scored = {
        r.spec.name: {
            "num_clips": 3,
            "known_seconds": 10,
            "other_seconds": 20,
            "known_accuracy": 0.75 + 0.1 * r.spec.seed if r.spec.model == "coatt" else 0.5,
            "other_claim_rate": 0.05 if r.spec.task == "sel" else 0.25,
            "known_named_rate": 0.7 if r.spec.task == "sel" else 0.3 + 0.2 * r.spec.seed,
            "clips": clips,
        }
        for r in runs
    }
    results = ReportResults(
        config=ReportConfig(data="unused", real_clips="/somewhere/realdev"),
        plan=Plan(runs={r.spec.name: r.spec for r in runs}, sections={"main": list(scored)}),
        runs={r.spec.name: r for r in runs},
        data=None,  # type: ignore[arg-type]  # not read
        swaps={},
        dataset=None,
        chance_flags=[],
        real_footage=scored,
    )
    text = _real_footage_section(results)
    assert "3 real clips (realdev)" in text and "1 of known classes, 10 event seconds" in text
    coatt = next(line for line in text.splitlines() if line.startswith("| ours: co-attention"))
    assert coatt.rstrip(" |").split(" | ")[1:7] == [
        "80.0 ± 7.1 (n=2)",
        "5.0 ± 0.0 (n=2)",
        "70.0 ± 0.0 (n=2)",
        "80.0 ± 7.1 (n=2)",
        "25.0 ± 0.0 (n=2)",
        "40.0 ± 14.1 (n=2)",
    ]
    assert "WSEL known s named (p >= 0.5)" in text
    assert report_command(results.config).endswith(" --real-clips /somewhere/realdev")  # reproducible


def _attention(pointing: float, bark: float) -> dict:
    """An attention_accuracy result (avel/training/attention.py) with one class of its own."""
    scores = {"pointing": pointing, "mass": pointing / 2, "iou_auc": 0.3, "chance": 0.2, "num_seconds": 40}
    return {**scores, "per_class": {"Bark": {**scores, "pointing": bark, "num_seconds": 10}}}


def _attention_results(runs: list[RunResult], sections: dict[str, list[str]]) -> ReportResults:
    return ReportResults(
        config=ReportConfig(data="unused", seeds=(0, 1)),
        plan=Plan(runs={r.spec.name: r.spec for r in runs}, sections=sections),
        runs={r.spec.name: r for r in runs},
        data=None,  # type: ignore[arg-type]  # not read
        swaps={},
        dataset=None,
        chance_flags=[],
    )


def test_table_v_averages_the_seeds_and_judges_the_best_variant_by_their_spread() -> None:
    """SEL: CSPA only leads CSEA only by 10 points with spreads of 1: beyond the spread. WSEL: the
    full model leads on the mean by 2 points with a spread of 7: within it (on seed 0 alone CSPA
    only leads, so a ranking by the first seed would differ). One seed each: no spread."""
    sel = {"full": (0.60, 0.62), "cspa": (0.70, 0.72), "csea": (0.59, 0.61)}
    wsel = {"full": (0.50, 0.60), "cspa": (0.52, 0.54), "csea_no_a2v": (0.30,)}

    def result(task: str, ablation: str, seed: int, score: float) -> RunResult:
        spec = RunSpec(task, ablation=ablation, seed=seed)
        return RunResult(spec, {}, {"accuracy": score}, best_epoch=1, epochs=1, seconds=0.0, hardware=None)

    runs = [
        result(task, ablation, seed, score)
        for task, table in (("sel", sel), ("wsel", wsel))
        for ablation, scores in table.items()
        for seed, score in enumerate(scores)
    ]
    text = _ablation_section(_attention_results(runs, {"ablations": [r.spec.name for r in runs]}))
    assert "(test, seeds 0, 1)" in text
    ours = text.split("### Table V of the paper")[0]
    rows = {
        line.split(" | ")[0].lstrip("| "): line.rstrip(" |").split(" | ")[1:] for line in ours.splitlines()
    }
    sel_column, wsel_column = SUBTASKS.index("sel"), SUBTASKS.index("wsel")
    assert rows["CSPA only"][sel_column] == "71.0 ± 1.4 (n=2)"
    assert rows["CSPA + CSEA (full model)"][wsel_column] == "55.0 ± 7.1 (n=2)"
    best = next(line for line in text.splitlines() if line.startswith("Best variant"))
    assert "SEL: CSPA only (+10.0 points over CSPA + CSEA (full model), beyond the seeds' spread)" in best
    assert "WSEL: CSPA + CSEA (full model) (+2.0 points over CSPA only, within the seeds' spread)" in best
    single = [r for r in runs if r.spec.task == "wsel" and r.spec.seed == 0]  # one seed each
    text = _ablation_section(_attention_results(single, {"ablations": [r.spec.name for r in single]}))
    assert "WSEL: CSPA only (+2.0 points over CSPA + CSEA (full model), one seed: no spread" in text


def test_attention_section_averages_seeds_and_omits_models_without_a_map() -> None:
    def result(spec: RunSpec, attention: dict | None) -> RunResult:
        return RunResult(
            spec, {}, {}, best_epoch=1, epochs=1, seconds=0.0, hardware=None, attention=attention
        )

    main = [
        result(RunSpec("sel", "coatt", seed=0), _attention(0.6, 0.9)),
        result(RunSpec("sel", "coatt", seed=1), _attention(0.8, 0.7)),
        result(RunSpec("sel", "baseline", seed=0), _attention(0.3, 0.1)),
        result(RunSpec("sel", "baseline", seed=1), _attention(0.4, 0.2)),
        result(RunSpec("cml", "baseline", seed=0), None),  # AVDLN: no spatial attention
    ]
    ablations = [
        result(RunSpec("sel", ablation="csea"), None),
        result(RunSpec("sel", ablation="cspa"), _attention(0.5, 0.5)),
    ]
    runs = main + ablations
    sections = {"main": [r.spec.name for r in main], "ablations": [r.spec.name for r in ablations]}
    text = _attention_section(_attention_results(runs, sections))
    rows = {
        line.split(" | ")[0].lstrip("| "): line.rstrip(" |").split(" | ")[1:] for line in text.splitlines()
    }
    assert rows["co-attention (Xue et al.), SEL"] == [
        "70.0 ± 14.1 (n=2)",
        "35.0 ± 7.1 (n=2)",
        "30.0 ± 0.0 (n=2)",
        "20.0",
        "40",
    ]
    assert rows["baseline (Tian et al.), SEL"][0] == "35.0 ± 7.1 (n=2)"
    assert rows["CSPA only, SEL"][0] == "50.0 (n=1)"
    assert not any(label.startswith(("CSEA only", "baseline (Tian et al.), CML")) for label in rows)
    omitted = next(line for line in text.splitlines() if line.startswith("Omitted"))
    assert "CSEA only SEL (no CSPA stream" in omitted and "baseline (Tian et al.) CML (AVDLN" in omitted
    assert rows["Bark"] == ["10", "20.0", "80.0 ± 14.1 (n=2)", "15.0 ± 7.1 (n=2)"]  # per class, SEL
    assert "peak cell lies in the box" in text and "Not scored" not in text
    unscored = [replace(r, attention=None) for r in runs]  # official AVE: no boxes, no scores
    text = _attention_section(_attention_results(unscored, sections))
    assert "Not measured" in text and "official AVE" in text and "|" not in text


# --- the command end to end ---------------------------------------------------------------------


def _report(args: list[str]) -> str:
    """Run `python -m avel report ...` in this process; returns what it printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["--log-level", "warning", "report", *args]) == 0
    return printed.getvalue()


def _mtimes(runs: Path) -> dict[str, int]:
    return {str(p.relative_to(runs)): p.stat().st_mtime_ns for p in sorted(runs.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def reported(random_ave_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("report")
    args = [
        "--data", str(random_ave_dir), "--out", str(root / "RESULTS.md"), "--runs", str(root / "runs"),
        "--figures", str(root / "docs" / "figures"), "--ledger", str(root / "ledger"), *TINY,
    ]  # fmt: skip
    printed = _report(args)
    return {"root": root, "args": args, "printed": printed, "text": (root / "RESULTS.md").read_text()}


@pytest.mark.slow
def test_report_trains_the_plan_and_writes_every_section_and_figure(reported: dict) -> None:
    root, text = reported["root"], reported["text"]
    assert f"trained {TINY_RUNS} run(s); 0 reused" in reported["printed"]
    assert len(list((root / "runs").glob("*/best.pt"))) == TINY_RUNS
    positions = [text.index(heading) for heading in SECTION_HEADINGS]
    assert positions == sorted(positions)
    assert text.count("(paper, real AVE, VGG19/VGGish features; not ours)") == 2  # Tables II-IV, V
    assert "Table V of the paper (paper, real AVE, VGG19/VGGish features; not ours)" in text
    assert "| co-attention (paper, Tables II-V) | 49.0 | 51.0 | 76.5 | 70.2 |" in text
    assert "**Only 2 seed(s)" in text  # fewer than the 3 seeds asked for is said, not hidden
    assert re.search(r"Picked on the validation split .*: lambda_c = [01] \(val ", text)
    for name in FIGURE_FILES.values():
        assert (root / "docs" / "figures" / name).stat().st_size > 0
        assert f"](docs/figures/{name})" in text  # linked relative to RESULTS.md
    records = [json.loads(path.read_text()) for path in sorted((root / "ledger").glob("*.json"))]
    assert len(records) == TINY_RUNS and all(r["hardware"].startswith("CPU ") for r in records)


@pytest.mark.slow
def test_report_tables_hold_the_runs_numbers(reported: dict) -> None:
    root, text = reported["root"], reported["text"]

    def test_metrics(name: str) -> dict:
        return read_checkpoint(root / "runs" / name / "best.pt")["metrics"]["test"]

    sel = [test_metrics(f"sel-coatt-full-seed{seed}")["accuracy"] for seed in (0, 1)]
    cml = [test_metrics(f"cml-baseline-seed{seed}") for seed in (0, 1)]
    row = next(line for line in text.splitlines() if line.startswith("| ours: co-attention"))
    assert row.split(" | ")[3] == format_mean_std(sel)
    row = next(line for line in text.splitlines() if line.startswith("| ours: baseline"))
    assert row.split(" | ")[1] == format_mean_std([m["a2v"] for m in cml])
    chance = test_metrics("sel-baseline-seed0")["chance"]
    assert f"| SEL | {100 * chance:.1f} |" in text
    chance_part = text.split("## Chance levels")[1].split("\n## ")[0]
    near_chance = [  # one epoch: some SEL/WSEL runs sit near chance, and each must be flagged
        p.parent.name
        for p in (root / "runs").glob("*sel-*/best.pt")
        if test_metrics(p.parent.name)["accuracy"] < test_metrics(p.parent.name)["chance"] + 0.05
    ]
    assert near_chance and ("Check passed" in chance_part) == (not near_chance)
    assert all(f"| `{name}` | " in chance_part for name in near_chance)
    for task in ("SEL", "WSEL", "A2V", "V2A"):
        assert re.search(rf"^- {task}: co-attention (beats|\*\*does not beat) the baseline", text, re.M)


@pytest.mark.slow
def test_rerun_reuses_the_runs_and_reproduces_the_report(reported: dict) -> None:
    root, args = reported["root"], reported["args"]
    before = _mtimes(root / "runs")
    printed = _report(args)
    assert f"trained 0 run(s); {TINY_RUNS} reused" in printed
    assert _mtimes(root / "runs") == before  # nothing trained, resumed or rewritten
    again = (root / "RESULTS.md").read_text().splitlines()
    first = reported["text"].splitlines()
    differ = [i for i, (a, b) in enumerate(zip(first, again, strict=True)) if a != b]
    assert len(differ) <= 1 and all(first[i].startswith(GENERATED_PREFIX) for i in differ)
    plan = _report([*args, "--dry-run"]).splitlines()[0]
    assert plan.endswith(f"0 missing, 0 partial, {TINY_RUNS} done")


@pytest.mark.slow
def test_each_finished_run_leaves_a_ledger_record(reported: dict) -> None:
    root, data = reported["root"], reported["args"][1]
    name = "cml-coatt-full-seed0"
    record = json.loads((root / "ledger" / f"{name}.json").read_text())
    best = read_checkpoint(root / "runs" / name / "best.pt")
    config = ReportConfig(data, runs=str(root / "runs"), epochs=1, cml_epochs=1)
    spec = plan_runs(config).runs[name]
    assert record["name"] == name and record["fingerprint"] == benchmark_fingerprint(data)
    assert record["config"] == config_key(run_config(config, spec), 1)
    assert re.fullmatch(r"[0-9a-f]{40}", record["code_version"])  # tests run in a git checkout
    assert record["test"]["a2v"] == best["metrics"]["test"]["a2v"] and record["val"] == best["metrics"]["val"]
    assert record["best_epoch"] == 1 and [epoch["epoch"] for epoch in record["history"]] == [1]
    assert record["wall_seconds"] >= record["history"][0]["seconds"] > 0
    assert record["hardware"].startswith("CPU ") and record["attention"] is None  # no composite.json


@pytest.mark.slow
def test_report_from_the_ledger_alone_trains_nothing(reported: dict, tmp_path: Path) -> None:
    runs, out = str(tmp_path / "runs"), str(tmp_path / "R.md")
    elsewhere = ["--runs", runs, "--out", out, "--figures", str(tmp_path), "--only", "ablations"]
    printed = _report([*reported["args"], *elsewhere])  # no run directory at all
    assert "trained 0 run(s)" in printed and not (tmp_path / "runs").exists()
    table = reported["text"].split("## Table V analogue")[1].split("\n## ")[0]
    assert table in (tmp_path / "R.md").read_text()  # the same numbers, read from the records


def test_ledger_of_another_benchmark_or_config_is_refused(random_ave_dir: Path, tmp_path: Path) -> None:
    runs, ledger = str(tmp_path / "runs"), str(tmp_path / "ledger")
    config = ReportConfig(str(random_ave_dir), runs=runs, ledger=ledger, epochs=1, only="ablations")
    plan = plan_runs(config)
    spec = plan.runs["sel-coatt-cspa-seed0"]
    record = {"name": spec.name, "fingerprint": benchmark_fingerprint(random_ave_dir)}
    write_record(config.ledger, {**record, "config": config_key(run_config(config, spec), 1)})
    assert plan_states(plan, config)[spec.name].status == "done"  # the record alone: no run directory
    write_record(config.ledger, {**record, "config": config_key(run_config(config, spec), 2)})
    with pytest.raises(ValueError, match=r"sel-coatt-cspa-seed0.json: recorded with another config"):
        plan_states(plan, config)
    other = {**record, "config": config_key(run_config(config, spec), 1), "fingerprint": "0" * 64}
    write_record(config.ledger, other)  # the right config, another benchmark
    with pytest.raises(ValueError, match=r"recorded on another benchmark \(fingerprint 000000000000, "):
        plan_states(plan, config)


def test_fingerprint_keeps_a_reprojection_with_the_same_pca_and_tells_another_pca(tmp_path: Path) -> None:
    (tmp_path / "test_order.h5").write_bytes(b"rows")
    info = {"visual_backbone": "mobilenet_v2", "projection": {"id": "aaaa", "source": "fitted on 8 videos"}}
    features = tmp_path / "features.json"
    features.write_text(json.dumps(info))
    fitted = benchmark_fingerprint(tmp_path)
    info["projection"].update(
        source="reused (id aaaa)", visual_explained=0.9
    )  # make app-data's re-projection
    features.write_text(json.dumps(info))
    assert benchmark_fingerprint(tmp_path) == fitted
    info["projection"]["id"] = "bbbb"  # another machine's PCA: other features
    features.write_text(json.dumps(info))
    assert benchmark_fingerprint(tmp_path) != fitted


def test_a_ledger_record_cannot_start_a_cml_run_so_its_init_is_retrained(
    random_ave_dir: Path, tmp_path: Path
) -> None:
    runs, ledger = str(tmp_path / "runs"), str(tmp_path / "ledger")
    config = ReportConfig(str(random_ave_dir), runs=runs, ledger=ledger, epochs=1, cml_epochs=1, only="main")
    plan = plan_runs(config)
    for name in ("sel-coatt-full-matchorders-seed0", "wsel-coatt-full-seed0"):  # recorded, no best.pt
        key = config_key(run_config(config, plan.runs[name]), 1)
        write_record(
            ledger, {"name": name, "fingerprint": benchmark_fingerprint(random_ave_dir), "config": key}
        )
    pending = runs_to_train(plan, config, plan_states(plan, config))
    assert "wsel-coatt-full-seed0" not in pending  # the record suffices
    assert "sel-coatt-full-matchorders-seed0" in pending  # cml-coatt-full-seed0 starts from its best.pt
    assert set(checkpoint_runs(plan, config)) <= set(pending)  # the modality check loads these


def _record_every_run(config: ReportConfig) -> tuple[Plan, str]:
    """Write a bare ledger record for every planned run, with no run folder: no best.pt anywhere."""
    plan = plan_runs(config)
    fingerprint = benchmark_fingerprint(config.data)
    for name, spec in plan.runs.items():
        record = {"name": name, "fingerprint": fingerprint, "config": config_key(run_config(config, spec), 1)}
        write_record(config.ledger, record)
    return plan, fingerprint


def test_real_footage_scores_kept_in_the_ledger_spare_retraining_their_runs(
    random_ave_dir: Path, tmp_path: Path
) -> None:
    clips = tmp_path / "clips"
    clips.mkdir()
    (clips / "bark.mp4").write_bytes(b"a clip")
    (clips / "labels.csv").write_text("file,label,event_start,event_end\nbark.mp4,Bark,,\n")
    config = ReportConfig(
        str(random_ave_dir), runs=str(tmp_path / "runs"), ledger=str(tmp_path / "ledger"),
        seeds=(0,), epochs=1, cml_epochs=1, only="main", real_clips=str(clips),
    )  # fmt: skip
    plan, fingerprint = _record_every_run(config)
    wsel = ["wsel-coatt-full-seed0", "wsel-baseline-seed0"]
    assert set(wsel) <= set(checkpoint_runs(plan, config))  # no score yet: scoring needs best.pt

    def clip(right: int) -> ClipScore:  # 4 event seconds, 2 of them named at p >= 0.5
        return ClipScore("bark.mp4", "Bark", 4, right, claimed=2, unsure=0, not_known=0, answers="")

    records = read_ledger(config, fingerprint)
    for right, name in enumerate(real_footage_runs(plan)):
        score = ModelScore.of([clip(right)]).to_dict()
        del score["known_named"], score["known_named_rate"]  # as stored before that figure existed
        stored = {"digest": clips_digest(clips), "clips": "clips", "score": score}
        write_record(config.ledger, {**records[name], REAL_FOOTAGE_FIELD: stored})
    assert not set(wsel) & set(checkpoint_runs(plan, config))  # the record's score suffices
    assert _real_footage(plan, config, read_ledger(config, fingerprint)) == {
        name: ModelScore.of([clip(right)]).to_dict() for right, name in enumerate(real_footage_runs(plan))
    }  # read from the records (loading a best.pt here would fail), the newer figure rebuilt from the clips

    (clips / "bark.mp4").write_bytes(b"another clip")  # same name, other footage: scored again
    assert set(wsel) <= set(checkpoint_runs(plan, config))


def test_modality_checks_kept_in_the_ledger_spare_all_but_the_figures_runs(
    random_ave_dir: Path, tmp_path: Path
) -> None:
    config = ReportConfig(
        str(random_ave_dir), runs=str(tmp_path / "runs"), ledger=str(tmp_path / "ledger"),
        seeds=(0, 1), epochs=1, cml_epochs=1, only="main",
    )  # fmt: skip
    plan, fingerprint = _record_every_run(config)
    sel = {seed: [f"sel-coatt-full-seed{seed}", f"sel-baseline-seed{seed}"] for seed in (0, 1)}
    assert set(checkpoint_runs(plan, config)) == {*sel[0], *sel[1]}  # no check stored yet

    stored = {"both": 0.9, "audio_swapped": 0.4, "visual_swapped": 0.8}
    for name in sel[1]:
        add_to_record(config.ledger, name, REAL_FOOTAGE_FIELD, {"digest": "d", "clips": "c", "score": {}})
        add_to_record(
            config.ledger, name, MODALITY_SWAP_FIELD, {"split": "test", "seed": 0, "accuracy": stored}
        )
    assert set(checkpoint_runs(plan, config)) == set(sel[0])  # Figs. 4 and 7 still evaluate seed 0
    record = read_ledger(config, fingerprint)[sel[1][0]]
    assert record[REAL_FOOTAGE_FIELD]["digest"] == "d"  # adding one field keeps the others
    assert _modality_swap(config, plan.runs[sel[1][0]], record) == stored  # a best.pt load would fail
    other_seed = replace(config, swap_seed=1)  # another derangement: checked again from best.pt
    assert set(checkpoint_runs(plan, other_seed)) == {*sel[0], *sel[1]}


@pytest.mark.slow
def test_partial_and_missing_runs_are_trained_not_rendered(reported: dict, tmp_path: Path) -> None:
    root = reported["root"]
    assert run_state(root / "runs" / "sel-coatt-full-seed0", epochs=3).status == "partial"  # 1 of 3
    assert run_state(tmp_path / "nothing", epochs=3).status == "missing"
    data, ledger = reported["args"][1], str(tmp_path / "ledger")
    config = ReportConfig(data, runs=str(tmp_path / "runs"), ledger=ledger, only="sweeps", lambdas=(0.0,))
    with pytest.raises(ValueError, match=r"found 4 not: .*sel-coatt-full-matchorders-seed0 \(missing\)"):
        collect_results(plan_runs(config), config)


def test_report_processes_sharing_a_runs_folder_take_different_runs(
    random_ave_dir: Path, tmp_path: Path
) -> None:
    runs, ledger = str(tmp_path / "runs"), str(tmp_path / "ledger")
    config = ReportConfig(str(random_ave_dir), runs=runs, ledger=ledger, epochs=1, cml_epochs=1)
    first, second = RunSpec("sel", "baseline", seed=0), RunSpec("sel", "baseline", seed=1)
    plan = Plan(runs={first.name: first, second.name: second}, sections={"main": [first.name, second.name]})
    held_elsewhere = run_dir(config, first)
    held_elsewhere.mkdir(parents=True)
    with open(held_elsewhere / LOCK_FILE, "a", encoding="utf-8") as other_process:  # another holder
        fcntl.flock(other_process, fcntl.LOCK_EX)
        with claim_run(held_elsewhere, wait=False) as claimed:
            assert not claimed
        # "the other process" ends a second later without having trained its run
        releases = threading.Timer(1.0, fcntl.flock, (other_process, fcntl.LOCK_UN))
        releases.start()
        trained = train_missing(plan, config)
        releases.join()
    assert trained == [second.name, first.name]  # the free run first, then the one it waited for
    assert all(run_state(run_dir(config, spec), epochs=1).status == "done" for spec in (first, second))
    assert train_missing(plan, config) == []  # nothing left: done runs are never retrained


# --- the modality check on models that learned --------------------------------------------------


def _train_sel(data: Path, out: Path, epochs: int) -> Path:
    run = RunConfig(str(data), str(out), ModelConfig(task="sel"), TrainConfig(epochs=epochs, batch_size=8))
    return train(run).out / "best.pt"


def test_modality_check_drops_for_the_modality_a_model_uses(random_ave_dir: Path, tmp_path: Path) -> None:
    # The fixture's audio prototypes are added to every audio feature: SEL learns them first.
    checkpoint = _train_sel(random_ave_dir, tmp_path / "sel", AUDIO_EPOCHS)
    accuracy = modality_swap_accuracy(checkpoint, random_ave_dir, seed=0)
    assert accuracy["both"] == pytest.approx(read_checkpoint(checkpoint)["metrics"]["test"]["accuracy"])
    assert accuracy["audio_swapped"] < accuracy["both"] - 0.2
    with pytest.raises(ValueError, match=r"trained for 15 epochs, expected at most 10"):
        run_state(checkpoint.parent, epochs=10)


@pytest.fixture(scope="module")
def visual_only_dir(random_ave_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """random_ave_dir with noise for audio and each event's class pattern on every grid cell."""
    root = tmp_path_factory.mktemp("visual_only") / "data"
    shutil.copytree(random_ave_dir, root)
    data = AVEDirectory(root)
    labels, mask = data.labels().argmax(axis=-1), data.event_mask()  # (N, T) each
    rng = np.random.default_rng(1)
    with h5py.File(root / AUDIO_FILE, "r+") as handle:
        audio = handle[DATASET_KEY]
        audio[...] = rng.normal(0.0, 0.5, audio.shape).astype(np.float32)
    with h5py.File(root / VISUAL_FILE, "r+") as handle:
        visual = handle[DATASET_KEY]  # (N, T, H, W, C_v)
        prototypes = rng.normal(0.0, 1.0, (len(data.classes), visual.shape[-1]))
        signal = 2.0 * (mask[..., None] * prototypes[labels])[:, :, None, None, :]  # (N, T, 1, 1, C_v)
        visual[...] = (rng.normal(0.0, 0.5, visual.shape) + signal).astype(np.float32)
    return root


@pytest.mark.slow
def test_modality_check_sees_a_visual_only_model(visual_only_dir: Path, tmp_path: Path) -> None:
    checkpoint = _train_sel(visual_only_dir, tmp_path / "sel", VISUAL_EPOCHS)
    accuracy = modality_swap_accuracy(checkpoint, visual_only_dir, seed=0)
    assert accuracy["visual_swapped"] < accuracy["both"] - 0.2
    assert accuracy["audio_swapped"] > accuracy["both"] - 0.1  # the audio is noise: swapping it costs little
