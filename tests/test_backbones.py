"""Backbones: real pretrained predictions on real media, native YAMNet vs its ONNX graph, shapes, errors.

The default backbones' weights are installed packages (no network); VGG19 and VGGish, whose weights cannot
be obtained here, are checked with random weights written to a temporary file.
"""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import torchvision
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from PIL import Image

from avel.features.backbones import (
    AUDIO_BACKBONES,
    VISUAL_BACKBONES,
    WeightsNotFoundError,
    audio_backbone,
    visual_backbone,
)
from avel.features.backbones.logmel import YAMNET_LOGMEL, LogMel, hertz_to_mel, mel_matrix
from avel.features.backbones.mobilenet import IMAGENET_MEAN, IMAGENET_STD, MOBILENET_V2_WEIGHTS
from avel.features.backbones.registry import WeightsFile
from avel.features.backbones.vggish import VGGish
from avel.features.backbones.yamnet import YAMNET_WEIGHTS, load_onnx_model

MEDIA = Path("/work/shared/media")
TOP = 5


def read_photo(relative: str) -> np.ndarray:
    """A real photo as a (224, 224, 3) uint8 RGB frame (resized whole, as the clip decoder does)."""
    with Image.open(MEDIA / relative) as image:
        return np.asarray(image.convert("RGB").resize((224, 224), Image.Resampling.BILINEAR))


