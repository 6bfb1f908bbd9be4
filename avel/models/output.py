"""What every avel model returns, so training, evaluation, the app and the plots share one shape.

Both the co-attention model and the baseline fill this; a model with one stream (the baseline,
or a single-module ablation) has lists of length one and weights [1.0].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

# The pooled features a forward pass may return (ModelOutput.features): before CSPA, after CSPA,
# after CSEA, per modality; the dataset view maps each with t-SNE (Fig. 7).
FEATURE_NAMES = ("raw_audio", "cspa_audio", "csea_audio", "raw_visual", "cspa_visual", "csea_visual")


@dataclass
class ModelOutput:
    """Scores, embeddings, attention and features of one forward pass.

    Shapes: B videos, T segments, C classes, D embedding size, H x W grid.
    """

    # SEL/WSEL: per-stream segment logits e_t, each (B, T, C); empty for CML models.
    stream_logits: list[Tensor] = field(default_factory=list)
    # CML: per-stream (m^a, m^v) embeddings, each (B, T, D); empty for SEL/WSEL models.
    stream_embeddings: list[tuple[Tensor, Tensor]] = field(default_factory=list)
    # Training-loss weight of each stream: [lambda, 1 - lambda] for CSPA + CSEA, [1.0] otherwise.
    stream_weights: list[float] = field(default_factory=list)
    # Spatial attention over the grid that weighted the visual map: (B, T, H, W), sums to 1
    # over H x W (CSPA's Z_att^v, or the baseline's audio-guided attention); None if unused.
    spatial_attention: Tensor | None = None
    # CSPA's visual-guided audio attention Z_att^a: (B, T, H*W) (C_a2 = H x W, Fig. 3).
    audio_attention: Tensor | None = None
    # CSEA's channel attention F_att^a (B, T, C_a) and F_att^v (B, T, H, W, C_v) (eq. 3 ii acts on
    # every grid position; average over H, W for one vector per segment).
    channel_attention_audio: Tensor | None = None
    channel_attention_visual: Tensor | None = None
    # Features for t-SNE and analysis, each (B, T, dim): FEATURE_NAMES where the model has them
    # ("raw_visual" is grid-pooled).
    features: dict[str, Tensor] = field(default_factory=dict)

    def scores(self) -> Tensor:
        """Inference scores (B, T, C): the streams' logits averaged (Sec. III-E)."""
        if not self.stream_logits:
            raise ValueError("this model has no classification head (it was built for CML)")
        return torch.stack(self.stream_logits).mean(dim=0)

    def distances(self) -> Tensor:
        """Pairwise segment distances (B, T_audio, T_visual), averaged over streams (Sec. III-D).

        Entry [b, i, j] is the Euclidean distance between audio segment i and visual segment j.
        """
        if not self.stream_embeddings:
            raise ValueError("this model has no matching head (it was built for SEL/WSEL)")
        per_stream = [torch.cdist(m_a, m_v) for m_a, m_v in self.stream_embeddings]
        return torch.stack(per_stream).mean(dim=0)
