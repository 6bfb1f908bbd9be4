"""The co-attention model of Xue et al. (IEEE TMM): CSPA (eq. 1-2), CSEA (eq. 3), two streams.

Layer sizes follow Table I written relative to the inputs (C_a, C_v, P = H x W), so the paper's
C_a = 128, C_v = 512, 7 x 7 gives Table I exactly and other backbones work unchanged. Every
choice the paper leaves open is commented at its line and listed in docs/fidelity.md.

Features inside the modules are kept per segment: audio (B, T, C_a), visual grid (B, T, P, C_v).
The grid is passed as a `VisualGrid` (raw map + its input scale) and the steps that run over the
whole map use the blockwise forms of avel/models/fused.py; docs/fidelity.md ("Speed") shows each
is the equation written here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from avel.common.config import ModelConfig
from avel.models.fused import channel_attention, linear_relu_linear, relu_pair
from avel.models.heads import StreamHead, check_inputs, init_linear_layers, mlp, stream_fields
from avel.models.output import ModelOutput
from avel.models.scaling import InputScale, VisualGrid

logger = logging.getLogger(__name__)


@dataclass
class CSPAOutput:
    """What CSPA computes for one batch (shapes with P = H x W)."""

    audio: Tensor  # F_spa^a (B, T, C_a)
    visual: Tensor  # F_spa^v (B, T, C_v)
    spatial_attention: Tensor  # Z_att^v (B, T, P), sums to 1 over P
    audio_attention: Tensor | None  # Z_att^a (B, T, P), sums to 1 over P; None without it (/aa)


class CoSpatialAttention(nn.Module):
    """CSPA (Sec. III-B1): audio-guided spatial attention on the grid, then visual-guided
    attention back on the audio (eq. 1-2, Fig. 3a)."""

    def __init__(
        self,
        audio_dim: int,
        visual_dim: int,
        num_positions: int,
        audio_attention: bool = True,
        score_scaling: bool = True,
    ) -> None:
        super().__init__()
        # Common space of size C_a2 = C_v2 = H x W (Fig. 3). Hidden layers: ReLU. The last layers
        # of FC1/FC2 and FC3 have no bias, like the layers they mirror in Tian et al.'s att_Net
        # (affine_g, affine_v, affine_h); an FC2 bias would only shift Z equally at every position.
        self.f1 = mlp(audio_dim, (visual_dim, num_positions), last_bias=False)  # FC1 [C_v, HW]
        self.f2 = mlp(visual_dim, (visual_dim, num_positions), last_bias=False)  # FC2 [C_v, HW]
        self.f3 = nn.Linear(num_positions, 1, bias=False)  # FC3 [1]
        # Z sums P' = H x W products of two learned maps (f1(F_a) ⊙ f2(F_v)), so it grows with the
        # square of their weights and the softmax over positions collapses early in training,
        # after which no gradient moves it off a wrong cell (measured at 7 x 7: entropy 0.15 nats
        # of 3.89 after 300 steps, benchmarks/diagnose_streams.py). As in scaled dot-product
        # attention, Z is divided by sqrt(P'). f3 can learn any scale, so the function class is
        # eq. 1's; only the optimisation changes. The paper is silent (docs/fidelity.md).
        self.score_scale = num_positions**-0.5 if score_scaling else 1.0
        self.f4: nn.Module | None = None
        self.f5: nn.Module | None = None
        if audio_attention:  # the (CSPA /aa) ablation drops the visual-guided audio attention
            self.f4 = mlp(num_positions, (2 * audio_dim, num_positions))  # FC4 [2 C_a, HW]
            self.f5 = nn.Linear(num_positions, audio_dim)  # FC5 [C_a]

    def forward(self, audio: Tensor, grid: Tensor | VisualGrid) -> CSPAOutput:
        """audio (B, T, C_a), grid (B, T, P, C_v) -> F_spa^a, F_spa^v and both attentions."""
        grid = VisualGrid.of(grid)
        f1_a = self.f1(audio)  # f1(F_a): (B, T, P')  with P' = C_a2 = H x W
        f2_v = linear_relu_linear(*relu_pair(self.f2), grid.raw, grid.rms)  # f2(F_v), blockwise
        f_av = f1_a.unsqueeze(-2) * f2_v  # eq. 1: F_av = f1(F_a) ⊙ f2(F_v), (B, T, P, P')
        z = self.f3(f_av).squeeze(-1) * self.score_scale  # eq. 1: Z = f3(F_av), (B, T, P); see __init__
        z_att_v = torch.softmax(z, dim=-1)  # eq. 1: Z_att^v = softmax(Z), over the P positions
        # eq. 2: F_spa^v = F_v ⊗ (Z_att^v)^T, the attention-weighted sum over positions, (B, T, C_v)
        # (the sum is linear in F_v, so it runs on the raw grid and is divided by s_v after)
        visual = (z_att_v.unsqueeze(-2) @ grid.raw).squeeze(-2) / grid.rms
        if self.f4 is None or self.f5 is None:
            return CSPAOutput(audio=audio, visual=visual, spatial_attention=z_att_v, audio_attention=None)
        # eq. 2: F_av ⊗ Z contracts the position axis (Z holds one score per position), i.e.
        # F_av^T Z with the raw scores Z as written, not Z_att: (B, T, 1, P) @ (B, T, P, P') -> (B, T, P')
        pooled = (z.unsqueeze(-2) @ f_av).squeeze(-2)
        z_att_a = torch.softmax(self.f4(pooled), dim=-1)  # eq. 2: Z_att^a = softmax(f4(F_av ⊗ Z)), over P'
        # eq. 2: F_spa^a = f5(Z_att^a ⊙ f1(F_a)) + F_a, reusing eq. 1's f1 (same symbol, same weights)
        audio_spa = self.f5(z_att_a * f1_a) + audio
        return CSPAOutput(audio=audio_spa, visual=visual, spatial_attention=z_att_v, audio_attention=z_att_a)


@dataclass
class CSEAOutput:
    """What CSEA computes for one batch (shapes with P = H x W)."""

    audio: Tensor  # F_sem^a (B, T, C_a)
    visual: Tensor  # the visual LSTM's input: G(F_sem^v), the grid average of the attended map, (B, T, C_v)
    audio_attention: Tensor | None  # F_att^a (B, T, C_a), sums to 1 over C_a; None for /v2a
    visual_attention: Tensor | None  # F_att^v (B, T, P, C_v), sums to 1 over C_v; None for /a2v
    grid: VisualGrid  # F_v

    @property
    def visual_map(self) -> Tensor:
        """F_sem^v = (F_att^v + 1) ⊙ F_v, (B, T, P, C_v): the attended grid, built on request (the
        model only needs its average, `visual`)."""
        if self.visual_attention is None:
            return self.grid.scaled()
        return (self.visual_attention + 1) * self.grid.scaled()


class CoSemanticAttention(nn.Module):
    """CSEA (Sec. III-B2): each modality mapped into the other's space to find the channels
    both agree on, which are then enhanced (eq. 3, Fig. 3b)."""

    def __init__(self, audio_dim: int, visual_dim: int, v2a: bool = True, a2v: bool = True) -> None:
        super().__init__()
        self.f_v2a: nn.Module | None = None
        self.f6: nn.Module | None = None
        self.f_a2v: nn.Module | None = None
        self.f7: nn.Module | None = None
        if v2a:  # the (CSEA /v2a) ablation drops the audio attention built from F^{v->a}
            self.f_v2a = nn.Linear(visual_dim, audio_dim)  # FC_v2a [C_a]
            self.f6 = nn.Linear(audio_dim, audio_dim)  # FC6 [C_a]
        if a2v:  # the (CSEA /a2v) ablation drops the visual attention built from F^{a->v}
            self.f_a2v = nn.Linear(audio_dim, visual_dim)  # FC_a2v [C_v]
            self.f7 = nn.Linear(visual_dim, visual_dim)  # FC7 [C_v]

    def forward(self, audio: Tensor, grid: Tensor | VisualGrid) -> CSEAOutput:
        """audio (B, T, C_a), grid (B, T, P, C_v) -> F_sem^a, G(F_sem^v) and the channel attentions."""
        grid = VisualGrid.of(grid)
        audio_sem, att_a = audio, None
        if self.f_v2a is not None and self.f6 is not None:
            v2a = self.f_v2a(grid.mean)  # eq. 3 i: F^{v->a} = f_v2a(G(F_v)), (B, T, C_a)
            # eq. 3 ii: F_att^a = softmax(f6(F_a ⊙ F^{v->a})), softmax over the C_a channels
            att_a = torch.softmax(self.f6(audio * v2a), dim=-1)
            audio_sem = (att_a + 1) * audio  # eq. 3 iii: F_sem^a = (F_att^a + 1) ⊙ F_a
        visual_sem, att_v = grid.mean, None  # without F_att^v: G(F_sem^v) = G(F_v)
        if self.f_a2v is not None and self.f7 is not None:
            a2v = self.f_a2v(audio)  # eq. 3 i: F^{a->v} = f_a2v(F_a), (B, T, C_v)
            # eq. 3 ii: F_att^v = softmax(f7(F_v ⊙ F^{a->v})). F_v is the grid (eq. 3 writes G only
            # in step i), so F^{a->v} is broadcast over the P positions and the softmax runs over
            # the C_v channels at each position: (B, T, P, C_v).
            # eq. 3 iii: F_sem^v = (F_att^v + 1) ⊙ F_v, of which the LSTM takes G(F_sem^v), (B, T, C_v).
            # Blockwise (avel/models/fused.py), on the raw grid: F_v ⊙ F^{a->v} = raw ⊙ (F^{a->v} / s)
            # and G((F_att^v + 1) ⊙ F_v) = G((F_att^v + 1) ⊙ raw) / s.
            att_v, pooled = channel_attention(self.f7, grid.raw, a2v / grid.rms)
            visual_sem = pooled / grid.rms
        return CSEAOutput(
            audio=audio_sem, visual=visual_sem, audio_attention=att_a, visual_attention=att_v, grid=grid
        )


class CoAttentionNet(nn.Module):
    """CSPA and CSEA streams, each with its own BiLSTMs and head; `cfg.parts` removes parts.

    forward(audio (B, T, C_a), visual (B, T, H, W, C_v)) -> ModelOutput, streams ordered
    [CSPA, CSEA] (either may be absent in a single-module ablation).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.model != "coatt":
            raise ValueError(f"CoAttentionNet: expected cfg.model='coatt', got {cfg.model!r}")
        self.cfg = cfg
        parts = cfg.parts  # the ablation's switches, a zero-weight stream removed (ModelConfig.parts)
        self.input_scale = InputScale()  # one fitted number per modality (avel/models/scaling.py)
        self.cspa: CoSpatialAttention | None = None
        self.cspa_stream: StreamHead | None = None
        self.csea: CoSemanticAttention | None = None
        self.csea_stream: StreamHead | None = None
        if parts.cspa:
            self.cspa = CoSpatialAttention(
                cfg.audio_dim,
                cfg.visual_dim,
                cfg.num_positions,
                audio_attention=parts.cspa_audio_attention,
                score_scaling=cfg.cspa_score_scaling,
            )
            self.cspa_stream = StreamHead(cfg.audio_dim, cfg.visual_dim, cfg)  # LSTM_a1, LSTM_v1 + head
        if parts.csea:
            self.csea = CoSemanticAttention(
                cfg.audio_dim, cfg.visual_dim, v2a=parts.csea_v2a, a2v=parts.csea_a2v
            )
            self.csea_stream = StreamHead(cfg.audio_dim, cfg.visual_dim, cfg)  # LSTM_a2, LSTM_v2 + head
        both = self.cspa is not None and self.csea is not None
        # L = lambda L^1 + (1 - lambda) L^2 (eq. 5-7 totals); a lone stream carries the whole loss
        self.stream_weights = [cfg.cspa_weight, 1.0 - cfg.cspa_weight] if both else [1.0]
        init_linear_layers(self, cfg.init)  # paper silent: released att_Net's xavier, as the baseline
        logger.debug("CoAttentionNet(%s, %s): stream weights %s", cfg.task, cfg.ablation, self.stream_weights)

    def forward(self, audio: Tensor, visual: Tensor) -> ModelOutput:
        """Run both streams; see ModelOutput for the fields (channel_attention_visual is
        (B, T, H, W, C_v): CSEA attends channels at every grid position)."""
        check_inputs(audio, visual, self.cfg)
        b, t, h, w, c_v = visual.shape
        # F / s, s fitted on the training split; the grid (B, T, P, C_v) keeps s_v beside it
        audio, grid = self.input_scale(audio, visual)
        features = {"raw_audio": audio, "raw_visual": grid.mean}  # raw_visual = G(F_v)
        results: list = []
        spatial_attention = audio_attention = channel_audio = channel_visual = None
        if self.cspa is not None and self.cspa_stream is not None:
            spa = self.cspa(audio, grid)
            results.append(self.cspa_stream(spa.audio, spa.visual))  # eq. 4 on (F_spa^a, F_spa^v)
            features["cspa_audio"], features["cspa_visual"] = spa.audio, spa.visual
            spatial_attention = spa.spatial_attention.reshape(b, t, h, w)  # (B, T, H, W)
            audio_attention = spa.audio_attention
        if self.csea is not None and self.csea_stream is not None:
            sem = self.csea(audio, grid)
            results.append(self.csea_stream(sem.audio, sem.visual))  # eq. 4 on (F_sem^a, G(F_sem^v))
            features["csea_audio"], features["csea_visual"] = sem.audio, sem.visual
            channel_audio = sem.audio_attention
            if sem.visual_attention is not None:
                channel_visual = sem.visual_attention.reshape(b, t, h, w, c_v)  # (B, T, H, W, C_v)
        return ModelOutput(
            **stream_fields(self.cfg.task, results),
            stream_weights=list(self.stream_weights),
            spatial_attention=spatial_attention,
            audio_attention=audio_attention,
            channel_attention_audio=channel_audio,
            channel_attention_visual=channel_visual,
            features=features,
        )