def read_wav(relative: str) -> np.ndarray:
    """A 16 kHz mono 16-bit wav as float32 in [-1, 1]."""
    with wave.open(str(MEDIA / relative)) as f:
        assert (f.getframerate(), f.getnchannels(), f.getsampwidth()) == (16_000, 1, 2)
        return np.frombuffer(f.readframes(f.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0


@pytest.fixture(scope="module")
def mobilenet():
    return visual_backbone("mobilenet_v2")


@pytest.fixture(scope="module")
def yamnet():
    return audio_backbone("yamnet")


@pytest.fixture(scope="module")
def photos() -> np.ndarray:
    return np.stack([read_photo(path) for path, _ in PHOTOS])


# ImageNet-1k sample photos (manifest source_dataset "ImageNet-1k-sample"), with their true class
PHOTOS = [
    ("images/bark/imagenet1ksample_n02088364_beagle.jpg", "beagle"),
    ("images/cat/imagenet1ksample_n02123045_tabby.jpg", "tabby"),
    ("images/fixed_wing_aircraft/imagenet1ksample_n02690373_airliner.jpg", "airliner"),
    ("images/clock/imagenet1ksample_n02708093_analog_clock.jpg", "analog clock"),
    ("images/banjo/imagenet1ksample_n02787622_banjo.jpg", "banjo"),
]

# real recordings (ESC-50, VoxCeleb1) and the AudioSet classes any of which must be in YAMNet's top 5
RECORDINGS = [
    ("audio/bark/esc50_4-182395-A-0.wav", {"Bark", "Dog"}),
    ("audio/church_bell/esc50_4-140034-A-46.wav", {"Church bell", "Bell"}),
    ("audio/cat/esc50_4-133047-A-5.wav", {"Cat", "Meow"}),
    ("audio/male_speech/voxceleb1_7d5412e4-3a9e-422c-ad61-5940be832741.wav", {"Speech"}),
]


# --- registry -------------------------------------------------------------------------------------------


def test_registry_names():
    assert sorted(VISUAL_BACKBONES) == ["mobilenet_v2", "vgg19"]
    assert sorted(AUDIO_BACKBONES) == ["vggish", "yamnet"]


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown visual backbone 'resnet50'; valid: mobilenet_v2, vgg19"):
        visual_backbone("resnet50")
    with pytest.raises(ValueError, match=r"unknown audio backbone 'panns'; valid: vggish, yamnet"):
        audio_backbone("panns")


def test_default_weights_are_found_in_the_installed_packages():
    assert MOBILENET_V2_WEIGHTS.find(None, backbone="mobilenet_v2") == MOBILENET_V2_WEIGHTS.package_file()
    assert YAMNET_WEIGHTS.find(None, backbone="yamnet") == YAMNET_WEIGHTS.package_file()
    assert MOBILENET_V2_WEIGHTS.package_file().name == "mobilenet_v2-b0353104.pth"


def test_weights_fall_back_to_the_hub_cache_and_download_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    spec = WeightsFile("net-0123abcd.pth", "a test state dict", url="https://example.invalid/net.pth")
    fetched: list[str] = []

    def fake_download(url: str, **kwargs) -> dict[str, torch.Tensor]:
        fetched.append(url)
        return {"w": torch.ones(1)}

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_download)
    with pytest.raises(WeightsNotFoundError, match=r"net-0123abcd\.pth.*download=True"):
        spec.state_dict(None, download=False, backbone="net")
    assert fetched == []  # never fetched unasked
    assert spec.state_dict(None, download=True, backbone="net")["w"].item() == 1.0
    assert fetched == ["https://example.invalid/net.pth"]

    spec.hub_path().parent.mkdir(parents=True)
    torch.save({"w": torch.full((1,), 2.0)}, spec.hub_path())
    assert spec.hub_path() == tmp_path / "hub" / "checkpoints" / "net-0123abcd.pth"
    assert spec.state_dict(None, download=True, backbone="net")["w"].item() == 2.0  # cache wins over download
    assert len(fetched) == 1


def test_missing_explicit_weights_name_the_file(tmp_path):
    missing = tmp_path / "nowhere.pth"
    with pytest.raises(WeightsNotFoundError, match=r"nowhere\.pth.*mobilenet_v2-b0353104\.pth"):
        visual_backbone("mobilenet_v2", weights=missing)
    with pytest.raises(WeightsNotFoundError, match=r"YamNet_w8a8\.onnx\.zip"):
        audio_backbone("yamnet", weights=missing)


# --- MobileNetV2 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(len(PHOTOS)), ids=[name for _, name in PHOTOS])
def test_mobilenet_ranks_the_true_imagenet_class_in_its_top5(mobilenet, photos, index):
    logits = mobilenet.classify(photos[index : index + 1])
    assert logits.shape == (1, 1000)
    top = [mobilenet.categories[i] for i in logits[0].topk(TOP).indices]
    assert PHOTOS[index][1] in top, f"{PHOTOS[index][0]}: top {TOP} = {top}"


def test_mobilenet_features_shape_and_fast_path_equals_eager(mobilenet, photos):
    assert (mobilenet.name, mobilenet.out_channels, mobilenet.grid) == ("mobilenet_v2", 1280, (7, 7))
    fast = mobilenet(photos)
    eager = visual_backbone("mobilenet_v2", optimize=False)
    assert mobilenet.optimized and not eager.optimized
    reference = eager(photos)
    assert fast.shape == (len(PHOTOS), 7, 7, 1280) and fast.dtype == torch.float32
    assert float(reference.max()) > 1.0  # a real, non-trivial map (ReLU6 output)
    torch.testing.assert_close(fast, reference, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(mobilenet.classify(photos), eager.classify(photos), atol=1e-3, rtol=1e-4)


def test_mobilenet_matches_torchvision_on_normalised_input(mobilenet, photos):
    """The wrapper's own normalisation + NHWC output equal torchvision's reference pipeline."""
    model = torchvision.models.mobilenet_v2()
    model.load_state_dict(torch.load(MOBILENET_V2_WEIGHTS.package_file(), weights_only=True))
    x = torch.from_numpy(photos[:2]).permute(0, 3, 1, 2).float() / 255.0
    x = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.inference_mode():
        expected = model.eval().features(x).permute(0, 2, 3, 1)
    torch.testing.assert_close(mobilenet(photos[:2]), expected, atol=1e-4, rtol=1e-4)


def test_visual_input_is_checked(mobilenet):
    with pytest.raises(ValueError, match=r"\(N, 224, 224, 3\), got \(2, 3, 224, 224\)"):
        mobilenet(np.zeros((2, 3, 224, 224), np.uint8))
    with pytest.raises(ValueError, match=r"uint8 RGB.*float32"):
        mobilenet(np.zeros((1, 224, 224, 3), np.float32))
    with pytest.raises(TypeError, match=r"numpy array or a torch Tensor, got list"):
        mobilenet([[0]])


# --- VGG19 (the paper's), random weights ------------------------------------------------------------------


def test_vgg19_loads_a_state_dict_and_gives_pool5(tmp_path, photos):
    torch.manual_seed(0)
    model = torchvision.models.vgg19().eval()
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save(model.state_dict(), path)
    backbone = visual_backbone("vgg19", weights=path)
    assert (backbone.name, backbone.out_channels, backbone.grid) == ("vgg19", 512, (7, 7))
    frames = photos[:1]
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0
    x = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.inference_mode():
        pool5, logits = model.features(x), model(x)
    features = backbone(frames)
    assert features.shape == (1, 7, 7, 512)
    torch.testing.assert_close(features, pool5.permute(0, 2, 3, 1), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(backbone.classify(frames), logits, atol=1e-4, rtol=1e-4)


def test_vgg19_missing_weights_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    expected = tmp_path / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    with pytest.raises(WeightsNotFoundError, match=f"vgg19-dcbb9e9d.pth.*copy it to {expected}"):
        visual_backbone("vgg19")


# --- VGGish (the paper's), random weights -----------------------------------------------------------------


def test_vggish_has_the_torchvggish_layout_and_embeds_each_second(tmp_path):
    torch.manual_seed(0)
    net = VGGish()
    state = net.state_dict()
    # the keys of torchvggish's vggish-10086976.pth, so the real file loads
    convs = [0, 3, 6, 8, 11, 13]
    expected = [f"features.{i}.{p}" for i in convs for p in ("weight", "bias")]
    expected += [f"embeddings.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")]
    assert list(state) == expected
    assert state["embeddings.0.weight"].shape == (4096, 512 * 4 * 6)
    path = tmp_path / "vggish-10086976.pth"
    torch.save(state, path)

    backbone = audio_backbone("vggish", weights=path)
    assert (backbone.name, backbone.out_dim, backbone.spec.log_offset) == ("vggish", 128, 0.01)
    waveform = np.random.default_rng(0).standard_normal(3 * 16_000).astype(np.float32) * 0.1
    embeddings = backbone(waveform, 3)
    assert embeddings.shape == (3, 128) and float(embeddings.min()) >= 0.0  # raw ReLU'd embedding
    with torch.inference_mode():
        expected_rows = net.eval()(backbone.segment_patches(waveform, 3))
    torch.testing.assert_close(embeddings, expected_rows)


def test_vggish_missing_weights_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsNotFoundError, match=r"vggish-10086976\.pth.*torchvggish.*download=True"):
        audio_backbone("vggish")


# --- log-mel front end ------------------------------------------------------------------------------------


def test_mel_matrix_is_htk_triangles_on_the_mel_axis():
    weights = mel_matrix(YAMNET_LOGMEL).numpy()  # (257, 64)
    assert weights.shape == (257, 64)
    hz = np.linspace(0, 8000, 257)
    assert np.all(weights[0] == 0)  # DC bin dropped
    assert np.all(weights[(hz <= 125) | (hz >= 7500)] == 0)  # nothing outside 125-7500 Hz
    edges = np.linspace(hertz_to_mel(125.0), hertz_to_mel(7500.0), 66)
    centers_hz = 700.0 * np.expm1(edges[1:-1] / 1127.0)
    peak_bins = weights.argmax(axis=0)
    bin_width = 8000 / 256
    assert np.all(np.abs(hz[peak_bins] - centers_hz) <= bin_width)  # each band peaks at its centre
    assert weights.max() <= 1.0 and weights[:, 40].max() > 0.9


def test_log_mel_frames_are_uncentred_hann_windows():
    rng = np.random.default_rng(1)
    waveform = rng.uniform(-0.5, 0.5, 16_000).astype(np.float32)
    log_mel = LogMel(YAMNET_LOGMEL)(torch.from_numpy(waveform)).numpy()
    assert log_mel.shape == (1 + (16_000 - 400) // 160, 64)  # 98 frames, no padding
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)  # periodic Hann
    mel = mel_matrix(YAMNET_LOGMEL).numpy().astype(np.float64)
    for i in (0, 37, 97):
        frame = waveform[160 * i : 160 * i + 400].astype(np.float64)
        expected = np.log(np.abs(np.fft.rfft(frame * hann, 512)) @ mel + 0.001)
        np.testing.assert_allclose(log_mel[i], expected, atol=1e-4)
    silence = LogMel(YAMNET_LOGMEL)(torch.zeros(16_000))
    torch.testing.assert_close(silence, torch.full_like(silence, math.log(0.001)))


# --- YAMNet -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path, classes", RECORDINGS, ids=[Path(p).parent.name for p, _ in RECORDINGS])
def test_yamnet_ranks_the_true_audioset_class_in_its_top5(yamnet, path, classes):
    scores = yamnet.classify(read_wav(path))
    assert scores.shape[1] == 521 and float(scores.min()) >= 0.0 and float(scores.max()) <= 1.0
    top = [yamnet.class_names[i] for i in scores.mean(dim=0).topk(TOP).indices]
    assert classes & set(top), f"{path}: top {TOP} = {top}"


def test_yamnet_embeds_the_patch_starting_at_each_second(yamnet):
    waveform = read_wav(RECORDINGS[-1][0])[: 4 * 16_000]  # 4 s of speech
    embeddings = yamnet(waveform, 4)
    assert (yamnet.name, yamnet.out_dim) == ("yamnet", 1024)
    assert embeddings.shape == (4, 1024) and embeddings.dtype == torch.float32
    for t in (1, 3):  # row t is the embedding of the audio from t s on (the last one zero-padded)
        torch.testing.assert_close(embeddings[t], yamnet(waveform[t * 16_000 :], 1)[0], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(embeddings[0], embeddings[1])


def test_yamnet_classify_patches_every_0_48_s(yamnet):
    assert yamnet.classify(np.zeros(8_000, np.float32)).shape == (1, 521)  # padded to one patch
    ten_seconds = np.zeros(160_000, np.float32)
    assert yamnet.classify(ten_seconds).shape == (1 + math.ceil((160_000 - 15_600) / 7_680), 521)


def test_audio_input_is_checked(yamnet):
    with pytest.raises(ValueError, match=r"mono with shape \(L,\), got \(2, 16000\)"):
        yamnet(np.zeros((2, 16_000), np.float32), 1)
    with pytest.raises(ValueError, match=r"float samples.*int16"):
        yamnet(np.zeros(16_000, np.int16), 1)
    with pytest.raises(ValueError, match=r"3 segments need more than 2 s.*got 32000"):
        yamnet(np.zeros(32_000, np.float32), 3)
    with pytest.raises(ValueError, match=r"num_segments must be >= 1, got 0"):
        yamnet(np.zeros(16_000, np.float32), 0)


def _without_activation_quantization(model: onnx.ModelProto) -> onnx.ModelProto:
    """The export with every activation Quantize/Dequantize pair bypassed: a float graph with float input.

    Weight QDQ chains stay (they are how the graph defines its weights); the uint8 input becomes the float
    patch and the uint8 output the float logits, plus the 1024-d embedding as a second output.
    """
    float_model = onnx.ModelProto()
    float_model.CopyFrom(model)
    graph = float_model.graph
    constants = {t.name for t in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    bypass: dict[str, str] = {}
    dropped: set[str] = {"class_scores"}  # the output QuantizeLinear
    for node in graph.node:
        source = producers.get(node.input[0])
        if node.op_type == "DequantizeLinear" and node.input[0] == "audio":
            dropped.add(node.output[0])
        elif (
            node.op_type == "DequantizeLinear"
            and source is not None
            and source.op_type == "QuantizeLinear"
            and source.input[0] not in constants
        ):
            bypass[node.output[0]] = source.input[0]
            dropped.update((node.output[0], source.output[0]))
    kept = [n for n in graph.node if n.output[0] not in dropped]
    for node in kept:
        node.input[:] = [bypass.get(name, name) for name in node.input]
    del graph.node[:]
    graph.node.extend(kept)
    del graph.input[:]
    graph.input.append(helper.make_tensor_value_info("audio_updated", onnx.TensorProto.FLOAT, [1, 1, 96, 64]))
    del graph.output[:]
    graph.output.extend(
        [
            helper.make_tensor_value_info("class_scores_updated", onnx.TensorProto.FLOAT, [1, 521]),
            helper.make_tensor_value_info("/model/Reshape_output_0", onnx.TensorProto.FLOAT, [1, 1024]),
        ]
    )
    onnx.checker.check_model(float_model)
    return float_model


@pytest.fixture(scope="module")
def yamnet_onnx() -> onnx.ModelProto:
    return load_onnx_model(YAMNET_WEIGHTS.package_file())


@pytest.fixture(scope="module")
def bark_patch(yamnet) -> torch.Tensor:
    return yamnet.segment_patches(read_wav("audio/bark/esc50_4-182395-A-0.wav"), 1)  # (1, 1, 96, 64)


def test_native_yamnet_equals_the_onnx_graph_in_float(yamnet, yamnet_onnx, bark_patch):
    """Same patch, activations unquantised on both sides: measured ~2e-6 (embedding), ~1e-5 (logits)."""
    graph = _without_activation_quantization(yamnet_onnx)
    assert sum(n.op_type == "Conv" for n in graph.graph.node) == 27
    logits_onnx, embedding_onnx = ReferenceEvaluator(graph).run(None, {"audio_updated": bark_patch.numpy()})
    with torch.inference_mode():
        embedding = yamnet.net(bark_patch)
        logits = yamnet.net.classifier(embedding)
    assert float(embedding.abs().max()) > 0.5 and float(logits.abs().max()) > 10  # non-trivial values
    np.testing.assert_allclose(embedding.numpy(), embedding_onnx, atol=1e-4, rtol=0)
    np.testing.assert_allclose(logits.numpy(), logits_onnx, atol=1e-4, rtol=0)


def test_native_yamnet_is_close_to_the_8bit_onnx_graph(yamnet, yamnet_onnx, bark_patch):
    """The unmodified QDQ graph (uint8 input and activations): same top 5, cosine > 0.99 (measured 0.9989)."""
    constants = {t.name: numpy_helper.to_array(t) for t in yamnet_onnx.graph.initializer}
    scale, zero = float(constants["audio_scale"]), int(constants["audio_zero_point"])
    quantized = np.clip(np.rint(bark_patch.numpy() / scale) + zero, 0, 255).astype(np.uint8)
    evaluator = ReferenceEvaluator(yamnet_onnx)
    logits_onnx, embedding_onnx = evaluator.run(
        ["class_scores_updated", "/model/Reshape_output_0"], {"audio": quantized}
    )
    with torch.inference_mode():  # the same dequantised input, float network
        embedding = yamnet.net(torch.from_numpy((quantized.astype(np.float32) - zero) * scale))
        logits = yamnet.net.classifier(embedding)

    def cosine(a: np.ndarray, b: np.ndarray) -> float:
        return float(a.ravel() @ b.ravel() / np.linalg.norm(a) / np.linalg.norm(b))

    assert cosine(embedding.numpy(), embedding_onnx) > 0.99
    assert cosine(logits.numpy(), logits_onnx) > 0.999
    assert set(np.argsort(-logits_onnx[0])[:TOP]) == set(logits[0].topk(TOP).indices.tolist())
