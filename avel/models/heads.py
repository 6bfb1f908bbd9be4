"""What both models share after their attention: input checks, the BiLSTMs, task heads, losses.

Xue et al. (Sec. III-C..E) and Tian et al. end the same way: per-segment audio and visual
vectors go through two BiLSTMs (eq. 4), then either a classifier on their concatenation
(SEL/WSEL, eq. 6-7) or two matching MLPs (CML, eq. 5). Keeping that here lets the co-attention
model and the baseline differ only in their attention, so comparisons between them are fair.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avel.config import ModelConfig
from avel.models.output import ModelOutput

# Floor on a squared distance before its square root: d sqrt(x)/dx is infinite at x = 0, which
# identical embeddings (e.g. at initialisation) would otherwise hit.
_DIST_EPS = 1e-12
# Tian et al.'s AVDLN (cmm_train.py) puts LeakyReLU(0.3) between its (128, 64) layers; the
# paper's CML MLPs have exactly those sizes, so they get the same activation.
_MATCHING_ACTIVATION = partial(nn.LeakyReLU, 0.3)


def mlp(
    in_dim: int,
    dims: Sequence[int],
    activation: Callable[[], nn.Module] = nn.ReLU,
    last_bias: bool = True,
) -> nn.Sequential:
    """Fully connected layers of output sizes `dims` with `activation` between them (not after
    the last: the callers apply softmax, a loss or a distance to its output)."""
    if not dims:
        raise ValueError(f"mlp: expected at least one layer size in dims, got {tuple(dims)}")
    layers: list[nn.Module] = []
    for i, out_dim in enumerate(dims):
        last = i == len(dims) - 1
        layers.append(nn.Linear(in_dim, out_dim, bias=last_bias or not last))
        if not last:
            layers.append(activation())
        in_dim = out_dim
    return nn.Sequential(*layers)


def check_inputs(audio: Tensor, visual: Tensor, cfg: ModelConfig) -> None:
    """Reject features whose layout differs from `cfg`, before they fail deep inside a layer."""
    if audio.dim() != 3 or audio.shape[-1] != cfg.audio_dim:
        raise ValueError(f"forward(audio=...): expected (B, T, {cfg.audio_dim}), got {tuple(audio.shape)}")
    expected = (cfg.grid_h, cfg.grid_w, cfg.visual_dim)
    if visual.dim() != 5 or tuple(visual.shape[2:]) != expected:
        raise ValueError(
            f"forward(visual=...): expected (B, T, {', '.join(map(str, expected))}) (H, W, C_v last), "
            f"got {tuple(visual.shape)}"
        )
    if audio.shape[:2] != visual.shape[:2]:
        raise ValueError(
            f"forward: audio and visual must share (B, T); got audio {tuple(audio.shape[:2])}, "
            f"visual {tuple(visual.shape[:2])}"
        )


class TemporalEncoder(nn.Module):
    """eq. 4: one stream's audio and visual BiLSTMs (Sec. IV-A: hidden 128, output 256)."""

    def __init__(self, audio_dim: int, visual_dim: int, hidden: int) -> None:
        super().__init__()
        self.lstm_audio = nn.LSTM(audio_dim, hidden, batch_first=True, bidirectional=True)
        self.lstm_visual = nn.LSTM(visual_dim, hidden, batch_first=True, bidirectional=True)
        self.output_dim = 2 * hidden

    def forward(self, audio: Tensor, visual: Tensor) -> tuple[Tensor, Tensor]:
        """(B, T, C_a), (B, T, C_v) -> L^a, L^v, each (B, T, 2 * hidden); zero initial states."""
        l_a, _ = self.lstm_audio(audio)  # eq. 4: L_t^a = LSTM_a(F_t^a, (h_{t-1}, c_{t-1}))
        l_v, _ = self.lstm_visual(visual)  # eq. 4: L_t^v = LSTM_v(F_t^v, (h_{t-1}, c_{t-1}))
        return l_a, l_v


class EventClassifier(nn.Module):
    """Sec. III-E: segment scores e_t from the concatenated [L^a, L^v] via an MLP (64, C)."""

    def __init__(self, in_dim: int, hidden_dims: Sequence[int], num_classes: int) -> None:
        super().__init__()
        self.layers = mlp(in_dim, (*hidden_dims, num_classes))

    def forward(self, l_a: Tensor, l_v: Tensor) -> Tensor:
        """(B, T, D_a), (B, T, D_v) -> logits e_t (B, T, C); no sigmoid/softmax (the loss has it)."""
        # ReLU on the concatenation as in Tian et al.'s att_Net (models.py), whose head this is.
        return self.layers(F.relu(torch.cat((l_a, l_v), dim=-1)))


class MatchingHead(nn.Module):
    """Sec. III-D: two MLPs that embed audio and visual segments into one space (m^a, m^v)."""

    def __init__(self, audio_dim: int, visual_dim: int, dims: Sequence[int]) -> None:
        super().__init__()
        self.audio = mlp(audio_dim, dims, _MATCHING_ACTIVATION)
        self.visual = mlp(visual_dim, dims, _MATCHING_ACTIVATION)

    def forward(self, audio: Tensor, visual: Tensor) -> tuple[Tensor, Tensor]:
        """(B, T, D_a), (B, T, D_v) -> m^a, m^v, each (B, T, dims[-1])."""
        return self.audio(audio), self.visual(visual)


class StreamHead(nn.Module):
    """One stream after its attention module: BiLSTMs (eq. 4), then the head of `cfg.task`."""

    def __init__(self, audio_dim: int, visual_dim: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.encoder = TemporalEncoder(audio_dim, visual_dim, cfg.lstm_hidden)
        width = self.encoder.output_dim
        self.head: nn.Module = (
            MatchingHead(width, width, cfg.cml_dims)
            if cfg.task == "cml"
            else EventClassifier(2 * width, cfg.classifier_dims, cfg.num_classes)
        )

    def forward(self, audio: Tensor, visual: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        """Logits (B, T, C) for SEL/WSEL, or (m^a, m^v) each (B, T, D) for CML."""
        return self.head(*self.encoder(audio, visual))


def stream_fields(task: str, results: list) -> dict[str, list]:
    """The ModelOutput field that holds the streams' head outputs for `task`."""
    return {"stream_embeddings" if task == "cml" else "stream_logits": results}


# ----------------------------------------------------------------------------------- losses


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
