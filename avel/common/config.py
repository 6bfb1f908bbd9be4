"""Every setting of avel in one place: dataclasses that the CLI fills and checkpoints store.

Defaults are the paper's (Xue et al., Sec. IV-A and Table I) unless a comment says otherwise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

# The official AVE features (docs/ave-format.md): T = 10 one-second segments,
# VGGish audio C_a = 128, VGG19 pool5 visual 7 x 7 x C_v with C_v = 512.
AVE_SEGMENTS = 10
AVE_AUDIO_DIM = 128
AVE_VISUAL_DIM = 512
TASKS = ("sel", "wsel", "cml")
MODELS = ("coatt", "baseline")


@dataclass(frozen=True)
class Ablation:
    """One Table V variant: which parts of CoAttentionNet exist (all switches on one class)."""

    label: str  # the row name, as Table V writes it
    cspa: bool = True  # the CSPA stream (eq. 1-2) with its BiLSTMs and head
    csea: bool = True  # the CSEA stream (eq. 3) with its BiLSTMs and head
    cspa_audio_attention: bool = True  # CSPA's visual-guided audio attention (eq. 2, Z_att^a)
    csea_v2a: bool = True  # CSEA's audio attention built from F^{v->a} (eq. 3, F_att^a)
    csea_a2v: bool = True  # CSEA's visual attention built from F^{a->v} (eq. 3, F_att^v)


# Table V: name (the CLI's --ablation) -> switches and label.
ABLATION_TABLE: dict[str, Ablation] = {
    "full": Ablation("CSPA + CSEA (full model)"),
    "cspa": Ablation("CSPA only", csea=False),
    "csea": Ablation("CSEA only", cspa=False),
    "cspa_no_aa": Ablation("(CSPA /aa) + CSEA", cspa_audio_attention=False),
    "csea_no_v2a": Ablation("CSPA + (CSEA /v2a)", csea_v2a=False),
    "csea_no_a2v": Ablation("CSPA + (CSEA /a2v)", csea_a2v=False),
}
ABLATIONS = tuple(ABLATION_TABLE)
# Inputs a model sees: both modalities, or one with the other zeroed (the benchmark's control that
# a single modality is not enough).
MODALITIES = ("both", "audio", "visual")
# Each task's CSPA stream weight (the CSEA stream gets 1 - lambda): eq. 5, 6, 7.
LAMBDA_FIELDS = {"sel": "lambda_s", "wsel": "lambda_w", "cml": "lambda_c"}
BASELINE_AUDIO_TERMS = ("released", "equation")
INITS = ("xavier", "pytorch")  # ModelConfig.init
LR_SCHEDULES = ("step", "constant")  # TrainConfig.lr_schedule
ORDERS = ("task", "match")  # TrainConfig.orders
DEVICES = ("auto", "cpu", "cuda")  # "auto": CUDA when present, else CPU (avel.common.device)


def check_choice(name: str, value: str, valid: tuple[str, ...]) -> None:
    """Raise a ValueError that lists the valid options."""
    if value not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(valid)}")


@dataclass
class ModelConfig:
    """Architecture of either model; input dims are read from the features, never assumed."""

    model: str = "coatt"  # "coatt" (Xue et al.) or "baseline" (Tian et al., ECCV 2018)
    task: str = "sel"  # "sel", "wsel" or "cml": picks the head and the loss
    ablation: str = "full"  # one of ABLATIONS (co-attention model only)
    audio_dim: int = AVE_AUDIO_DIM  # C_a (VGGish: 128)
    visual_dim: int = AVE_VISUAL_DIM  # C_v (VGG19 pool5: 512)
    grid_h: int = 7  # H
    grid_w: int = 7  # W
    num_classes: int = 29  # 28 events + background
    lstm_hidden: int = 128  # Sec. IV-A: BiLSTM hidden 128, output 256
    classifier_dims: tuple[int, ...] = (64,)  # Sec. III-E: MLP (64, C) for SEL/WSEL
    cml_dims: tuple[int, ...] = (128, 64)  # Sec. III-D: MLP (128, 64) per modality
    lambda_c: float = 0.6  # CML stream weight (CSPA share), eq. 5
    lambda_s: float = 0.3  # SEL stream weight, eq. 6
    lambda_w: float = 0.7  # WSEL stream weight, eq. 7
    margin: float = 2.0  # tau of the contrastive loss, eq. 5
    # Linear layers: "xavier" (xavier-uniform weights, as Tian et al.'s released att_Net; the
    # paper is silent) or "pytorch" (PyTorch's defaults). Both models; LSTMs keep PyTorch's.
    init: str = "xavier"
    # Co-attention only: divide CSPA's scores Z by sqrt(H x W) before the softmax (eq. 1), so the
    # attention does not saturate early (CoSpatialAttention; docs/fidelity.md). False: eq. 1 as printed.
    cspa_score_scaling: bool = True
    # Baseline only: how att_Net adds the audio term, "released" (Tian et al.'s models.py, which
    # produced the published 72.7) or "equation" (their paper's W_g U_a(a_t) 1^T); see
    # AudioGuidedAttention and docs/fidelity.md.
    baseline_audio_term: str = "released"

    def __post_init__(self) -> None:
        check_choice("model", self.model, MODELS)
        check_choice("task", self.task, TASKS)
        check_choice("ablation", self.ablation, ABLATIONS)
        check_choice("baseline_audio_term", self.baseline_audio_term, BASELINE_AUDIO_TERMS)
        check_choice("init", self.init, INITS)
        if self.model == "baseline" and self.ablation != "full":
            raise ValueError("ablations are switches of the co-attention model, not of the baseline")
        self.classifier_dims = tuple(self.classifier_dims)
        self.cml_dims = tuple(self.cml_dims)

    @property
    def num_positions(self) -> int:
        """H x W: the spatial positions CSPA attends over (C_v2 = C_a2 = H x W in Fig. 3)."""
        return self.grid_h * self.grid_w

    @property
    def cspa_weight(self) -> float:
        """lambda of the task: the CSPA stream's share of the loss (CSEA gets 1 - lambda)."""
        return getattr(self, LAMBDA_FIELDS[self.task])

    @property
    def parts(self) -> Ablation:
        """The ablation's switches, with a stream of zero loss weight removed.

        At lambda = 1 (0) the CSEA (CSPA) stream gets no training signal, yet inference averages
        every stream's logits (Sec. III-E): it would add untrained noise. Removing it makes the
        Fig. 5 end points the single-module models of Table V (the same modules, built in the
        same order, so the same seed gives the same run).
        """
        parts = ABLATION_TABLE[self.ablation]
        if parts.cspa and parts.csea and self.cspa_weight in (0.0, 1.0):
            parts = replace(parts, cspa=self.cspa_weight == 1.0, csea=self.cspa_weight == 0.0)
        return parts

    def with_cspa_weight(self, value: float) -> ModelConfig:
        """A copy with this task's lambda set to `value` (the Fig. 5 sweep)."""
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"--lambda: expected a stream weight in [0, 1], got {value}")
        return replace(self, **{LAMBDA_FIELDS[self.task]: value})


