"""RESULTS.md as a pure function of the collected results: same runs and data, same bytes.

Only the "Generated:" line changes between renderings. Percentages carry one decimal; a cell of
several seeds is "mean ± sample std (n=k)". Our numbers and the paper's are never in one table.
"""

from __future__ import annotations

import os
import statistics
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from avel.common.config import ABLATION_TABLE, ABLATIONS, MIN_SEEDS, MODELS, TASKS, ModelConfig, TrainConfig
from avel.common.metrics import ATTENTION_THRESHOLDS
from avel.common.text import markdown_table
from avel.report.figures import FIGURE_FILES, LAMBDA_NAMES, frequent_event_classes
from avel.report.plan import REPORT_SPLIT, RunSpec, report_command, train_command
from avel.report.results import (
    MODEL_LABELS,
    STRICT_KEYS,
    SUBTASKS,
    SWAP_KEYS,
    SWEEP_COLUMNS,
    ReportResults,
    RunResult,
    mean_std,
    replay_early_stop,
    subtask_scores,
    sweep_points,
    val_picked_lambdas,
)
from avel.training.evaluate import PAPER_RESULTS, selection_metric

PAPER_LABEL = "paper, real AVE, VGG19/VGGish features"
GENERATED_PREFIX = "Generated: "  # the one line that differs between two renderings
SUBTASK_LABELS = {"a2v": "A2V", "v2a": "V2A", "sel": "SEL", "wsel": "WSEL"}
CHANCE_RULES = {
    "a2v": "mean of 1/(T - l + 1) over the scored videos (l = event length)",
    "v2a": "mean of 1/(T - l + 1) over the scored videos (l = event length)",
    "sel": "share of the most frequent class (majority-class guess)",
    "wsel": "share of the most frequent class (majority-class guess)",
}
ATTENTION_KEYS = ("pointing", "mass", "iou_auc")  # avel.common.metrics.attention_accuracy
ATTENTION_LABELS = {"pointing": "pointing game", "mass": "mass in box", "iou_auc": "IoU AUC"}
# the real-footage table's columns per task: ModelScore.to_dict() key -> header
REAL_FOOTAGE_COLUMNS = {
    "known_accuracy": "known s right",
    "other_claim_rate": "other s claimed",
    "known_named_rate": "known s named (p >= 0.5)",
}
ATTENTION_SECTIONS = ("main", "ablations")  # the runs whose attention the section shows
NO_ATTENTION_REASONS = {  # why a model's runs are left out of the attention tables
    "coatt": "no CSPA stream, hence no map over the grid",
    "baseline": "AVDLN, which embeds the grid-averaged visual vector without attention",
}
SWAP_LABELS = {
    "both": "both modalities",
    "audio_swapped": "audio swapped",
    "visual_swapped": "visual swapped",
}


def percent(value: float) -> str:
    """An accuracy in [0, 1] as a percentage with one decimal, as the paper's tables print it."""
    return f"{100 * value:.1f}"


def format_mean_std(values: Sequence[float]) -> str:
    """ "76.5 ± 1.2 (n=3)" in percent; one value: "76.5 (n=1)"; none: "-"."""
    if not values:
        return "-"
    mean, std = mean_std(values)
    spread = "" if std is None else f" ± {percent(std)}"
    return f"{percent(mean)}{spread} (n={len(values)})"


