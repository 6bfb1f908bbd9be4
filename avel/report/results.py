"""Everything the report states, read from finished runs and the data: no training happens here.

The numbers come from each run's ledger record (avel/report/ledger.py: best.pt's val/test metrics
and history.jsonl, kept after the run directory is gone). Only the main section's first-seed SEL
runs are always read from their run directory's best.pt, for Figs. 4 and 7; the modality check
and the real-clip score read it once and are then kept in the record. Two
checks are computed here on the CPU, so they are the same on every rerun: the chance check (every
trained model well above chance) and the modality swap check (SEL accuracy must drop when one
modality's features come from another video).
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avel.analysis.dataset import summarize_dataset
from avel.analysis.localize import load_analyzer
from avel.analysis.realdev import ModelScore, clips_digest, score_folder
from avel.analysis.summary import DatasetSummary
from avel.common.config import MODELS, ReportConfig
from avel.data import SPLITS, AVEDirectory, AVESplit, FeatureDims, FeaturesInfo
from avel.report.ledger import (
    MODALITY_SWAP_FIELD,
    REAL_FOOTAGE_FIELD,
    add_to_record,
    benchmark_fingerprint,
    read_ledger,
    stored_modality_swap,
    stored_real_footage,
)
from avel.report.plan import REPORT_SPLIT, Plan, RunSpec, run_dir
from avel.report.run import plan_states, real_footage_runs
from avel.training.checkpoint import load_checkpoint
from avel.training.evaluate import checkpoint_dataset, evaluate_model, selection_metric
from avel.training.train import BEST, patience_exhausted

log = logging.getLogger(__name__)

REAL_CLIPS_CACHE = "real-clips"  # a run folder's cache of its localize results on the real clips
EVAL_DEVICE = "cpu"  # the report's own evaluations: deterministic, so reruns give the same bytes
SUBTASKS = ("a2v", "v2a", "sel", "wsel")  # the columns of Tables II-V
SWAPPABLE_MODALITIES = ("audio", "visual")  # what the swap check replaces with another video's
SWAP_KEYS = ("both", "audio_swapped", "visual_swapped")
# The paper's CML protocol beside the strict one (evaluate.strict_cml_distances), per direction.
STRICT_KEYS = ("a2v", "strict_a2v", "v2a", "strict_v2a")
MODEL_LABELS = {"coatt": "co-attention (Xue et al.)", "baseline": "baseline (Tian et al.)"}
SWEEP_COLUMNS = {"cml": ("a2v", "v2a"), "sel": ("sel",), "wsel": ("wsel",)}  # Fig. 5's curves per task


@dataclass
class RunResult:
    """What a finished run scored and cost."""

    spec: RunSpec
    val: dict[str, Any]
    test: dict[str, Any]
    best_epoch: int
    epochs: int
    seconds: float  # training time: sum of history.jsonl "seconds"
    hardware: str | None  # None: not trained by the report command, so not recorded
    # attention accuracy on the test split (avel/training/attention.py; overall + "per_class"); None
    # when the data has no object boxes or the model no spatial attention (RunSpec.has_spatial_attention)
    attention: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # history.jsonl's records, from the ledger

    @property
    def scores(self) -> dict[str, float]:
        """Test accuracy per sub-task: {"a2v", "v2a"} for CML, {task} for SEL/WSEL."""
        return subtask_scores(self.test, self.spec.task)

    @property
    def chance(self) -> float:
        return float(self.test["chance"])


@dataclass(frozen=True)
class EarlyStop:
    """What a run would have done with early stopping (TrainConfig.patience), from its history."""

    patience: int
    last_epoch: int  # the last epoch it would have trained
    picked_epoch: int  # the epoch it would have selected (best validation up to last_epoch)
    picked_val: float  # that epoch's validation score (the selection metric)
    seconds: float  # its training time up to last_epoch


def replay_early_stop(run: RunResult, patience: int) -> EarlyStop:
    """Replay train()'s stopping rule (patience_exhausted) on a finished run's per-epoch history:
    the same epochs in the same order, so the same selection up to where it would have stopped."""
    picked, picked_val, last, seconds = 0, float("-inf"), 0, 0.0
    for record in run.history:
        if patience_exhausted(record["epoch"], picked, patience):
            break
        last, seconds = record["epoch"], seconds + record["seconds"]
        if record["best"]:  # train() marks each epoch that improved the validation score
            val = {key.removeprefix("val_"): value for key, value in record.items() if key.startswith("val_")}
            picked, picked_val = record["epoch"], selection_metric(val, run.spec.task)
    return EarlyStop(patience, last, picked, picked_val, seconds)


@dataclass
class DataFacts:
    """The data the runs used, as the report describes it."""

    path: str
    num_videos: int
    num_classes: int
    dims: FeatureDims
    split_sizes: dict[str, dict[str, int]]  # "sel"/"cml" order -> split -> videos
    features_info: FeaturesInfo | None  # features.json of the extractor; None for official AVE


@dataclass
class ChanceFlag:
    """A run whose score on a sub-task is not well above that sub-task's chance."""

    run: str
    subtask: str
    value: float
    chance: float


