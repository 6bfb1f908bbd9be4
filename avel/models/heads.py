"""What both models share after their attention: input checks, the BiLSTMs, task heads.

Xue et al. (Sec. III-C..E) and Tian et al. end the same way: per-segment audio and visual
vectors go through two BiLSTMs (eq. 4), then either a classifier on their concatenation
(SEL/WSEL, eq. 6-7) or two matching MLPs (CML, eq. 5). Keeping that here lets the co-attention
model and the baseline differ only in their attention, so comparisons between them are fair.
The losses of eq. 5-7 are in avel/models/losses.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avel.common.config import ModelConfig

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


def init_linear_layers(module: nn.Module, init: str) -> None:
    """ModelConfig.init: "xavier" sets xavier-uniform weights on every linear layer (biases and
    LSTMs keep PyTorch's defaults); "pytorch" leaves PyTorch's defaults.

    Xavier is how Tian et al.'s released att_Net initialises its linear layers (models.py,
    init_weights). The paper leaves initialisation open; both models use the same so that
    neither starts with an advantage (docs/fidelity.md, "Initialisation").
    """
    if init == "pytorch":
        return
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight)


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
