"""The training losses of both models (Sec. III-D, III-E): eq. 5 (CML), eq. 6 (SEL), eq. 7 (WSEL),
and their stream-weighted total L = lambda L^1 + (1 - lambda) L^2."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from avel.common.config import ModelConfig
from avel.models.output import ModelOutput

# Floor on a squared distance before its square root: d sqrt(x)/dx is infinite at x = 0, which
# identical embeddings (e.g. at initialisation) would otherwise hit.
_DIST_EPS = 1e-12


def _check_same_shape(name: str, value: Tensor, expected: torch.Size) -> None:
    if value.shape != expected:
        raise ValueError(f"{name}: expected shape {tuple(expected)}, got {tuple(value.shape)}")


def multilabel_soft_margin(logits: Tensor, target: Tensor) -> Tensor:
    """eq. 6 on (B, T, C) segment logits (or eq. 7 on (B, C) video logits), mean over videos.

    Per video: -1/C * sum over segments and classes of y log sigmoid(e) + (1 - y) log(1 - sigmoid(e)),
    i.e. summed over t as eq. 6 writes it (not averaged), averaged over the C classes.
    """
    _check_same_shape("multilabel_soft_margin(target=...)", target, logits.shape)
    # eq. 6: y log(exp(e)/(1+exp(e))) + (1-y) log(1/(1+exp(e))), via logsigmoid for stability
    per_entry = -(target * F.logsigmoid(logits) + (1 - target) * F.logsigmoid(-logits))
    per_segment = per_entry.mean(dim=-1)  # 1/C * sum_j, (B, T) or (B,)
    per_video = per_segment.reshape(len(per_segment), -1).sum(dim=1)  # sum_t, (B,)
    return per_video.mean()


def weak_loss(logits: Tensor, video_label: Tensor) -> Tensor:
    """eq. 7: segment logits (B, T, C) max-pooled over time, then eq. 6's loss vs (B, C) labels."""
    if logits.dim() != 3:
        raise ValueError(f"weak_loss(logits=...): expected (B, T, C), got {tuple(logits.shape)}")
    video_logits = logits.amax(dim=1)  # v[i] = max_t e_t[i], (B, C)
    return multilabel_soft_margin(video_logits, video_label)


def contrastive_loss(m_a: Tensor, m_v: Tensor, event: Tensor, margin: float) -> Tensor:
    """eq. 5 for every segment's (m^v_t, m^a_t) pair, averaged over the B x T pairs.

    y = 1 (event segment): S^2 pulls the pair together; y = 0: (max(0, tau - S))^2 pushes it
    at least tau apart. S is the Euclidean distance.
    """
    _check_same_shape("contrastive_loss(m_v=...)", m_v, m_a.shape)
    _check_same_shape("contrastive_loss(event=...)", event, m_a.shape[:-1])
    sq_dist = (m_v - m_a).pow(2).sum(dim=-1)  # S^2, (B, T); exact, so y = 1 needs no sqrt
    dist = sq_dist.clamp_min(_DIST_EPS).sqrt()  # S_theta(m^v_t, m^a_t)
    # eq. 5: y S^2 + (1 - y) (max(0, tau - S))^2
    per_pair = event * sq_dist + (1 - event) * F.relu(margin - dist).pow(2)
    return per_pair.mean()


def _batch_value(batch: dict[str, Tensor], key: str, task: str) -> Tensor:
    if key not in batch:
        raise ValueError(f"compute_loss: task {task!r} needs batch[{key!r}]; batch has {sorted(batch)}")
    return batch[key]


def compute_loss(output: ModelOutput, batch: dict[str, Tensor], cfg: ModelConfig) -> Tensor:
    """The task's loss of every stream, weighted: L = sum_k stream_weights[k] * L^k (Sec. III-D/E).

    batch: "labels" (B, T, C) one-hot float (SEL), "video_label" (B, C) float (WSEL),
    "event" (B, T) float in {0, 1} (CML).
    """
    if cfg.task == "sel":
        labels = _batch_value(batch, "labels", cfg.task)
        losses = [multilabel_soft_margin(e, labels) for e in output.stream_logits]  # L^S1, L^S2
    elif cfg.task == "wsel":
        video_label = _batch_value(batch, "video_label", cfg.task)
        losses = [weak_loss(e, video_label) for e in output.stream_logits]  # L^W1, L^W2
    else:
        event = _batch_value(batch, "event", cfg.task)
        losses = [contrastive_loss(m_a, m_v, event, cfg.margin) for m_a, m_v in output.stream_embeddings]
    if not losses:
        raise ValueError(f"compute_loss: the model output has no stream results for task {cfg.task!r}")
    if len(losses) != len(output.stream_weights):
        raise ValueError(
            f"compute_loss: {len(losses)} stream results but {len(output.stream_weights)} stream_weights"
        )
    # e.g. L^S = lambda_s L^S1 + (1 - lambda_s) L^S2
    return torch.stack([w * loss for w, loss in zip(output.stream_weights, losses, strict=True)]).sum()