@dataclass
class TrainConfig:
    """Optimisation settings (Sec. IV-A: Adam 1e-3; 300 epochs/batch 64 MMEL, 30/32 CML)."""

    epochs: int | None = None  # None: the paper's value for the task
    batch_size: int | None = None  # None: the paper's value for the task
    lr: float = 1e-3
    seed: int = 0
    device: str = "auto"  # "auto" uses CUDA when present, else CPU
    init: str | None = None  # checkpoint whose shared layers start the model (CML from MMEL)
    weak_background: bool = True  # WSEL: add the extra background-only videos (AVE's noisy set)
    modalities: str = "both"  # "audio" / "visual": the other modality is zeroed in every split
    # Divide each modality by its training-split RMS (avel/models/scaling.py): any feature scale
    # trains. False: raw features, as the released AVE code feeds them.
    fit_input_scale: bool = True
    # Learning-rate schedule. The paper gives only the initial rate; Tian et al.'s released code
    # (supervised_main.py, weak_supervised_main.py) multiplies it by 0.1 after 15,000 iterations
    # (StepLR stepped every iteration). "step" is that schedule, the default, so both models train
    # as the published baseline did. avel keeps the last partial batch, so on AVE it fires in epoch
    # 284 of 300 for SEL (53 batches an epoch) and 273 for WSEL (55, background videos included);
    # never in runs of fewer iterations. "constant" keeps lr throughout (docs/fidelity.md).
    lr_schedule: str = "step"
    lr_step_iterations: int = 15_000
    lr_gamma: float = 0.1
    # Which order files a run trains, selects and tests on: "task" = the task's own (*_order.h5
    # for SEL/WSEL, *_order_match.h5 for CML); "match" = *_order_match.h5 for every task, for an
    # SEL model that can start a CML run without having trained on CML test videos.
    orders: str = "task"
    # CML --init: accept an init whose training or validation rows overlap the CML test rows
    # (recorded in the checkpoint). In the real AVE files train_order holds 314 of
    # test_order_match's 402 rows.
    allow_init_overlap: bool = False
    # Early stopping: end the run once this many epochs in a row have not improved the validation
    # metric (the selected epoch is the same as without it as long as no later epoch would have
    # won). None trains every epoch, as the paper and the released code do; the report shows from
    # its runs' histories what a patience would have changed (avel/report/results.py).
    patience: int | None = None

    def __post_init__(self) -> None:
        check_choice("modalities", self.modalities, MODALITIES)
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience: expected >= 1 epochs or None, got {self.patience}")
        check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        check_choice("orders", self.orders, ORDERS)
        if self.lr_step_iterations < 1 or not 0.0 < self.lr_gamma <= 1.0:
            raise ValueError(
                f"lr schedule: expected lr_step_iterations >= 1 and 0 < lr_gamma <= 1, got "
                f"{self.lr_step_iterations} and {self.lr_gamma}"
            )

    @property
    def match_orders(self) -> bool | None:
        """AVEDirectory.dataset's `match`: None (the task's own order files) or True."""
        return True if self.orders == "match" else None

    def resolved(self, task: str) -> TrainConfig:
        """A copy with the paper's per-task epochs and batch size filled in."""
        check_choice("task", task, TASKS)
        paper_epochs, paper_batch = (30, 32) if task == "cml" else (300, 64)
        return TrainConfig(
            **{
                **asdict(self),
                "epochs": self.epochs if self.epochs is not None else paper_epochs,
                "batch_size": self.batch_size if self.batch_size is not None else paper_batch,
            }
        )