def format_duration(seconds: float) -> str:
    """Seconds, minutes or hours, whichever keeps the number short."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _runs_of(results: ReportResults, section: str) -> list[RunResult]:
    return [results.runs[name] for name in results.plan.sections.get(section, [])]


def _scores_by_subtask(runs: Sequence[RunResult]) -> dict[str, list[float]]:
    collected: dict[str, list[float]] = {subtask: [] for subtask in SUBTASKS}
    for run in runs:
        for subtask, value in run.scores.items():
            collected[subtask].append(value)
    return collected


def _chances(results: ReportResults) -> dict[str, float]:
    """Chance of each sub-task on the test split (labels only: the same for every run of a task)."""
    return {subtask: run.chance for run in results.runs.values() for subtask in run.scores}


def _figure(results: ReportResults, figures: dict[str, Path], key: str, caption: str) -> str:
    if key not in figures:
        return f"_Figure {FIGURE_FILES[key]} was not drawn._"
    link = Path(os.path.relpath(figures[key], Path(results.config.out).resolve().parent)).as_posix()
    return f"![{caption}]({link})"


def _header(results: ReportResults, generated: str) -> str:
    return "\n".join(
        [
            "# Results: audio-visual event localization, co-attention vs. baseline",
            "",
            f"{GENERATED_PREFIX}{generated}",
            "",
            f"Reproduce: `{report_command(results.config)}`",
            "",
            f"Every number below is ours, measured on `{results.data.path}`, unless its table is labelled "
            f'"{PAPER_LABEL}". The paper\'s numbers are shown for reference only: they compare with ours '
            "only on the same data and features.",
        ]
    )


def _setup(results: ReportResults) -> str:
    data, config = results.data, results.config
    info = data.features_info
    backbones = (
        f"visual backbone `{info.visual_backbone}`, audio backbone `{info.audio_backbone}`"
        if info is not None
        else "no features.json (as with the official AVE VGG19/VGGish features)"
    )
    sizes = {
        order: "/".join(str(split_sizes[split]) for split in ("train", "val", "test"))
        for order, split_sizes in data.split_sizes.items()
    }
    dims = data.dims
    epochs = {
        task: sorted({run.epochs for run in results.runs.values() if run.spec.task == task}) for task in TASKS
    }
    paper = {task: TrainConfig().resolved(task) for task in TASKS}
    seeds = ", ".join(map(str, config.seeds))
    lines = [
        "## Setup",
        "",
        f"- Data: `{data.path}`, {data.num_videos} videos, {data.num_classes} classes; "
        f"train/val/test videos {sizes['sel']} (SEL/WSEL), {sizes['cml']} (CML); "
        f"T = {dims.num_segments} one-second segments, audio C_a = {dims.audio_dim}, visual "
        f"{dims.grid_h}x{dims.grid_w}x{dims.visual_dim}; {backbones}.",
        "- Selection: each run keeps the epoch with the best validation score (SEL/WSEL segment "
        "accuracy, CML mean of A2V and V2A); the test split is scored once, for that epoch only. "
        "Nothing here was tuned on the test split.",
        f"- Seeds: {seeds} for the co-attention vs. baseline comparison and the ablations; the lambda "
        f"sweep uses seed {config.seeds[0]} only (one seed).",
        "- Epochs: "
        + ", ".join(f"{task.upper()} {'/'.join(map(str, epochs[task])) or '-'}" for task in TASKS)
        + f" (paper: {paper['sel'].epochs} SEL/WSEL, {paper['cml'].epochs} CML); batch "
        f"{paper['sel'].batch_size} SEL/WSEL, {paper['cml'].batch_size} CML; Adam, lr {paper['sel'].lr:g}.",
        "- CML runs start from the matching SEL run's best.pt (the paper starts CML from the MMEL "
        "model); the baseline's CML network (AVDLN) shares no layers with it and starts from scratch.",
        *_hardware_lines(results),
        f"- Training time: {format_duration(sum(run.seconds for run in results.runs.values()))} in all "
        f"over {len(results.runs)} runs ("
        + ", ".join(
            f"{section} {format_duration(sum(run.seconds for run in _runs_of(results, section)))}"
            for section in results.plan.sections
        )
        + "; a run shared by sections is counted in each), the sum of the per-epoch times in "
        "history.jsonl; per run in the appendix. Where several report processes shared the runs "
        "folder (avel/report/run.py), their runs trained side by side on the same CPU, so each took "
        "longer than it would alone. The whole ledger "
        f"(`{config.ledger}`) holds {results.ledger_runs} runs, {format_duration(results.ledger_seconds)} "
        "of training in all.",
        "- The report's own evaluations (modality check, Fig. 4, Fig. 7) run on the CPU.",
    ]
    if len(config.seeds) < MIN_SEEDS:
        lines.append(
            f"- **Only {len(config.seeds)} seed(s): fewer than the {MIN_SEEDS} the comparison calls for.**"
        )
    return "\n".join(lines)


def _hardware_lines(results: ReportResults) -> list[str]:
    counts = Counter(run.hardware for run in results.runs.values())
    lines = [
        f"- Hardware ({count} runs): {hardware}."
        for hardware, count in sorted(counts.items(), key=str)
        if hardware is not None
    ]
    if None in counts:
        lines.append(f"- Hardware ({counts[None]} runs): not recorded (trained outside `avel report`)")
    return lines


def _chance_section(results: ReportResults) -> str:
    chances, margin = _chances(results), results.config.chance_margin
    rows = [[SUBTASK_LABELS[s], percent(chances[s]), CHANCE_RULES[s]] for s in SUBTASKS if s in chances]
    lines = [
        "## Chance levels and the chance check",
        "",
        markdown_table(["sub-task", f"chance on {REPORT_SPLIT} (%)", "rule"], rows),
        "",
    ]
    flags = results.chance_flags
    if not flags:
        lines.append(
            f"Check passed: all {len(results.runs)} trained runs score at least {percent(margin)} points "
            "above chance on every sub-task they are scored on."
        )
    else:
        lines += [
            f"**Check failed: {len(flags)} score(s) below chance + {percent(margin)} points:**",
            "",
            markdown_table(
                ["run", "sub-task", "test (%)", "chance (%)"],
                [
                    [f"`{f.run}`", SUBTASK_LABELS[f.subtask], percent(f.value), percent(f.chance)]
                    for f in flags
                ],
            ),
        ]
    return "\n".join(lines)


def _paper_row(model: str, ablation: str) -> list[str]:
    paper = PAPER_RESULTS.get((model, ablation), {})
    return [f"{paper[s]:.1f}" if s in paper else "-" for s in SUBTASKS]


def _main_section(results: ReportResults) -> str:
    runs = _runs_of(results, "main")
    scores = {model: _scores_by_subtask([r for r in runs if r.spec.model == model]) for model in MODELS}
    chances = _chances(results)
    header = ["method", *(SUBTASK_LABELS[s] for s in SUBTASKS)]
    rows = [[f"ours: {MODEL_LABELS[m]}", *(format_mean_std(scores[m][s]) for s in SUBTASKS)] for m in MODELS]
    rows.append(["chance", *(percent(chances[s]) if s in chances else "-" for s in SUBTASKS)])
    lines = [
        "## Tables II-IV analogue: co-attention vs. baseline",
        "",
        f"Test accuracy (%), mean ± sample std over seeds {', '.join(map(str, results.config.seeds))} "
        "(n shown). A2V/V2A: cross-modality localization (Table II); SEL: supervised event localization "
        "(Table III); WSEL: weakly supervised (Table IV).",
        "",
        markdown_table(header, rows),
        "",
        *_comparison_lines(scores),
        "",
        *([_real_footage_section(results), ""] if results.real_footage else []),
        f"### The paper's numbers ({PAPER_LABEL}; not ours)",
        "",
        markdown_table(
            header,
            [
                ["co-attention (paper, Tables II-V)", *_paper_row("coatt", "full")],
                ["baseline: AVDLN / Audio-visual+Att (paper)", *_paper_row("baseline", "full")],
            ],
        ),
    ]
    return "\n".join(lines)


def _real_footage_section(results: ReportResults) -> str:
    """Known-class seconds right and other-event seconds claimed on real clips, per model and task."""
    scored = results.real_footage
    if not scored:
        return ""
    first = next(iter(scored.values()))
    known = sum(c["label"] != "none" for c in first["clips"])
    tasks = [t for t in ("sel", "wsel") if any(results.runs[n].spec.task == t for n in scored)]
    rows = []
    for model in MODELS:
        cells = []
        for task in tasks:
            mine = [
                scored[n]
                for n in scored
                if results.runs[n].spec.model == model and results.runs[n].spec.task == task
            ]
            cells += [format_mean_std([m[key] for m in mine]) for key in REAL_FOOTAGE_COLUMNS]
        rows.append([f"ours: {MODEL_LABELS[model]}", *cells])
    header = ["method"] + [
        f"{SUBTASK_LABELS[t]} {what}" for t in tasks for what in REAL_FOOTAGE_COLUMNS.values()
    ]
    return "\n".join(
        [
            f"### Real footage: {first['num_clips']} real clips ({Path(results.config.real_clips).name})",
            "",
            f"The same runs on {first['num_clips']} real clips ({known} of known classes, "
            f"{first['known_seconds']} event seconds; {first['num_clips'] - known} of other events, "
            f"{first['other_seconds']} seconds), `python -m avel score-clips`: the share of known-class "
            "event seconds labelled right (at any probability), of other-event seconds claimed as a "
            "trained class (p >= 0.5), and of known-class event seconds named as a trained class at "
            "p >= 0.5 (right or not: the claim test on the known seconds, so a low claim rate can be "
            "told from a model that rarely commits at all), mean ± std over seeds (%).",
            "",
            markdown_table(header, rows),
        ]
    )


def within_spread(first: Sequence[float], second: Sequence[float]) -> bool:
    """Whether two groups' means differ by less than the larger of their seed spreads (sample std);
    never with one value each, which has no spread to compare with."""
    (first_mean, first_std), (second_mean, second_std) = mean_std(first), mean_std(second)
    spread = [std for std in (first_std, second_std) if std is not None]
    return bool(spread) and abs(first_mean - second_mean) < max(spread)


def _comparison_lines(scores: dict[str, dict[str, list[float]]]) -> list[str]:
    """Per sub-task: does the co-attention model beat the baseline on the mean? Said either way."""
    lines = []
    for subtask in SUBTASKS:
        ours, base = scores["coatt"][subtask], scores["baseline"][subtask]
        if not ours or not base:
            continue
        ours_mean, base_mean = mean_std(ours)[0], mean_std(base)[0]
        verdict = "beats the baseline" if ours_mean > base_mean else "**does not beat the baseline**"
        within = within_spread(ours, base)
        lines.append(
            f"- {SUBTASK_LABELS[subtask]}: co-attention {verdict} ({percent(ours_mean)} vs. "
            f"{percent(base_mean)}, difference {100 * (ours_mean - base_mean):+.1f} points"
            + ("; within the seeds' spread)" if within else ")")
        )
    return lines


def _runs_of_model(results: ReportResults, by_run: dict[str, dict[str, float]], model: str) -> list[str]:
    return [name for name in by_run if results.runs[name].spec.model == model]


def _per_model_table(
    results: ReportResults,
    by_run: dict[str, dict[str, float]],
    keys: Sequence[str],
    labels: dict[str, str],
) -> str:
    """One row per model: each key's mean ± std over that model's runs in `by_run`."""
    rows = [
        [
            MODEL_LABELS[model],
            *(
                format_mean_std([by_run[name][key] for name in _runs_of_model(results, by_run, model)])
                for key in keys
            ),
        ]
        for model in MODELS
    ]
    return markdown_table(["model", *(labels[key] for key in keys)], rows)


STRICT_LABELS = {
    "a2v": "A2V (paper's protocol)",
    "strict_a2v": "A2V strict",
    "v2a": "V2A (paper's protocol)",
    "strict_v2a": "V2A strict",
}


def _strict_cml_section(results: ReportResults) -> str:
    strict = results.strict_cml
    lines = [
        "## Strict CML: the query modality hidden outside the query span",
        "",
        "In the paper's protocol both modalities' embeddings are computed from whole tracks, so in the "
        "co-attention model (CSPA, CSEA and the BiLSTMs mix the modalities over time) the searched "
        "modality sees the query modality outside the query span. Strict: the query modality is "
        "zeroed outside its span (audio for A2V, visual for V2A) before the forward pass "
        f"(`avel.training.evaluate.strict_cml_distances`). The baseline's AVDLN embeds each segment on its "
        "own, so the strict protocol cannot change its scores: equal numbers there check the protocol. "
        f"{REPORT_SPLIT.capitalize()} accuracy (%), mean ± std over seeds:",
        "",
    ]
    lines += [_per_model_table(results, strict, STRICT_KEYS, STRICT_LABELS), ""]
    for model in MODELS:
        names = _runs_of_model(results, strict, model)
        if not names:
            continue
        drops = []
        for direction in ("a2v", "v2a"):
            change = mean_std([strict[n][direction] - strict[n][f"strict_{direction}"] for n in names])[0]
            drops.append(f"{direction.upper()} {100 * change:+.1f}")
        lines.append(f"- {MODEL_LABELS[model]}: paper's protocol minus strict, points: {', '.join(drops)}")
    return "\n".join(lines)


def _modality_section(results: ReportResults) -> str:
    swaps = results.swaps
    lines = [
        "## Modality check: SEL with one modality taken from another video",
        "",
        f"Each {REPORT_SPLIT} video's audio (then visual) features are replaced by those of another "
        f"{REPORT_SPLIT} video (a fixed derangement, seed {results.config.swap_seed}); labels stay. "
        f"A model that uses both modalities must lose at least "
        f"{100 * results.config.swap_margin:.0f} points both times. "
        "Segment accuracy (%), mean ± std over seeds:",
        "",
    ]
    lines += [_per_model_table(results, swaps, SWAP_KEYS, SWAP_LABELS), ""]
    failures = [
        f"- **`{name}` does not use its {key.split('_')[0]}: accuracy with it swapped is "
        f"{percent(accuracies[key])} vs. {percent(accuracies['both'])}**"
        for name, accuracies in swaps.items()
        for key in SWAP_KEYS[1:]
        if accuracies["both"] - accuracies[key] < results.config.swap_margin
    ]
    lines += failures or [
        f"Check passed: all {len(swaps)} SEL runs lose at least "
        f"{100 * results.config.swap_margin:.0f} points with either modality swapped."
    ]
    return "\n".join(lines)


def _fig4_section(results: ReportResults, figures: dict[str, Path]) -> str:
    dataset = results.dataset
    seed = results.config.seeds[0]
    lines = [
        f"## Fig. 4 analogue: confusion matrices and per-class accuracy (SEL, {REPORT_SPLIT}, seed {seed})",
        "",
        _figure(results, figures, "confusion_baseline", "confusion matrix, baseline"),
        _figure(results, figures, "confusion_coatt", "confusion matrix, co-attention"),
        _figure(results, figures, "per_class", "per-class accuracy"),
        "",
    ]
    if dataset is None:
        return "\n".join(lines)
    coatt, base = dataset.models["coatt"], dataset.models["baseline"]
    counts = coatt.confusion.sum(axis=1)  # (C,) true segments per class
    present = np.flatnonzero(counts)
    rows = [
        [
            str(i),
            dataset.classes[i],
            str(int(counts[i])),
            percent(coatt.per_class[i]),
            percent(base.per_class[i]),
        ]
        for i in present
    ]
    better = int((coatt.per_class[present] > base.per_class[present]).sum())
    worse = int((coatt.per_class[present] < base.per_class[present]).sum())
    lines += [
        markdown_table(["#", "class", "segments", "co-attention (%)", "baseline (%)"], rows),
        "",
        f"Co-attention is more accurate on {better}, less accurate on {worse}, of the {len(present)} "
        f"classes present in the {REPORT_SPLIT} split.",
    ]
    return "\n".join(lines)


def _fig7_section(results: ReportResults, figures: dict[str, Path]) -> str:
    dataset, config = results.dataset, results.config
    shown = ""
    if dataset is not None:
        classes = frequent_event_classes(dataset.labels, len(dataset.classes), config.tsne_classes)
        shown = ", ".join(f"{i} {dataset.classes[i]}" for i in classes)
    return "\n".join(
        [
            "## Fig. 7 analogue: t-SNE of raw, CSPA and CSEA features",
            "",
            f"Co-attention SEL model, seed {config.seeds[0]}, {REPORT_SPLIT} segments of its "
            f"(up to) {config.tsne_classes} most frequent event classes ({shown}), "
            f"at most {config.tsne_max_points} points per panel (stratified subsample). Raw: the input "
            "features (visual averaged over the grid); CSPA / CSEA: each stream's features before its LSTM.",
            "",
            _figure(results, figures, "tsne", "t-SNE of raw, CSPA and CSEA features"),
        ]
    )


def _best_variant_line(scores: dict[str, dict[str, list[float]]], subtask: str) -> str:
    """The variant with the best mean on a sub-task, and whether its lead over the next best is
    larger than the seeds' spread (the evidence a claim of "best" needs)."""
    means = {a: mean_std(scores[a][subtask])[0] for a in ABLATIONS if scores[a][subtask]}
    ranked = sorted(means, key=lambda a: -means[a])
    if not ranked:
        return f"{SUBTASK_LABELS[subtask]}: -"
    best = ranked[0]
    line = f"{SUBTASK_LABELS[subtask]}: {ABLATION_TABLE[best].label}"
    if len(ranked) == 1:
        return line
    runner_up = ranked[1]
    lead = 100 * (means[best] - means[runner_up])
    if len(scores[best][subtask]) < 2 or len(scores[runner_up][subtask]) < 2:
        verdict = "one seed: no spread to judge it by"
    elif within_spread(scores[best][subtask], scores[runner_up][subtask]):
        verdict = "within the seeds' spread"
    else:
        verdict = "beyond the seeds' spread"
    return f"{line} ({lead:+.1f} points over {ABLATION_TABLE[runner_up].label}, {verdict})"


