"""Models of avel: the co-attention network (Xue et al.) and the AVE baselines (Tian et al.).

Every model maps audio (B, T, C_a) and visual (B, T, H, W, C_v) features to a ModelOutput;
`compute_loss` turns that output into the task's training loss.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from torch import nn

from avel.common.config import MODELS, ModelConfig, check_choice
from avel.models.baseline import AVDLN, AudioVisualAttentionNet, build_baseline
from avel.models.coattention import CoAttentionNet, CoSemanticAttention, CoSpatialAttention
from avel.models.losses import compute_loss, contrastive_loss, multilabel_soft_margin, weak_loss
from avel.models.output import ModelOutput

logger = logging.getLogger(__name__)

# cfg.model -> builder; the baseline picks its network by task (AVDLN for CML).
_BUILDERS: dict[str, Callable[[ModelConfig], nn.Module]] = {
    "coatt": CoAttentionNet,
    "baseline": build_baseline,
}


def build_model(cfg: ModelConfig) -> nn.Module:
    """The untrained model `cfg` describes (no weights are loaded: checkpoints do that)."""
    check_choice("model", cfg.model, MODELS)
    model = _BUILDERS[cfg.model](cfg)
    n_params = sum(p.numel() for p in model.parameters())
    logger.info(
        "built %s (%s, task %s, ablation %s): %d parameters",
        type(model).__name__,
        cfg.model,
        cfg.task,
        cfg.ablation,
        n_params,
    )
    return model


__all__ = [
    "AVDLN",
    "AudioVisualAttentionNet",
    "CoAttentionNet",
    "CoSemanticAttention",
    "CoSpatialAttention",
    "ModelOutput",
    "build_model",
    "compute_loss",
    "contrastive_loss",
    "multilabel_soft_margin",
    "weak_loss",
]