@dataclass
class FeatureConfig:
    """How a clip becomes per-second features (Sec. IV-A, docs/ave-format.md)."""

    visual_backbone: str = "mobilenet_v2"
    audio_backbone: str = "yamnet"
    frames_per_segment: int = 16  # K frames sampled evenly in each 1-s segment
    frame_size: int = 224  # frames are resized to frame_size x frame_size
    sample_rate: int = 16_000
    max_seconds: int = 60  # longer clips are refused or cut (on_too_long)
    on_too_long: str = "refuse"  # "refuse" or "cut"
    # Frames per backbone forward pass: the CNN's activations for a batch dominate the transient
    # memory of feature extraction. `python -m benchmarks.localize_speed -- --batch-frames 32
    # --decode-window 60` compares with the earlier settings (docs/localize.md).
    batch_frames: int = 16

    def __post_init__(self) -> None:
        check_choice("on_too_long", self.on_too_long, ("refuse", "cut"))
        if self.frames_per_segment < 1:
            raise ValueError(f"frames_per_segment must be >= 1, got {self.frames_per_segment}")


@dataclass(frozen=True)
class DistributedConfig:
    """How ranks started by torchrun talk to each other (avel/common/distributed.py, docs/distributed.md)."""

    # The backend per device type: gloo on the CPU, NCCL between CUDA devices.
    cpu_backend: str = "gloo"
    cuda_backend: str = "nccl"
    # How long a collective (barrier, all-reduce) may wait for the slowest rank. Sharded extraction
    # waits at one barrier for every shard to finish, so this must exceed the imbalance between
    # shards (hours on 100k clips), not the PyTorch default of 30 minutes.
    timeout_minutes: int = 24 * 60

    def __post_init__(self) -> None:
        if self.timeout_minutes < 1:
            raise ValueError(f"DistributedConfig.timeout_minutes must be >= 1, got {self.timeout_minutes}")


def from_dict(cls: type, values: dict[str, Any]) -> Any:
    """Rebuild a config dataclass from `asdict` output, ignoring keys it does not know."""
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in known})


@dataclass
class RunConfig:
    """What a training run was asked to do; stored whole in every checkpoint."""

    data: str
    out: str
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


# ---- the composite benchmark (avel bench): one dataclass, two presets ----------------