def _ablation_section(results: ReportResults) -> str:
    runs = _runs_of(results, "ablations")
    scores = {a: _scores_by_subtask([r for r in runs if r.spec.ablation == a]) for a in ABLATIONS}
    header = ["variant", *(SUBTASK_LABELS[s] for s in SUBTASKS)]
    seeds = sorted({r.spec.seed for r in runs})
    return "\n".join(
        [
            f"## Table V analogue: ablations (test, seeds {', '.join(map(str, seeds))})",
            "",
            "Test accuracy (%) of each co-attention variant, mean ± sample std over seeds (n shown); the "
            "full model's row is the main comparison's co-attention runs.",
            "",
            markdown_table(
                header,
                [
                    [ABLATION_TABLE[a].label, *(format_mean_std(scores[a][s]) for s in SUBTASKS)]
                    for a in ABLATIONS
                ],
            ),
            "",
            "Best variant per sub-task (ours, by the mean), and its lead over the next: "
            + "; ".join(_best_variant_line(scores, s) for s in SUBTASKS)
            + ".",
            "",
            f"### Table V of the paper ({PAPER_LABEL}; not ours)",
            "",
            markdown_table(header, [[ABLATION_TABLE[a].label, *_paper_row("coatt", a)] for a in ABLATIONS]),
        ]
    )


