"""Pretrained backbones that turn frames and waveforms into per-second features, looked up by name.

    from avel.features.backbones import visual_backbone, audio_backbone
    frames_net = visual_backbone("mobilenet_v2")      # (N, 224, 224, 3) uint8 -> (N, 7, 7, 1280)
    audio_net = audio_backbone("yamnet")              # (L,) 16 kHz float, T -> (T, 1024)

Importing the package registers every backbone module below (each adds itself to the registry).
"""

from avel.features.backbones import mobilenet, vgg, vggish, yamnet
from avel.features.backbones.registry import (
    AUDIO_BACKBONES,
    VISUAL_BACKBONES,
    AudioBackbone,
    VisualBackbone,
    WeightsNotFoundError,
    audio_backbone,
    visual_backbone,
)

__all__ = [
    "AUDIO_BACKBONES",
    "VISUAL_BACKBONES",
    "AudioBackbone",
    "VisualBackbone",
    "WeightsNotFoundError",
    "audio_backbone",
    "mobilenet",
    "vgg",
    "vggish",
    "visual_backbone",
    "yamnet",
]