@dataclass(frozen=True)
class CompositeConfig:
    """How many videos, how they look and sound, and how their features are extracted."""

    # Videos per split (70/15/15 in `full`, like a usual split; AVE itself is 3339/402/402).
    n_train: int = 1400
    n_val: int = 300
    n_test: int = 300
    # All-background videos from train media, AVE's "noisy" set for WSEL: AVE has 178 of them
    # beside 4143 videos (4.3 %), so about 90 beside 2000.
    n_background: int = 90
    seconds: int = AVE_SEGMENTS  # T: AVE videos are ten 1-s segments
    fps: int = 16  # AVE's visual features average 16 frames per second
    # Rendered frame side. Not the backbones' 224 (the decoder resizes to FeatureConfig.frame_size):
    # at 224 the chroma rows (112 px) are not a multiple of 32 and libx264's SIMD output then
    # varies from run to run (measured: 6 of 12 clips); at 256 every run is byte-identical.
    frame_size: int = 256
    sample_rate: int = 16_000  # VGGish/YAMNet input rate; the media are 16 kHz already
    # Event object: long side as a share of the frame side; big enough to cover a few cells of
    # the 7x7 grid, small enough that its position matters. Real footage often shows the sounding
    # object large (a face, a dog close up), hence the upper end.
    object_scale: tuple[float, float] = (0.3, 0.75)
    # Share of videos whose event photo, when big enough (backdrop_min_side), fills the whole frame
    # instead of being pasted: a shot of the scene (a speaker at a podium, a dog in a yard), as real
    # footage cuts to it, rather than a small cut-out on an unrelated backdrop. Its box is the frame.
    p_full_frame: float = 0.5
    # Distance the object travels over its visible interval, as a share of the frame side.
    object_travel: tuple[float, float] = (0.15, 0.4)
    # Backdrops: distractor photos at least this big (ImageNet samples), not 32x32 CIFAR blurs.
    backdrop_min_side: int = 96
    n_distractors: tuple[int, int] = (1, 3)  # non-AVE objects pasted over the backdrop (inclusive)
    distractor_scale: tuple[float, float] = (0.15, 0.3)
    # Distractors drift too, so motion alone does not point at the event object.
    distractor_travel: tuple[float, float] = (0.0, 0.15)
    # Camera: a share of videos get a slow zoom and pan over the whole composed picture plus a
    # small hand-held shake (px); the zoom (>= 1) leaves room for the pan, so no border shows.
    p_camera_motion: float = 0.7
    zoom: tuple[float, float] = (1.0, 1.3)
    shake_px: tuple[float, float] = (0.0, 3.0)
    # Picture degradations, drawn per video (the first value of each range is a clean picture):
    # lens/focus blur (Gaussian sigma, px), a lower capture resolution (scale before upscaling),
    # exposure and colour (brightness, contrast, saturation gains; per-channel tint gains),
    # sensor noise (sigma in grey levels) and H.264 compression (crf; 23 is the default).
    blur_sigma: tuple[float, float] = (0.0, 1.5)
    capture_scale: tuple[float, float] = (1.0, 0.4)
    brightness: tuple[float, float] = (0.75, 1.25)
    contrast: tuple[float, float] = (0.75, 1.2)
    saturation: tuple[float, float] = (0.6, 1.3)
    tint: tuple[float, float] = (0.9, 1.1)
    noise_sigma: tuple[float, float] = (0.0, 6.0)
    crf: tuple[int, int] = (23, 33)
    # Sound degradation: the microphone's band (Hz): a high-pass corner and a low-pass corner,
    # from full band (16-kHz audio) down to a phone's.
    highpass_hz: tuple[float, float] = (0.0, 300.0)
    lowpass_hz: tuple[float, float] = (8000.0, 3400.0)
    # Open-set videos per split, as a share of its event videos: a non-AVE object (a `_distractor`
    # photo) on screen while a non-AVE sound (an `_ambient` recording) is heard, both at once, and
    # labelled background as AVE labels every event outside its 28 classes.
    open_share: float = 0.12
    snr_db: tuple[float, float] = (-5.0, 10.0)  # event over ambient, drawn per video
    target_dbfs: float = -26.0  # every second is brought to this RMS: level carries no label
    peak_dbfs: float = -1.0  # ... unless its peak would pass this (no clipping, no codec overshoot)
    max_gain_db: float = 30.0  # cap of that per-second gain (a near-silent second stays quiet)
    fade_s: float = 0.02  # fades at every cut and loop joint: no clicks
    gain_ramp_s: float = 0.05  # the per-second gain changes over this long, centred on the boundary
    active_floor_db: float = -35.0  # 25-ms frames this far below the clip's loudest are gaps, dropped
    # Background seconds next to the event, per side of the span: the object is visible but
    # silent, or audible but off-screen, or neither (the rest).
    p_visible_only: float = 0.35
    p_audible_only: float = 0.35
    # Feature extraction: K frames per 1-s segment. AVE averages 16; measured here (2 cores, light
    # load) K = 16 costs 1.24 s per video (about 45 min of extraction for `full`), K = 4 0.39 s
    # (about 14 min). The objects move slowly, so 4 frames a second still see every position.
    frames_per_segment: int = 4

    def __post_init__(self) -> None:
        for name in ("n_train", "n_val", "n_test", "n_background"):
            if getattr(self, name) < 0:
                raise ValueError(f"CompositeConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.frames_per_segment < 1:
            raise ValueError(
                f"CompositeConfig.frames_per_segment must be >= 1, got {self.frames_per_segment}"
            )
        if self.p_visible_only + self.p_audible_only > 1:
            raise ValueError(
                "CompositeConfig: p_visible_only + p_audible_only must be <= 1, got "
                f"{self.p_visible_only} + {self.p_audible_only}"
            )
        for name in ("p_full_frame", "p_camera_motion", "open_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"CompositeConfig.{name} must be in [0, 1], got {getattr(self, name)}")
        if min(self.zoom) < 1:
            raise ValueError(f"CompositeConfig.zoom must be >= 1 (no border shows), got {self.zoom}")
        if self.fade_s * self.sample_rate < 1 or self.gain_ramp_s >= 1:
            raise ValueError(
                f"CompositeConfig: fade_s ({self.fade_s}) must span >= 1 sample and gain_ramp_s "
                f"({self.gain_ramp_s}) must be < 1 s"
            )

    def count(self, split: str) -> int:
        """Videos with an event in `split`."""
        counts = {"train": self.n_train, "val": self.n_val, "test": self.n_test}
        check_choice("split", split, tuple(counts))
        return counts[split]

    def open_count(self, split: str) -> int:
        """Open-set videos (an event of another kind, labelled background) in `split`."""
        return round(self.open_share * self.count(split))

    @property
    def frames_per_video(self) -> int:
        return self.seconds * self.fps


COMPOSITE_PRESETS: dict[str, CompositeConfig] = {
    # A few dozen videos: every usable class in every split, built in CI in a couple of minutes.
    "tiny": CompositeConfig(n_train=32, n_val=16, n_test=16, n_background=4),
    # About 2,000 videos, 70/15/15.
    "full": CompositeConfig(),
}


def composite_preset(name: str, **overrides: object) -> CompositeConfig:
    """A preset by name, with fields replaced (e.g. a smaller tiny for tests)."""
    check_choice("preset", name, tuple(COMPOSITE_PRESETS))
    return replace(COMPOSITE_PRESETS[name], **overrides)


# ---- python -m avel report ------------------------------------------------------------------------

SECTIONS = ("main", "ablations", "sweeps")
ONLY_CHOICES = (*SECTIONS, "all")
SWEEP_LAMBDAS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0)  # Fig. 5's grid
MIN_SEEDS = 3  # the issue asks for mean +- std over at least 3 seeds


@dataclass
class ReportConfig:
    """Everything `python -m avel report` is asked to do (the CLI fills it)."""

    data: str  # AVE-layout feature folder
    out: str = "RESULTS.md"
    runs: str = "runs/report"  # one sub-folder per run (RunSpec.name)
    ledger: str = "results/runs"  # one JSON record per finished run, committed (avel/report/ledger.py)
    figures: str = "docs/figures"
    seeds: tuple[int, ...] = (0, 1, 2)  # main comparison; ablations and sweeps use seeds[0]
    lambdas: tuple[float, ...] = SWEEP_LAMBDAS
    epochs: int | None = None  # SEL/WSEL; None: the paper's 300
    cml_epochs: int | None = None  # None: the paper's 30
    device: str = "auto"  # training device; the report's own evaluations run on the CPU
    only: str = "all"  # one of ONLY_CHOICES
    chance_margin: float = 0.05  # "well above chance": at least 5 points above it
    swap_seed: int = 0  # the fixed permutation of the modality swap check
    swap_margin: float = 0.02  # a modality "is used" when swapping it costs at least 2 points
    tsne_classes: int = 7  # Fig. 7 shows the 7 most frequent event classes
    tsne_max_points: int = 1000  # t-SNE cost grows quickly with points; subsampled above this
    # Real clips with a labels.csv (`score-clips`, e.g. ../shared/realdev): the main SEL/WSEL runs are
    # scored on them beside the composite test split. None: not scored.
    real_clips: str | None = None
    # Early stopping replayed on every run's history (TrainConfig.patience): which patience would
    # have kept each run's selected epoch, and what it would have saved
    patiences: tuple[int, ...] = (3, 5)

    def __post_init__(self) -> None:
        check_choice("--only", self.only, ONLY_CHOICES)
        check_choice("--device", self.device, DEVICES)
        self.seeds, self.lambdas = tuple(self.seeds), tuple(self.lambdas)
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"--seeds: expected distinct seeds, got {list(self.seeds)}")
        if not self.lambdas or len(set(self.lambdas)) != len(self.lambdas):
            raise ValueError(f"--lambdas: expected distinct values, got {list(self.lambdas)}")
        if any(not 0.0 <= value <= 1.0 for value in self.lambdas):
            raise ValueError(f"--lambdas: expected stream weights in [0, 1], got {list(self.lambdas)}")
        for name, value in (("--epochs", self.epochs), ("--cml-epochs", self.cml_epochs)):
            if value is not None and value < 1:
                raise ValueError(f"{name}: expected >= 1, got {value}")

    @property
    def sections(self) -> tuple[str, ...]:
        """The sections --only selects."""
        return SECTIONS if self.only == "all" else (self.only,)

    def requested_epochs(self, task: str) -> int | None:
        """--epochs or --cml-epochs as given (None: the paper's)."""
        return self.cml_epochs if task == "cml" else self.epochs

    def epochs_for(self, task: str) -> int:
        """Epochs a run of `task` trains for, the paper's filled in."""
        return TrainConfig(epochs=self.requested_epochs(task)).resolved(task).epochs


