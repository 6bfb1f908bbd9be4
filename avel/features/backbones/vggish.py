"""VGGish (AudioSet): the paper's audio backbone (Sec. IV-A), 128-d per 1-s segment.

The layout is the `torchvggish` port of the TF model, so its state dict (vggish-10086976.pth) loads as is.
The embedding is the raw ReLU'd 128-d output, without the PCA whitening and 8-bit quantisation of the
AudioSet release: that is what AVE's released audio features are.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from avel.features.backbones.logmel import VGGISH_LOGMEL, LogMelPatchEncoder
from avel.features.backbones.registry import WeightsFile, register_audio

EMBEDDING_DIM = 128
# conv output channels (3 x 3, padding 1, ReLU) and "M" for a 2 x 2 max-pool, as TF VGGish
CONV_CHANNELS: tuple[int | str, ...] = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M")

VGGISH_WEIGHTS = WeightsFile(
    filename="vggish-10086976.pth",
    description="the torchvggish state dict (features.*, embeddings.*)",
    url="https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth",
)


class VGGish(nn.Module):
    """(P, 1, 96, 64) log-mel patches (time x mel) -> (P, 128) ReLU'd embeddings."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for item in CONV_CHANNELS:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, int(item), kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                channels = int(item)
        self.features = nn.Sequential(*layers)  # (P, 1, 96, 64) -> (P, 512, 6, 4)
        self.embeddings = nn.Sequential(
            nn.Linear(512 * 6 * 4, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, EMBEDDING_DIM),
            nn.ReLU(inplace=True),
        )

    def forward(self, patches: Tensor) -> Tensor:
        x = self.features(patches)  # (P, 512, 6, 4)
        # the TF weights flatten in NHWC order: (P, 512, 6, 4) -> (P, 6, 4, 512) -> (P, 12288)
        x = x.permute(0, 2, 3, 1).flatten(1)
        return self.embeddings(x)


@register_audio("vggish")
def build_vggish(
    *, weights: str | Path | None = None, download: bool = False, device: str | torch.device = "cpu"
) -> LogMelPatchEncoder:
    """VGGish: (T, 128) embeddings, one per 1-s segment, from log(mel + 0.01) patches.

    Weights: `weights` if given, else $TORCH_HOME/hub/checkpoints/vggish-10086976.pth, else a download when
    `download=True`; otherwise WeightsNotFoundError.
    """
    state = VGGISH_WEIGHTS.state_dict(weights, download=download, backbone="vggish")
    with torch.device("meta"):  # skip the random init of 72 M parameters: the file overwrites them all
        net = VGGish()
    net.load_state_dict(state, assign=True)
    return LogMelPatchEncoder("vggish", net, EMBEDDING_DIM, VGGISH_LOGMEL, device=device)
