"""The runs behind RESULTS.md: which model, task, ablation, lambda and seed, and where each one lives.

A run is a `RunSpec`; its `name` is a stable directory under the runs folder, so the report
command finds the runs it trained before and trains only the missing ones. Three sections:
    main       co-attention vs. baseline on SEL, WSEL, CML for every seed (Tables II-IV)
    ablations  the Table V variants of the co-attention model for every seed (the full row is main's)
    sweeps     lambda_c, lambda_s, lambda_w over Fig. 5's grid, first seed only; the SEL and WSEL
               end points (lambda 1 and 0) are the Table V CSPA-only and CSEA-only runs, reused
CML runs start from the matching SEL run's best.pt, as the paper starts CML from the MMEL model;
the baseline's CML network (AVDLN) shares no layers with its SEL network and starts from nothing.
Where the data's SEL training rows overlap its CML test rows (the real AVE files), that init is
a separate SEL run on the match split (--orders match), so no CML model sees its test videos.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from avel.common.config import (
    ABLATIONS,
    MODELS,
    SWEEP_LAMBDAS,
    TASKS,
    ModelConfig,
    ReportConfig,
    RunConfig,
    TrainConfig,
)
from avel.data import AVEDirectory
from avel.data.layout import EVENT_MASK_FILE
from avel.training.train import BEST

# lambda = 1 (0) removes the stream with no loss weight (ModelConfig.parts), which leaves the
# CSPA-only (CSEA-only) model of Table V weight for weight: same parts, same seed-0 initial
# weights, same loss, same data (test_lambda_end_points_are_the_single_module_models). So the
# sweep's SEL and WSEL end points are the ablation runs, trained once. CML's are not: a sweep's
# CML run starts from the full model's SEL run, an ablation's from its own.
SINGLE_MODULE_LAMBDAS = {"cspa": 1.0, "csea": 0.0}
REPORT_SPLIT = "test"  # the split the report's own checks and figures evaluate


@dataclass(frozen=True)
class RunSpec:
    """One training run; `init` is the SEL run whose best.pt starts a co-attention CML run."""

    task: str
    model: str = "coatt"
    ablation: str = "full"
    stream_weight: float | None = None  # the task's lambda (eq. 5-7); None: the paper's value
    seed: int = 0
    init: RunSpec | None = None
    orders: str = "task"  # TrainConfig.orders: "match" for a CML init on data whose splits overlap

    @property
    def name(self) -> str:
        """Stable folder name, e.g. "sel-coatt-full-seed0", "cml-coatt-full-lambda0.1-seed0"."""
        parts = [self.task, self.model]
        if self.model == "coatt":
            parts.append(self.ablation)
        if self.stream_weight is not None:
            parts.append(f"lambda{self.stream_weight:g}")
        if self.orders != "task":
            parts.append(f"{self.orders}orders")
        return "-".join([*parts, f"seed{self.seed}"])

    @property
    def stream_weight_used(self) -> float:
        """The lambda the run trains with: the swept value, 1 (0) for the CSPA-only (CSEA-only)
        model, or the paper's (Sec. IV-A)."""
        if self.stream_weight is not None:
            return self.stream_weight
        if self.model == "coatt" and self.ablation in SINGLE_MODULE_LAMBDAS:
            return SINGLE_MODULE_LAMBDAS[self.ablation]
        return ModelConfig(task=self.task).cspa_weight

    @property
    def model_config(self) -> ModelConfig:
        """The architecture the run trains (its lambda set when swept)."""
        model = ModelConfig(model=self.model, task=self.task, ablation=self.ablation)
        return model if self.stream_weight is None else model.with_cspa_weight(self.stream_weight)

    @property
    def has_spatial_attention(self) -> bool:
        """Whether the run's model has a map over the grid to score against the object box: CSPA's
        Z_att^v (any co-attention variant that keeps its CSPA stream) or the baseline's audio-guided
        attention (SEL/WSEL; its CML network AVDLN has none)."""
        if self.model == "baseline":
            return self.task != "cml"
        return self.model_config.parts.cspa


@dataclass
class Plan:
    """Runs in training order (each init before the runs it starts) and what each section shows."""

    runs: dict[str, RunSpec]
    sections: dict[str, list[str]]  # section -> run names, in table order

    def section_of(self, name: str) -> list[str]:
        """The sections that show a run (empty for a run planned only as another's init)."""
        return [section for section, names in self.sections.items() if name in names]


def cml_init_orders(data_dir: str | Path) -> str:
    """ "match" when the data's SEL training or validation rows include CML test rows (an SEL init
    would leak), else "task" (the composite benchmark, whose two split sets are the same). A
    folder that is not there yet plans as "task"; train() still refuses a leaking init there."""
    if not (Path(data_dir) / EVENT_MASK_FILE).is_file():
        return "task"
    data = AVEDirectory(data_dir)
    seen = [*data.order("train", "sel"), *data.order("val", "sel")]  # trained on, or selected on
    return "match" if data.cml_test_overlap(seen) else "task"