@dataclass(frozen=True)
class CalibrationConfig:
    """How a classifier learns when to abstain (`python -m avel calibrate`, avel/common/calibration.py).

    A second is answered only when its top class probability reaches a threshold; below it the app
    says "not one of the trained classes". The threshold keeps `keep_correct` of the validation
    seconds the model got right (the TPR-95 rule of out-of-distribution detection): the
    validation split has no unknown classes, so the rule can only be set by what it must not lose.
    """

    split: str = "val"  # never the test split
    keep_correct: float = 0.95  # share of correct validation seconds still answered

    def __post_init__(self) -> None:
        check_choice("split", self.split, ("val", "train"))
        if not 0.0 < self.keep_correct <= 1.0:
            raise ValueError(f"keep_correct must be in (0, 1], got {self.keep_correct}")


@dataclass(frozen=True)
class SummaryConfig:
    """The stored dataset summary the app shows on a fresh clone (`python -m avel summarize`).

    t-SNE is not inductive, so a new clip's seconds are placed on the stored maps by their
    nearest stored points: each feature is reduced by a PCA fitted on the subsample, and a second
    lands at the distance-weighted mean of its `neighbours` nearest points' t-SNE coordinates.
    """

    max_points: int = 1000  # seconds kept per t-SNE map (stratified by class)
    pca_dims: int = 50  # features are stored and matched in this PCA basis (float16)
    neighbours: int = 10  # stored points that place one new second
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_points < 3 or self.pca_dims < 2 or self.neighbours < 1:
            raise ValueError(f"SummaryConfig: max_points >= 3, pca_dims >= 2, neighbours >= 1, got {self}")