def _attention_row(label: str, runs: Sequence[RunResult]) -> list[str]:
    """Each metric's mean ± std over the runs, the chance level and the event seconds scored."""
    values = [run.attention for run in runs if run.attention is not None]
    return [
        label,
        *(format_mean_std([value[key] for value in values]) for key in ATTENTION_KEYS),
        percent(statistics.fmean(value["chance"] for value in values)),
        str(values[0]["num_seconds"]),
    ]


def _attention_groups(results: ReportResults) -> dict[str, list[RunResult]]:
    """Table row label -> the shown runs it averages: co-attention and baseline over the seeds,
    then every Table V variant with spatial attention, per task; only runs that carry the scores."""
    groups: dict[str, list[RunResult]] = {}
    main, ablations = _runs_of(results, "main"), _runs_of(results, "ablations")
    for task in TASKS:
        for model in MODELS:
            groups[f"{MODEL_LABELS[model]}, {task.upper()}"] = [
                r for r in main if r.spec.model == model and r.spec.task == task
            ]
        for ablation in ABLATIONS:
            groups[f"{ABLATION_TABLE[ablation].label}, {task.upper()}"] = [
                r for r in ablations if r.spec.ablation == ablation and r.spec.task == task
            ]
    return {label: [r for r in runs if r.attention is not None] for label, runs in groups.items()}


