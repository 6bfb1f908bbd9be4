"""Input scaling: one number per modality, fitted on the training split, stored with the weights.

Why: the co-attention modules multiply features with features (eq. 1's f1(F_a) ⊙ f2(F_v), eq. 2's
F_av ⊗ Z, eq. 3's F_a ⊙ F^{v->a}), so their outputs grow with the square or cube of the input
scale, and the BiLSTMs of the CSEA stream see F_sem ≈ F at the features' own scale. Real VGGish
rows have RMS ≈ 0.29 and VGG19 pool5 maps are tens of times larger; the paper does not say how
features are normalised. Dividing each modality by its training-split RMS keeps the direction of
every feature vector (and its non-negativity) and makes training independent of the scale
(docs/fidelity.md, "Input scale"). Being buffers, the two numbers travel in every checkpoint's
state_dict and are applied by the model itself wherever it runs (training, evaluation, the app).
"""

from __future__ import annotations

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


class InputScale(nn.Module):
    """forward(audio, visual) -> (audio / s_a, visual / s_v); s_a, s_v are 1 until `fit`."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("audio_rms", torch.ones(()))
        self.register_buffer("visual_rms", torch.ones(()))

    def fit(self, audio: np.ndarray, visual: np.ndarray) -> None:
        """Set s_a, s_v to the RMS of the training split's features (1 for an all-zero modality)."""
        for buffer, array in ((self.audio_rms, audio), (self.visual_rms, visual)):
            value = rms(array)
            buffer.fill_(value if value > _MIN_RMS else 1.0)

    def forward(self, audio: Tensor, visual: Tensor) -> tuple[Tensor, Tensor]:
        return audio / self.audio_rms, visual / self.visual_rms

    def extra_repr(self) -> str:
        return f"audio_rms={self.audio_rms.item():.4g}, visual_rms={self.visual_rms.item():.4g}"