@dataclass(frozen=True)
class LocalizeConfig:
    """How `localize` runs a model trained on 10-s clips over a video of any length (avel.analysis.localize).

    The default window and hop were picked on the validation split of long videos made by
    concatenating composite benchmark videos (benchmarks/localize_windows.py, docs/localize.md).
    """

    model_window: int = 10  # seconds per model pass
    model_hop: int = 5  # a new window every hop seconds; per-second scores are averaged over windows
    # Seconds decoded and embedded at a time: bounds memory for any length. 30 s of 16 sampled
    # 224 x 224 frames a second are 72 MB of uint8 (60 s: 144 MB, held twice while stacked).
    decode_window: int = 30
    max_seconds: int = 4 * 3600  # longer clips are refused from their header, before any decoding
    # Clips up to this length are decoded whole (every view: all heatmaps, sound, tags, CML); longer
    # ones window by window, with heatmaps of each model's `heatmap_seconds` most eventful seconds.
    whole_clip_seconds: int = 60
    heatmap_seconds: int = 10

    def __post_init__(self) -> None:
        if not 1 <= self.model_hop <= self.model_window:
            raise ValueError(
                f"need 1 <= model_hop <= model_window, got {self.model_hop}, {self.model_window}"
            )
        if self.decode_window < 1 or self.max_seconds < 1:
            raise ValueError(f"decode_window and max_seconds must be >= 1, got {self}")
