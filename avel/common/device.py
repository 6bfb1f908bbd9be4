"""Where tensors run: CUDA when present and asked for ("auto"), never required."""

from __future__ import annotations

import torch

from avel.common.config import DEVICES, check_choice


def resolve_device(name: str) -> torch.device:
    """Map "auto" to CUDA when present, else CPU; asking for absent CUDA is an error, not a fallback."""
    check_choice("device", name, DEVICES)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: expected a CUDA device, found none (use auto or cpu)")
    return torch.device(name)
