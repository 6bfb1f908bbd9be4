"""VGG19 (ImageNet-1k) pool5 frame encoder: the paper's visual backbone (Sec. IV-A, 7 x 7 x 512 per frame).

AVE's released visual features were made with it, so a model trained on them needs it to analyse a new
clip. No package ships the weights: they come from a user's file or the torch hub cache, or are
downloaded when the caller asks (`download=True`).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.models import VGG19_Weights, vgg19

from avel.features.backbones.mobilenet import ImageNetFrameEncoder
from avel.features.backbones.registry import WeightsFile, register_visual

VGG19_WEIGHTS = WeightsFile(
    filename="vgg19-dcbb9e9d.pth",
    description="torchvision's VGG19 ImageNet-1k state dict",
    url=VGG19_Weights.IMAGENET1K_V1.url,
    check_hash=True,
)


@register_visual("vgg19")
def build_vgg19(
    *,
    weights: str | Path | None = None,
    download: bool = False,
    device: str | torch.device = "cpu",
    optimize: bool = True,
) -> ImageNetFrameEncoder:
    """VGG19 ImageNet-1k: pool5 map (N, 7, 7, 512) per frame (torchvision's `features`, with the last pool).

    Weights: `weights` if given, else $TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth, else a download when
    `download=True`; otherwise WeightsNotFoundError.
    """
    state = VGG19_WEIGHTS.state_dict(weights, download=download, backbone="vgg19")
    with torch.device("meta"):  # skip the random init of 143 M parameters: the file overwrites them all
        model = vgg19()
    model.load_state_dict(state, assign=True)
    # torchvision's forward: features (pool5) -> adaptive 7 x 7 average pool -> flatten -> classifier
    head = nn.Sequential(model.avgpool, nn.Flatten(1), model.classifier)
    return ImageNetFrameEncoder("vgg19", model.features, head, 512, device=device, optimize=optimize)