def _task_runs(model: str, ablation: str, seed: int, init_orders: str) -> list[RunSpec]:
    """SEL, WSEL and CML of one model variant; co-attention CML starts from an SEL run."""
    sel = RunSpec("sel", model, ablation, seed=seed)
    init = sel if init_orders == "task" else RunSpec("sel", model, ablation, seed=seed, orders=init_orders)
    cml = RunSpec("cml", model, ablation, seed=seed, init=init if model == "coatt" else None)
    return [sel, RunSpec("wsel", model, ablation, seed=seed), cml]


def _sweep_runs(lambdas: tuple[float, ...], seed: int, init_orders: str) -> list[RunSpec]:
    """Fig. 5: each task's lambda over the grid; the paper's value maps onto the main run's name,
    SEL's and WSEL's end points onto the single-module ablation runs (SINGLE_MODULE_LAMBDAS)."""
    sel = RunSpec("sel", seed=seed, orders=init_orders)
    end_points = {value: ablation for ablation, value in SINGLE_MODULE_LAMBDAS.items()}
    runs = []
    for task in TASKS:
        paper = ModelConfig(task=task).cspa_weight
        for value in lambdas:
            if task != "cml" and value in end_points:
                runs.append(RunSpec(task, ablation=end_points[value], seed=seed))
                continue
            weight = None if value == paper else value
            runs.append(RunSpec(task, stream_weight=weight, seed=seed, init=sel if task == "cml" else None))
    return runs


def plan_runs(config: ReportConfig) -> Plan:
    """Every run the requested sections need, once each, inits first."""
    first = config.seeds[0]
    orders = cml_init_orders(config.data)
    wanted = {
        "main": [
            spec
            for model in MODELS
            for seed in config.seeds
            for spec in _task_runs(model, "full", seed, orders)
        ],
        "ablations": [
            spec
            for ablation in ABLATIONS
            for seed in config.seeds
            for spec in _task_runs("coatt", ablation, seed, orders)
        ],
        "sweeps": _sweep_runs(config.lambdas, first, orders),
    }
    runs: dict[str, RunSpec] = {}
    sections = {}
    for section in config.sections:
        sections[section] = [spec.name for spec in wanted[section]]
        for spec in wanted[section]:
            if spec.init is not None:
                runs.setdefault(spec.init.name, spec.init)
            runs.setdefault(spec.name, spec)
    ordered = sorted(runs.values(), key=lambda spec: spec.init is not None)  # stable: inits stay first
    return Plan(runs={spec.name: spec for spec in ordered}, sections=sections)


def run_dir(config: ReportConfig, spec: RunSpec) -> Path:
    """Where a run lives: RUNS/<spec.name>."""
    return Path(config.runs) / spec.name


def run_config(config: ReportConfig, spec: RunSpec) -> RunConfig:
    """The train() request of a run; the init path is written as --runs was given (see train_command)."""
    train = TrainConfig(
        epochs=config.requested_epochs(spec.task),
        seed=spec.seed,
        device=config.device,
        init=None if spec.init is None else str(run_dir(config, spec.init) / BEST),
        orders=spec.orders,
    )
    return RunConfig(data=config.data, out=str(run_dir(config, spec)), model=spec.model_config, train=train)


def train_command(config: ReportConfig, spec: RunSpec) -> str:
    """The `python -m avel train` line that trains the same run (shown in the report's appendix)."""
    run = run_config(config, spec)
    words = ["python", "-m", "avel", "train", "--task", spec.task, "--model", spec.model]
    if spec.model == "coatt":
        words += ["--ablation", spec.ablation]
    if spec.stream_weight is not None:
        words += ["--lambda", f"{spec.stream_weight:g}"]
    words += ["--seed", str(spec.seed)]
    if spec.orders != "task":
        words += ["--orders", spec.orders]
    if run.train.epochs is not None:
        words += ["--epochs", str(run.train.epochs)]
    if run.train.init is not None:
        words += ["--init", run.train.init]
    return shlex.join([*words, "--data", run.data, "--out", run.out])


def report_command(config: ReportConfig) -> str:
    """The `python -m avel report` line that reproduces this report (defaults left out)."""
    words = ["python", "-m", "avel", "report", "--data", config.data, "--out", config.out]
    words += ["--runs", config.runs, "--figures", config.figures, "--seeds", *map(str, config.seeds)]
    if config.ledger != ReportConfig(data="").ledger:
        words += ["--ledger", config.ledger]
    if config.lambdas != SWEEP_LAMBDAS:
        words += ["--lambdas", *(f"{value:g}" for value in config.lambdas)]
    for option, value in (("--epochs", config.epochs), ("--cml-epochs", config.cml_epochs)):
        if value is not None:
            words += [option, str(value)]
    if config.only != "all":
        words += ["--only", config.only]
    if config.real_clips is not None:  # the real-footage table's clips
        words += ["--real-clips", config.real_clips]
    return shlex.join(words)