def _per_class_attention(results: ReportResults, task: str = "sel") -> str:
    """Pointing game per class of the main section's co-attention and baseline runs of `task`."""
    main = [r for r in _runs_of(results, "main") if r.spec.task == task and r.attention is not None]
    scored = {m: [r.attention["per_class"] for r in main if r.spec.model == m] for m in MODELS}
    if not all(scored.values()):
        return ""
    classes = sorted({name for per_class in scored["coatt"] for name in per_class})
    first = scored["coatt"][0]
    rows = [
        [
            name,
            str(first[name]["num_seconds"]) if name in first else "-",
            percent(first[name]["chance"]) if name in first else "-",
            *(format_mean_std([p[name]["pointing"] for p in scored[m] if name in p]) for m in MODELS),
        ]
        for name in classes
    ]
    header = ["class", "event seconds", "chance (%)", *(f"{MODEL_LABELS[m]} (%)" for m in MODELS)]
    return "\n".join(
        [
            f"Pointing game per class ({task.upper()}, {REPORT_SPLIT}, mean ± std over seeds):",
            "",
            markdown_table(header, rows),
        ]
    )


def _without_attention(spec: RunSpec) -> str:
    """'CSEA only SEL (why it has no map)': a run left out of the attention tables, and why."""
    name = ABLATION_TABLE[spec.ablation].label if spec.model == "coatt" else MODEL_LABELS[spec.model]
    return f"{name} {spec.task.upper()} ({NO_ATTENTION_REASONS[spec.model]})"