@dataclass
class ReportResults:
    """All inputs of the rendered report and figures."""

    config: ReportConfig
    plan: Plan
    runs: dict[str, RunResult]
    data: DataFacts
    swaps: dict[str, dict[str, float]]  # SEL run of the main section -> SWAP_KEYS accuracies
    dataset: DatasetSummary | None  # both models' seed-0 SEL runs on the test split (Fig. 4, 7)
    chance_flags: list[ChanceFlag]
    # CML run of the main section -> STRICT_KEYS accuracies (empty without the main section)
    strict_cml: dict[str, dict[str, float]] = field(default_factory=dict)
    # every record of the ledger, planned here or not: how many and their training time in all
    ledger_runs: int = 0
    ledger_seconds: float = 0.0
    # SEL/WSEL run of the main section -> its score on config.real_clips (ModelScore.to_dict())
    real_footage: dict[str, dict[str, Any]] = field(default_factory=dict)


def subtask_scores(test: dict[str, Any], task: str) -> dict[str, float]:
    """Map a run's test metrics onto the table columns."""
    if task == "cml":
        return {"a2v": float(test["a2v"]), "v2a": float(test["v2a"])}
    return {task: float(test["accuracy"])}


def sweep_points(results: ReportResults) -> dict[str, list[tuple[float, dict[str, float]]]]:
    """Fig. 5: task -> (lambda, test scores) sorted by lambda, from the sweeps section's runs."""
    points: dict[str, list[tuple[float, dict[str, float]]]] = {task: [] for task in SWEEP_COLUMNS}
    for name in results.plan.sections.get("sweeps", []):
        result = results.runs[name]
        points[result.spec.task].append((result.spec.stream_weight_used, result.scores))
    return {task: sorted(values, key=lambda point: point[0]) for task, values in points.items()}


def val_picked_lambdas(results: ReportResults) -> dict[str, RunResult]:
    """Fig. 5 read honestly: per task (in SWEEP_COLUMNS order), the sweep run with the best
    validation score (the run's own selection metric): the lambda one would pick without the test split."""
    picked: dict[str, RunResult] = {}
    runs = [results.runs[name] for name in results.plan.sections.get("sweeps", [])]
    for run in sorted(runs, key=lambda run: run.spec.stream_weight_used):  # ties: the smaller lambda
        task, current = run.spec.task, picked.get(run.spec.task)
        if current is None or selection_metric(run.val, task) > selection_metric(current.val, task):
            picked[task] = run
    return {task: picked[task] for task in SWEEP_COLUMNS if task in picked}  # Fig. 5's order


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (n - 1); None when one value leaves it undefined."""
    if not values:
        raise ValueError("mean_std: expected at least one value, got none")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def chance_flags(runs: dict[str, RunResult], margin: float) -> list[ChanceFlag]:
    """Every (run, sub-task) scoring below chance + margin."""
    return [
        ChanceFlag(name, subtask, value, result.chance)
        for name, result in runs.items()
        for subtask, value in result.scores.items()
        if value < result.chance + margin
    ]


def derangement(size: int, seed: int) -> np.ndarray:
    """A seeded permutation with no fixed point: item i takes the features of item source[i] != i.

    A random order, each item taking its predecessor's features in that order (one random cycle).
    """
    if size < 2:
        raise ValueError(f"cannot give each video another video's features: the split has {size} video(s)")
    order = np.random.default_rng(seed).permutation(size)
    source = np.empty(size, dtype=np.int64)
    source[order] = np.roll(order, 1)
    return source


def swap_modality(split: AVESplit, modality: str, source: np.ndarray) -> AVESplit:
    """The split with `modality`'s features of video i replaced by those of video source[i]."""
    if modality not in SWAPPABLE_MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; valid: {', '.join(SWAPPABLE_MODALITIES)}")
    return AVESplit(
        audio=split.audio[source] if modality == "audio" else split.audio,
        visual=split.visual[source] if modality == "visual" else split.visual,
        labels=split.labels,
        event=split.event,
        video_labels=split.video_labels,
        rows=split.rows,
    )


def modality_swap_accuracy(
    checkpoint: str | Path, data_dir: str | Path, split: str = REPORT_SPLIT, seed: int = 0
) -> dict[str, float]:
    """SEL/WSEL segment accuracy with both modalities, then with audio, then visual, from other videos.

    A model that uses a modality loses accuracy when that modality no longer belongs to the video.
    """
    loaded = load_checkpoint(checkpoint, EVAL_DEVICE)
    task = loaded.model_config.task
    if task == "cml":
        raise ValueError(f"{checkpoint}: expected an SEL or WSEL checkpoint, found a CML one")
    dataset = checkpoint_dataset(loaded, AVEDirectory(data_dir), split)
    source = derangement(len(dataset), seed)
    variants = {
        "both": dataset,
        "audio_swapped": swap_modality(dataset, "audio", source),
        "visual_swapped": swap_modality(dataset, "visual", source),
    }
    device = torch.device(EVAL_DEVICE)
    return {
        key: float(evaluate_model(loaded.model, variant, task, loaded.classes, device)["accuracy"])
        for key, variant in variants.items()
    }


