"""Input scaling: one number per modality, fitted on the training split, stored with the weights.

Why: the co-attention modules multiply features with features (eq. 1's f1(F_a) ⊙ f2(F_v), eq. 2's
F_av ⊗ Z, eq. 3's F_a ⊙ F^{v->a}), so their outputs grow with the square or cube of the input
scale, and the BiLSTMs of the CSEA stream see F_sem ≈ F at the features' own scale. Real VGGish
rows have RMS ≈ 0.29 and VGG19 pool5 maps are tens of times larger; the paper does not say how
features are normalised. Dividing each modality by its training-split RMS keeps the direction of
every feature vector (and its non-negativity) and makes training independent of the scale
(docs/fidelity.md, "Input scale"). Being buffers, the two numbers travel in every checkpoint's
state_dict and are applied by the model itself wherever it runs (training, evaluation, the app).

The visual map is the one big input (B x T x H x W x C_v), so its scale is not applied to it:
`VisualGrid` carries the raw grid with s_v beside it, and each module divides the small tensors
it computes from the grid instead (docs/fidelity.md, "Speed": every such step is linear in F_v).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from torch import Tensor, nn

# Below this RMS a modality is treated as absent (a single-modality control zeroes it): kept at 1.
_MIN_RMS = 1e-8
_CHUNK = 64  # videos per pass when measuring the RMS of a large split


def rms(array: np.ndarray) -> float:
    """Root mean square of every entry, in float64 chunks so a 1.5 GB split needs no copy."""
    if array.size == 0:
        return 1.0
    total = sum(
        float(np.square(array[i : i + _CHUNK], dtype=np.float64).sum()) for i in range(0, len(array), _CHUNK)
    )
    return float(np.sqrt(total / array.size))


@dataclass
class VisualGrid:
    """The scaled visual map F_v = raw / rms, (B, T, P, C_v), held unscaled (see the module's doc)."""

    raw: Tensor  # (B, T, P, C_v): the features as given
    rms: Tensor  # s_v, 0-d: F_v = raw / rms

    @classmethod
    def of(cls, grid: Tensor | VisualGrid) -> VisualGrid:
        """A grid that is already F_v (scale 1), or the VisualGrid as it is."""
        return grid if isinstance(grid, VisualGrid) else cls(grid, grid.new_ones(()))

    @cached_property
    def mean(self) -> Tensor:
        """G(F_v), the average over the P positions, (B, T, C_v): computed once per forward."""
        return self.raw.mean(dim=-2) / self.rms

    def scaled(self) -> Tensor:
        """F_v itself, materialised (for analysis and tests; the models never need it whole)."""
        return self.raw / self.rms


class InputScale(nn.Module):
    """forward(audio, visual) -> (audio / s_a, VisualGrid of visual / s_v); s_a, s_v are 1 until `fit`."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("audio_rms", torch.ones(()))
        self.register_buffer("visual_rms", torch.ones(()))

    def fit(self, audio: np.ndarray, visual: np.ndarray) -> None:
        """Set s_a, s_v to the RMS of the training split's features (1 for an all-zero modality)."""
        for buffer, array in ((self.audio_rms, audio), (self.visual_rms, visual)):
            value = rms(array)
            buffer.fill_(value if value > _MIN_RMS else 1.0)

    def forward(self, audio: Tensor, visual: Tensor) -> tuple[Tensor, VisualGrid]:
        """audio (B, T, C_a), visual (B, T, H, W, C_v) -> audio / s_a, the (B, T, H x W, C_v) grid."""
        b, t, h, w, c_v = visual.shape
        return audio / self.audio_rms, VisualGrid(visual.reshape(b, t, h * w, c_v), self.visual_rms)

    def extra_repr(self) -> str:
        return f"audio_rms={self.audio_rms.item():.4g}, visual_rms={self.visual_rms.item():.4g}"
