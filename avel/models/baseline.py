"""The AVE baselines of Tian et al. (ECCV 2018), the paper's point of comparison (Tables II-IV).

- SEL/WSEL: "Audio-visual + Att" (official models.py / models_weakly.py, att_Net): audio-guided
  attention over the H x W grid, audio and visual BiLSTMs, classifier on the concatenation.
- CML: AVDLN (official cmm_train.py): two per-segment MLP branches embed the audio vector and the
  grid-averaged visual vector, trained with the contrastive loss.

Both reuse the co-attention model's BiLSTMs and heads (avel/models/heads.py) and its losses
(avel/models/losses.py), so the comparison isolates the attention. Differences from the official
code are in docs/fidelity.md.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avel.common.config import ModelConfig
from avel.models.fused import linear_relu_linear
from avel.models.heads import MatchingHead, StreamHead, check_inputs, init_linear_layers
from avel.models.output import ModelOutput
from avel.models.scaling import InputScale, VisualGrid


def _check_baseline_cfg(name: str, cfg: ModelConfig, tasks: tuple[str, ...]) -> None:
    if cfg.model != "baseline" or cfg.task not in tasks:
        raise ValueError(
            f"{name}: expected cfg.model='baseline' and cfg.task in {tasks}, "
            f"got model={cfg.model!r}, task={cfg.task!r}"
        )


class AudioGuidedAttention(nn.Module):
    """Tian et al. Sec. 3.2: x_t = w_h^T tanh(W_v U_v(v_t) + W_g U_a(a_t) 1^T), w_t = softmax(x_t).

    `audio_term` "released" adds the audio term as the released att_Net does (models.py:
    `affine_g(a_t).unsqueeze(2)`): audio element k is added to every entry of position k's row,
    i.e. it acts as a per-position bias; "equation" adds the same audio vector to every position's
    row, as the paper's W_g U_a(a_t) 1^T reads (docs/fidelity.md, the Baseline table).
    """

    def __init__(
        self, audio_dim: int, visual_dim: int, num_positions: int, audio_term: str = "released"
    ) -> None:
        super().__init__()
        self.audio_term = audio_term
        hidden = visual_dim  # official hidden_size = 512 = C_v
        self.affine_audio = nn.Linear(audio_dim, hidden)  # U_a
        self.affine_visual = nn.Linear(visual_dim, hidden)  # U_v
        self.affine_v = nn.Linear(hidden, num_positions, bias=False)  # W_v (official: 49 = H x W)
        self.affine_g = nn.Linear(hidden, num_positions, bias=False)  # W_g
        self.affine_h = nn.Linear(num_positions, 1, bias=False)  # w_h

    def forward(self, audio: Tensor, grid: Tensor | VisualGrid) -> tuple[Tensor, Tensor]:
        """audio (B, T, C_a), grid (B, T, P, C_v) -> attended visual (B, T, C_v), weights (B, T, P)."""
        grid = VisualGrid.of(grid)
        # W_v U_v(v_t), U_v(v_t) = relu(affine_visual(v_t)): (B, T, P, P), blockwise (avel/models/fused.py)
        visual_term = linear_relu_linear(self.affine_visual, self.affine_v, grid.raw, grid.rms)
        u_a = F.relu(self.affine_audio(audio))  # U_a(a_t): (B, T, hidden)
        g = self.affine_g(u_a)  # W_g U_a(a_t): (B, T, P), one entry per position
        # released: content[i, j] = (W_v U_v v^i)_j + g_i; equation: ... + g_j. Both (B, T, P, P).
        content = visual_term + (g.unsqueeze(-1) if self.audio_term == "released" else g.unsqueeze(-2))
        scores = self.affine_h(torch.tanh(content)).squeeze(-1)  # x_t: (B, T, P)
        weights = torch.softmax(scores, dim=-1)  # w_t over the P positions
        # sum_i w_t^i v_t^i: (B, T, C_v), on the raw grid then divided by s_v (it is linear in v)
        attended = (weights.unsqueeze(-2) @ grid.raw).squeeze(-2) / grid.rms
        return attended, weights


class AudioVisualAttentionNet(nn.Module):
    """Tian et al.'s "Audio-visual + Att" for SEL/WSEL: one stream, stream_weights [1.0]."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        _check_baseline_cfg("AudioVisualAttentionNet", cfg, ("sel", "wsel"))
        self.cfg = cfg
        self.input_scale = InputScale()  # one fitted number per modality (avel/models/scaling.py)
        self.attention = AudioGuidedAttention(
            cfg.audio_dim, cfg.visual_dim, cfg.num_positions, cfg.baseline_audio_term
        )
        # Raw audio and attended visual into the BiLSTMs, then the MLP (64, C): as att_Net.
        self.stream = StreamHead(cfg.audio_dim, cfg.visual_dim, cfg)
        init_linear_layers(self, cfg.init)  # xavier: as the released att_Net.init_weights

    def forward(self, audio: Tensor, visual: Tensor) -> ModelOutput:
        """audio (B, T, C_a), visual (B, T, H, W, C_v) -> logits (B, T, C) and the grid attention."""
        check_inputs(audio, visual, self.cfg)
        b, t, h, w, _ = visual.shape
        audio, grid = self.input_scale(audio, visual)  # F / s, s fitted on the training split
        attended, weights = self.attention(audio, grid)
        return ModelOutput(
            stream_logits=[self.stream(audio, attended)],
            stream_weights=[1.0],
            spatial_attention=weights.reshape(b, t, h, w),  # (B, T, H, W)
            features={"raw_audio": audio, "raw_visual": grid.mean},
        )


class AVDLN(nn.Module):
    """Audio-visual distance learning network for CML: per-segment MLP branches, no LSTM."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        _check_baseline_cfg("AVDLN", cfg, ("cml",))
        self.cfg = cfg
        # Official branches: Dense(128), LeakyReLU(0.3), Dense(64) = the CML MatchingHead.
        self.input_scale = InputScale()  # one fitted number per modality (avel/models/scaling.py)
        self.branches = MatchingHead(cfg.audio_dim, cfg.visual_dim, cfg.cml_dims)
        init_linear_layers(self, cfg.init)  # xavier: Keras' Dense default (glorot_uniform), cmm_train.py

    def forward(self, audio: Tensor, visual: Tensor) -> ModelOutput:
        """audio (B, T, C_a), visual (B, T, H, W, C_v) -> [(m^a, m^v)], each (B, T, D)."""
        check_inputs(audio, visual, self.cfg)
        audio, grid = self.input_scale(audio, visual)  # F / s, s fitted on the training split
        visual_vec = grid.mean  # grid average (official visual_feature_vec): (B, T, C_v)
        return ModelOutput(
            stream_embeddings=[self.branches(audio, visual_vec)],
            stream_weights=[1.0],
            features={"raw_audio": audio, "raw_visual": visual_vec},
        )


def build_baseline(cfg: ModelConfig) -> nn.Module:
    """Tian et al.'s model for `cfg.task`: AVDLN for CML, Audio-visual + Att otherwise."""
    return AVDLN(cfg) if cfg.task == "cml" else AudioVisualAttentionNet(cfg)