def _attention_section(results: ReportResults) -> str:
    """Does the spatial attention land on the sounding object? Scored against the composite
    benchmark's object boxes; data without boxes (official AVE) gets a sentence, not a table."""
    lines = [
        "## Attention accuracy: does the heatmap land on the sounding object?",
        "",
    ]
    shown = [r for s in ATTENTION_SECTIONS for r in _runs_of(results, s)]
    if not any(r.attention is not None for r in shown):
        lines.append(
            "Not measured: no run's record holds attention accuracy. It needs the event object's box in "
            "every second, which the composite benchmark's manifest has and the official AVE features "
            "do not (`python -m avel evaluate --json` on a composite benchmark prints it)."
        )
        return "\n".join(lines)
    groups = {label: runs for label, runs in _attention_groups(results).items() if runs}
    header = ["model, task", *(f"{ATTENTION_LABELS[k]} (%)" for k in ATTENTION_KEYS), "chance (%)", "seconds"]
    omitted = sorted({_without_attention(r.spec) for r in shown if not r.spec.has_spatial_attention})
    lines += [
        f"Per event second of the {REPORT_SPLIT} split whose object box is known, the model's spatial "
        "attention (CSPA's Z_att^v; the baseline's audio-guided attention) against the box "
        "(`avel/training/attention.py`). Pointing game: the share of seconds whose peak cell lies in the "
        "box; mass in box: the mean share of the attention inside it; IoU AUC: the mean IoU, over "
        f"thresholds of {ATTENTION_THRESHOLDS[0]:.0%}-{ATTENTION_THRESHOLDS[-1]:.0%} of the map's maximum, "
        "between the thresholded map and the box's cells; "
        "chance: the box's mean share of the grid, which a uniform map scores on all three. In %, "
        "mean ± std over seeds.",
        "",
        markdown_table(header, [_attention_row(label, runs) for label, runs in groups.items()]),
    ]
    if omitted:
        lines += ["", "Omitted, having no spatial attention: " + "; ".join(omitted) + "."]
    missing = [r.spec.name for r in shown if r.spec.has_spatial_attention and r.attention is None]
    if missing:
        lines += ["", f"Not scored (the record has no attention accuracy): {', '.join(missing)}."]
    per_class = _per_class_attention(results)
    return "\n".join([*lines, *(["", per_class] if per_class else [])])