def training_seconds(record: dict[str, Any]) -> float:
    """A ledger record's training time: the sum of its per-epoch times (history.jsonl "seconds")."""
    return sum(epoch["seconds"] for epoch in record["history"])


def _run_result(spec: RunSpec, record: dict[str, Any]) -> RunResult:
    """A run's numbers from its ledger record (avel/report/ledger.py), not its run directory."""
    return RunResult(
        spec=spec,
        val=record["val"],
        test=record["test"],
        best_epoch=int(record["best_epoch"]),
        epochs=int(record["config"]["epochs"]),
        seconds=training_seconds(record),
        hardware=record["hardware"],
        attention=record.get("attention"),  # a record written before attention accuracy has none
        history=record["history"],
    )


def _data_facts(config: ReportConfig) -> DataFacts:
    data = AVEDirectory(config.data)
    return DataFacts(
        path=config.data,
        num_videos=data.num_videos,
        num_classes=len(data.classes),
        dims=data.dims,
        split_sizes={
            order: {split: len(data.order(split, order)) for split in SPLITS} for order in ("sel", "cml")
        },
        features_info=FeaturesInfo.read(config.data),
    )


def _real_footage(
    plan: Plan, config: ReportConfig, records: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Each main SEL/WSEL run scored on the real clips (score-clips). The score is kept in the run's
    ledger record (REAL_FOOTAGE_FIELD, keyed by clips_digest), so a later session renders it
    without the run's best.pt; the clip results are cached in the run folder while it lasts."""
    if config.real_clips is None or "main" not in plan.sections:
        return {}
    digest = clips_digest(config.real_clips)
    scored = {}
    for name in real_footage_runs(plan):
        score = stored_real_footage(records[name], digest)
        if score is None:
            log.info("real clips: %s", name)
            out = run_dir(config, plan.runs[name])
            analyzer = load_analyzer({name: out / BEST}, EVAL_DEVICE)
            _, scores = score_folder(analyzer, config.real_clips, out / REAL_CLIPS_CACHE)
            score = scores[name].to_dict()
            stored = {"digest": digest, "clips": Path(config.real_clips).name, "score": score}
            add_to_record(config.ledger, name, REAL_FOOTAGE_FIELD, stored)
        scored[name] = ModelScore.from_dict(score).to_dict()  # with the figures added since it was stored
    return scored


def _modality_swap(config: ReportConfig, spec: RunSpec, record: dict[str, Any]) -> dict[str, float]:
    """An SEL run's modality swap check, from its ledger record when it holds one; else computed
    from its best.pt and stored in the record (MODALITY_SWAP_FIELD), so a later session renders it
    without the run's best.pt."""
    accuracy = stored_modality_swap(record, REPORT_SPLIT, config.swap_seed)
    if accuracy is None:
        log.info("modality check: %s", spec.name)
        checkpoint = run_dir(config, spec) / BEST
        accuracy = modality_swap_accuracy(checkpoint, config.data, REPORT_SPLIT, config.swap_seed)
        stored = {"split": REPORT_SPLIT, "seed": config.swap_seed, "accuracy": accuracy}
        add_to_record(config.ledger, spec.name, MODALITY_SWAP_FIELD, stored)
    return accuracy


def collect_results(plan: Plan, config: ReportConfig) -> ReportResults:
    """Read every planned run (all must be done) and run the report's checks on the test split."""
    records = read_ledger(config, benchmark_fingerprint(config.data))
    states = plan_states(plan, config)
    unfinished = [
        f"{name} ({state.status if state.status != 'done' else 'not in the ledger'})"
        for name, state in states.items()
        if name not in records
    ]
    if unfinished:
        raise ValueError(
            f"{config.runs}: expected every planned run finished, found {len(unfinished)} not: "
            f"{', '.join(unfinished)}; run the report without --dry-run to train them"
        )
    runs = {name: _run_result(spec, records[name]) for name, spec in plan.runs.items()}
    swaps, strict, dataset = {}, {}, None
    if "main" in plan.sections:
        for name in plan.sections["main"]:
            if runs[name].spec.task == "cml":  # train() scored the strict protocol on test too
                strict[name] = {key: float(runs[name].test[key]) for key in STRICT_KEYS}
            if runs[name].spec.task == "sel":
                swaps[name] = _modality_swap(config, runs[name].spec, records[name])
        first = config.seeds[0]
        models = {
            model: load_checkpoint(run_dir(config, RunSpec("sel", model, seed=first)) / BEST, EVAL_DEVICE)
            for model in MODELS
        }
        dataset = summarize_dataset(models, config.data, REPORT_SPLIT)
    return ReportResults(
        real_footage=_real_footage(plan, config, records),
        config=config,
        plan=plan,
        runs=runs,
        data=_data_facts(config),
        swaps=swaps,
        strict_cml=strict,
        dataset=dataset,
        chance_flags=chance_flags(runs, config.chance_margin),
        ledger_runs=len(records),
        ledger_seconds=sum(training_seconds(record) for record in records.values()),
    )
