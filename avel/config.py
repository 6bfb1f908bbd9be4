"""Every setting of avel in one place: dataclasses that the CLI fills and checkpoints store.

Defaults are the paper's (Xue et al., Sec. IV-A and Table I) unless a comment says otherwise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

TASKS = ("sel", "wsel", "cml")
MODELS = ("coatt", "baseline")
# Table V ablations, all switches on one CoAttentionNet:
#   full         CSPA + CSEA
#   cspa         CSPA stream only
#   csea         CSEA stream only
#   cspa_no_aa   (CSPA /aa) + CSEA: no visual-guided audio attention in CSPA
#   csea_no_v2a  CSPA + (CSEA /v2a): no audio attention built from F^{v->a}
#   csea_no_a2v  CSPA + (CSEA /a2v): no visual attention built from F^{a->v}
ABLATIONS = ("full", "cspa", "csea", "cspa_no_aa", "csea_no_v2a", "csea_no_a2v")
# Inputs a model sees: both modalities, or one with the other zeroed (the benchmark's control that
# a single modality is not enough).
MODALITIES = ("both", "audio", "visual")
# Each task's CSPA stream weight (the CSEA stream gets 1 - lambda): eq. 5, 6, 7.
LAMBDA_FIELDS = {"sel": "lambda_s", "wsel": "lambda_w", "cml": "lambda_c"}


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
    audio_dim: int = 128  # C_a (VGGish: 128)
    visual_dim: int = 512  # C_v (VGG19 pool5: 512)
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

    def __post_init__(self) -> None:
        check_choice("model", self.model, MODELS)
        check_choice("task", self.task, TASKS)
        check_choice("ablation", self.ablation, ABLATIONS)
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

    def __post_init__(self) -> None:
        check_choice("modalities", self.modalities, MODALITIES)

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
    """How a clip becomes per-second features (Sec. IV-A, notes/ave-format.md)."""

    visual_backbone: str = "mobilenet_v2"
    audio_backbone: str = "yamnet"
    frames_per_segment: int = 16  # K frames sampled evenly in each 1-s segment
    frame_size: int = 224  # frames are resized to frame_size x frame_size
    sample_rate: int = 16_000
    max_seconds: int = 60  # longer clips are refused or cut (on_too_long)
    on_too_long: str = "refuse"  # "refuse" or "cut"
    batch_frames: int = 32  # frames per backbone forward pass

    def __post_init__(self) -> None:
        check_choice("on_too_long", self.on_too_long, ("refuse", "cut"))
        if self.frames_per_segment < 1:
            raise ValueError(f"frames_per_segment must be >= 1, got {self.frames_per_segment}")


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