def _sweep_section(results: ReportResults, figures: dict[str, Path]) -> str:
    points = sweep_points(results)
    by_lambda: dict[float, dict[str, float]] = {}
    for task_points in points.values():
        for value, scores in task_points:
            by_lambda.setdefault(value, {}).update(scores)
    columns = [(task, column) for task in SWEEP_COLUMNS for column in SWEEP_COLUMNS[task]]
    header = ["lambda", *(f"{SUBTASK_LABELS[c]} ({LAMBDA_NAMES[t]})" for t, c in columns)]
    rows = [
        [f"{value:g}", *(percent(by_lambda[value][c]) if c in by_lambda[value] else "-" for _, c in columns)]
        for value in sorted(by_lambda)
    ]
    paper = ", ".join(f"{LAMBDA_NAMES[t]} = {ModelConfig(task=t).cspa_weight:g}" for t in SWEEP_COLUMNS)
    return "\n".join(
        [
            f"## Fig. 5 analogue: the stream weights lambda (test, seed {results.config.seeds[0]} only)",
            "",
            "Each task's lambda is its CSPA stream's share of the loss (CSEA gets 1 - lambda; eq. 5-7). "
            f"Test accuracy (%). The paper's values: {paper}; the paper gives Fig. 5 as a plot only. "
            "At lambda = 1 (0) the other stream gets no loss and is not built, so the SEL and WSEL "
            "end points are the Table V CSPA-only (CSEA-only) runs. The CML end points are not Table V's "
            "CML runs: they start from the full model's SEL run, Table V's from their own ablation's.",
            "",
            markdown_table(header, rows),
            "",
            _val_picked_line(results),
            "",
            _figure(results, figures, "sweep", "test accuracy against lambda_c, lambda_s, lambda_w"),
        ]
    )


def _val_picked_line(results: ReportResults) -> str:
    """The lambda each task would get if chosen on validation, and what it then scores on test."""
    picked = [
        f"{LAMBDA_NAMES[task]} = {run.spec.stream_weight_used:g} "
        f"(val {percent(selection_metric(run.val, task))}; test {_run_scores(run.scores)})"
        for task, run in val_picked_lambdas(results).items()
    ]
    return (
        "Picked on the validation split (each run's own selection metric; ties go to the smaller "
        "lambda), as one would choose without the test split: " + "; ".join(picked) + "."
    )


def _run_scores(scores: dict[str, float]) -> str:
    return ", ".join(f"{SUBTASK_LABELS[s]} {percent(v)}" for s, v in scores.items())


def _appendix(results: ReportResults) -> str:
    rows = []
    for name, run in results.runs.items():
        sections = ", ".join(results.plan.section_of(name)) or "init only"
        rows.append(
            [
                f"`{name}`",
                sections,
                f"{run.best_epoch}/{run.epochs}",
                _run_scores(subtask_scores(run.val, run.spec.task)),
                _run_scores(run.scores),
                format_duration(run.seconds),
            ]
        )
    commands = [train_command(results.config, run.spec) for run in results.runs.values()]
    return "\n".join(
        [
            "## Appendix: every run",
            "",
            f"Runs under `{results.config.runs}`, in training order "
            "(an SEL run before the CML run it starts).",
            "",
            markdown_table(
                ["run", "shown in", "best epoch / epochs", "val (%)", "test (%)", "training time"], rows
            ),
            "",
            "The same runs one by one (the report command above trains exactly these):",
            "",
            "```sh",
            *commands,
            "```",
        ]
    )


def _early_stopping_section(results: ReportResults) -> str:
    """What a patience (TrainConfig.patience) would have changed, replayed on every run above."""
    rows, changed = [], []
    runs = list(results.runs.values())
    total_seconds = sum(run.seconds for run in runs)
    for patience in results.config.patiences:
        stops = {name: replay_early_stop(run, patience) for name, run in results.runs.items()}
        kept = [name for name, stop in stops.items() if stop.picked_epoch == results.runs[name].best_epoch]
        seconds = sum(stop.seconds for stop in stops.values())
        rows.append(
            [
                str(patience),
                f"{len(kept)}/{len(runs)}",
                f"{sum(stop.last_epoch for stop in stops.values())}/{sum(run.epochs for run in runs)}",
                f"{format_duration(seconds)} of {format_duration(total_seconds)}",
            ]
        )
        changed += [
            f"- patience {patience}: `{name}` would pick epoch {stop.picked_epoch} (val "
            f"{percent(stop.picked_val)}) instead of {results.runs[name].best_epoch} (val "
            f"{percent(selection_metric(results.runs[name].val, results.runs[name].spec.task))})"
            for name, stop in stops.items()
            if name not in kept
        ]
    return "\n".join(
        [
            "## Early stopping: what a patience would have changed",
            "",
            "Replayed on each run's per-epoch validation history (the rule of `train --patience`: stop "
            "once that many epochs in a row bring no better validation score). Where a run keeps its "
            "selected epoch, its test scores above are unchanged; every run here trained all its epochs.",
            "",
            markdown_table(["patience", "runs keeping their epoch", "epochs trained", "training time"], rows),
            "",
            *(changed or ["No run would have picked another epoch."]),
        ]
    )


def render_markdown(results: ReportResults, figures: dict[str, Path], generated: str) -> str:
    """The whole RESULTS.md; `figures` maps report_figures.FIGURE_FILES keys to written files."""
    sections = results.plan.sections
    parts = [_header(results, generated), _setup(results), _chance_section(results)]
    if "main" in sections:
        parts += [
            _main_section(results),
            _strict_cml_section(results),
            _modality_section(results),
            _fig4_section(results, figures),
            _fig7_section(results, figures),
        ]
    if "ablations" in sections:
        parts.append(_ablation_section(results))
    if any(section in sections for section in ATTENTION_SECTIONS):
        parts.append(_attention_section(results))
    if "sweeps" in sections:
        parts.append(_sweep_section(results, figures))
    parts += [_early_stopping_section(results), _appendix(results)]
    return "\n\n".join(parts) + "\n"
