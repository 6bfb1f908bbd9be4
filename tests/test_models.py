"""CoAttentionNet (eq. 1-4, Table I, ablations) and the Tian et al. baselines: shapes, gradients,
attention normalisation, the equations recomputed independently, and what each ablation removes."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from avel.common.config import ABLATIONS, ModelConfig
from avel.models import AVDLN, AudioVisualAttentionNet, CoAttentionNet, build_model, compute_loss
from avel.models.baseline import AudioGuidedAttention

B, T, C_A, C_V, H, W, C = 2, 4, 8, 16, 3, 3, 5
P = H * W


def tiny_cfg(**overrides) -> ModelConfig:
    values = dict(
        audio_dim=C_A,
        visual_dim=C_V,
        grid_h=H,
        grid_w=W,
        num_classes=C,
        lstm_hidden=8,
        classifier_dims=(6,),
        cml_dims=(8, 4),
    )
    return ModelConfig(**{**values, **overrides})


def tiny_inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    # Non-negative like real VGGish / pool5 features (ReLU'd).
    return torch.rand(B, T, C_A, generator=gen), torch.rand(B, T, H, W, C_V, generator=gen)


def tiny_batch(seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    classes = torch.randint(0, C, (B, T), generator=gen)
    return {
        "labels": nn.functional.one_hot(classes, C).float(),
        "event": torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 1.0, 0.0]]),
        "video_label": nn.functional.one_hot(classes[:, 0], C).float(),
    }


def linear_sizes(module: nn.Module) -> list[int]:
    return [layer.out_features for layer in module.modules() if isinstance(layer, nn.Linear)]


# ------------------------------------------------------------------------------ Table I


def test_table_one_layer_sizes_at_paper_dims() -> None:
    model = CoAttentionNet(ModelConfig())  # C_a = 128, C_v = 512, 7 x 7, C = 29
    cspa, csea = model.cspa, model.csea
    assert linear_sizes(cspa.f1) == [512, 49]  # FC1
    assert linear_sizes(cspa.f2) == [512, 49]  # FC2
    assert linear_sizes(cspa.f3) == [1]  # FC3
    assert linear_sizes(cspa.f4) == [256, 49]  # FC4
    assert linear_sizes(cspa.f5) == [128]  # FC5
    assert linear_sizes(csea.f_v2a) == [128]  # FC_v2a
    assert linear_sizes(csea.f_a2v) == [512]  # FC_a2v
    assert linear_sizes(csea.f6) == [128]  # FC6
    assert linear_sizes(csea.f7) == [512]  # FC7
    # Sec. IV-A: BiLSTMs hidden 128 (output 256); Sec. III-E: MLP (64, 29)
    for stream in (model.cspa_stream, model.csea_stream):
        for lstm in (stream.encoder.lstm_audio, stream.encoder.lstm_visual):
            assert lstm.hidden_size == 128 and lstm.bidirectional
        assert linear_sizes(stream.head) == [64, 29]
        assert stream.head.layers[0].in_features == 4 * 128  # [L^a, L^v] concatenated
    cml = CoAttentionNet(ModelConfig(task="cml"))
    assert linear_sizes(cml.cspa_stream.head.audio) == [128, 64]  # Sec. III-D: MLP (128, 64)
    assert linear_sizes(cml.cspa_stream.head.visual) == [128, 64]


def test_table_one_sizes_follow_other_backbones() -> None:
    model = CoAttentionNet(ModelConfig(audio_dim=1024, visual_dim=1280))  # YAMNet + MobileNetV2
    assert linear_sizes(model.cspa.f1) == [1280, 49]
    assert model.cspa.f1[0].in_features == 1024
    assert linear_sizes(model.cspa.f4) == [2048, 49]
    assert linear_sizes(model.cspa.f5) == [1024]
    assert linear_sizes(model.csea.f7) == [1280]


def test_paper_dims_forward_shapes() -> None:
    torch.manual_seed(0)
    model = CoAttentionNet(ModelConfig())
    out = model(torch.rand(2, 10, 128), torch.rand(2, 10, 7, 7, 512))
    assert [tuple(e.shape) for e in out.stream_logits] == [(2, 10, 29), (2, 10, 29)]
    assert out.spatial_attention.shape == (2, 10, 7, 7)
    assert out.audio_attention.shape == (2, 10, 49)
    assert out.channel_attention_audio.shape == (2, 10, 128)
    assert out.channel_attention_visual.shape == (2, 10, 7, 7, 512)
    dims = {"raw_audio": 128, "raw_visual": 512, "cspa_audio": 128, "cspa_visual": 512}
    dims |= {"csea_audio": 128, "csea_visual": 512}
    assert {k: tuple(v.shape) for k, v in out.features.items()} == {k: (2, 10, d) for k, d in dims.items()}
    assert out.scores().shape == (2, 10, 29)


# ------------------------------------------------------------------- every configuration

CONFIGS = [("coatt", task, ablation) for task in ("sel", "wsel", "cml") for ablation in ABLATIONS]
CONFIGS += [("baseline", task, "full") for task in ("sel", "wsel", "cml")]


@pytest.mark.parametrize(("model_name", "task", "ablation"), CONFIGS)
def test_forward_backward_every_configuration(model_name: str, task: str, ablation: str) -> None:
    torch.manual_seed(0)
    cfg = tiny_cfg(model=model_name, task=task, ablation=ablation)
    model = build_model(cfg)
    out = model(*tiny_inputs())
    n_streams = 1 if model_name == "baseline" or ablation in ("cspa", "csea") else 2
    if task == "cml":
        assert out.stream_logits == []
        assert len(out.stream_embeddings) == n_streams
        for m_a, m_v in out.stream_embeddings:
            assert m_a.shape == m_v.shape == (B, T, 4)
        assert out.distances().shape == (B, T, T)
    else:
        assert out.stream_embeddings == []
        assert [tuple(e.shape) for e in out.stream_logits] == [(B, T, C)] * n_streams
    assert len(out.stream_weights) == n_streams
    assert math.isclose(sum(out.stream_weights), 1.0)

    loss = compute_loss(out, tiny_batch(), cfg)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(param.grad).all(), f"{name} has a non-finite gradient"
        # WSEL max-pools over time, so a layer can miss a step, but never get nothing at all
        assert param.grad.abs().sum() > 0, f"{name} has an all-zero gradient: the layer is unused"


def test_stream_weights_follow_the_task() -> None:
    assert CoAttentionNet(tiny_cfg(task="sel"))(*tiny_inputs()).stream_weights == [0.3, 0.7]
    assert CoAttentionNet(tiny_cfg(task="wsel"))(*tiny_inputs()).stream_weights == [0.7, pytest.approx(0.3)]
    assert CoAttentionNet(tiny_cfg(task="cml"))(*tiny_inputs()).stream_weights == [0.6, 0.4]
    assert CoAttentionNet(tiny_cfg(lambda_s=0.9))(*tiny_inputs()).stream_weights == [0.9, pytest.approx(0.1)]
    assert CoAttentionNet(tiny_cfg(ablation="cspa"))(*tiny_inputs()).stream_weights == [1.0]
    assert build_model(tiny_cfg(model="baseline"))(*tiny_inputs()).stream_weights == [1.0]


# -------------------------------------------------------------------- attention and eq. 1-3


def test_attention_maps_are_normalised() -> None:
    torch.manual_seed(0)
    out = CoAttentionNet(tiny_cfg())(*tiny_inputs())
    ones = torch.ones(B, T)
    assert out.spatial_attention.shape == (B, T, H, W)
    torch.testing.assert_close(out.spatial_attention.sum(dim=(2, 3)), ones)  # Z_att^v over H x W
    torch.testing.assert_close(out.audio_attention.sum(dim=-1), ones)  # Z_att^a over C_a2 = H x W
    torch.testing.assert_close(out.channel_attention_audio.sum(dim=-1), ones)  # F_att^a over C_a
    # F_att^v: a softmax over C_v at every grid position
    torch.testing.assert_close(out.channel_attention_visual.sum(dim=-1), torch.ones(B, T, H, W))
    for att in (out.spatial_attention, out.audio_attention, out.channel_attention_audio):
        assert (att >= 0).all()
    base = build_model(tiny_cfg(model="baseline"))(*tiny_inputs())
    torch.testing.assert_close(base.spatial_attention.sum(dim=(2, 3)), ones)


def test_cspa_matches_equations_one_and_two() -> None:
    """Recompute eq. 1-2 one segment at a time with explicit sums over positions and channels."""
    torch.manual_seed(0)
    cspa = CoAttentionNet(tiny_cfg()).cspa
    audio, visual = tiny_inputs()
    grid = visual.reshape(B, T, P, C_V)
    out = cspa(audio, grid)
    w3 = cspa.f3.weight[0]  # (P',)
    for b in range(B):
        for t in range(T):
            a, v = audio[b, t], grid[b, t]  # (C_a,), (P, C_v)
            f1_a = cspa.f1(a)
            f_av = torch.stack([f1_a * cspa.f2(v[p]) for p in range(P)])  # F_av, (P, P')
            # Z, (P,), divided by sqrt(P') (CoSpatialAttention: scaled scores, docs/fidelity.md)
            z = torch.stack([(w3 * f_av[p]).sum() for p in range(P)]) / P**0.5
            z_att = z.exp() / z.exp().sum()
            torch.testing.assert_close(out.spatial_attention[b, t], z_att)
            torch.testing.assert_close(out.visual[b, t], sum(z_att[p] * v[p] for p in range(P)))
            pooled = sum(z[p] * f_av[p] for p in range(P))  # F_av ⊗ Z, contracting positions
            z_att_a = torch.softmax(cspa.f4(pooled), dim=0)
            torch.testing.assert_close(out.audio_attention[b, t], z_att_a)
            torch.testing.assert_close(out.audio[b, t], cspa.f5(z_att_a * f1_a) + a)


def test_cspa_without_score_scaling_is_equation_one_as_printed() -> None:
    torch.manual_seed(0)
    scaled = CoAttentionNet(tiny_cfg()).cspa
    torch.manual_seed(0)
    printed = CoAttentionNet(replace(tiny_cfg(), cspa_score_scaling=False)).cspa
    audio, visual = tiny_inputs()
    grid = visual.reshape(B, T, P, C_V)
    with torch.no_grad():
        printed.f3.weight.mul_(P**-0.5)  # Z / sqrt(P') with f3 is Z with f3 / sqrt(P')
    torch.testing.assert_close(printed(audio, grid).spatial_attention, scaled(audio, grid).spatial_attention)


def test_csea_matches_equation_three() -> None:
    torch.manual_seed(0)
    csea = CoAttentionNet(tiny_cfg()).csea
    audio, visual = tiny_inputs()
    grid = visual.reshape(B, T, P, C_V)
    out = csea(audio, grid)
    # step iii: F_sem = (F_att + 1) ⊙ F, for both modalities
    torch.testing.assert_close(out.audio, (out.audio_attention + 1) * audio)
    torch.testing.assert_close(out.visual_map, (out.visual_attention + 1) * grid)
    torch.testing.assert_close(out.visual, out.visual_map.mean(dim=2))  # G(F_sem^v): LSTM input
    # steps i-ii, recomputed one position at a time
    v2a = csea.f_v2a(grid.mean(dim=2))
    torch.testing.assert_close(out.audio_attention, torch.softmax(csea.f6(audio * v2a), dim=-1))
    a2v = csea.f_a2v(audio)
    for p in range(P):
        expected = torch.softmax(csea.f7(grid[:, :, p] * a2v), dim=-1)
        torch.testing.assert_close(out.visual_attention[:, :, p], expected)
    # attention differs between positions: it is per position, not one vector for the grid
    assert not torch.allclose(out.visual_attention[:, :, 0], out.visual_attention[:, :, 1])


def test_spatial_attention_is_audio_guided() -> None:
    torch.manual_seed(0)
    audio, visual = tiny_inputs()
    other_audio, _ = tiny_inputs(seed=1)
    for model in (CoAttentionNet(tiny_cfg()), build_model(tiny_cfg(model="baseline"))):
        first = model(audio, visual).spatial_attention
        second = model(other_audio, visual).spatial_attention
        assert (first - second).abs().max() > 1e-4, type(model).__name__


def test_baseline_attention_weights_the_grid() -> None:
    torch.manual_seed(0)
    attention = AudioGuidedAttention(C_A, C_V, P)
    audio, visual = tiny_inputs()
    grid = visual.reshape(B, T, P, C_V)
    attended, weights = attention(audio, grid)
    torch.testing.assert_close(attended, torch.einsum("btp,btpc->btc", weights, grid))
    u_a = torch.relu(attention.affine_audio(audio))
    u_v = torch.relu(attention.affine_visual(grid))
    # released att_Net: content_v = affine_v(v_t) + affine_g(a_t).unsqueeze(2) on (B*T, P, P'):
    # audio element k is added to every entry of position k's row
    g = attention.affine_g(u_a).reshape(B * T, P)
    content = attention.affine_v(u_v).reshape(B * T, P, P) + g.unsqueeze(2)
    x = (torch.tanh(content) @ attention.affine_h.weight[0]).reshape(B, T, P)
    torch.testing.assert_close(weights, torch.softmax(x, dim=-1))
    # the paper's W_g U_a(a_t) 1^T: the same audio vector added to every position's row
    equation = AudioGuidedAttention(C_A, C_V, P, audio_term="equation")
    equation.load_state_dict(attention.state_dict())
    content = attention.affine_v(u_v) + attention.affine_g(u_a)[:, :, None]  # (B, T, P, P)
    x = torch.tanh(content) @ attention.affine_h.weight[0]  # (B, T, P)
    torch.testing.assert_close(equation(audio, grid)[1], torch.softmax(x, dim=-1))
    assert not torch.allclose(equation(audio, grid)[1], weights)


# ------------------------------------------------------------------------------ ablations


def ablation_output(ablation: str):
    torch.manual_seed(0)
    model = CoAttentionNet(tiny_cfg(ablation=ablation))
    return model, model(*tiny_inputs())


def test_ablation_cspa_only() -> None:
    model, out = ablation_output("cspa")
    assert model.csea is None and model.csea_stream is None
    assert not any(name.startswith("csea") for name, _ in model.named_parameters())
    assert out.channel_attention_audio is None and out.channel_attention_visual is None
    assert set(out.features) == {"raw_audio", "raw_visual", "cspa_audio", "cspa_visual"}
    assert out.spatial_attention is not None and out.audio_attention is not None


def test_ablation_csea_only() -> None:
    model, out = ablation_output("csea")
    assert model.cspa is None and model.cspa_stream is None
    assert not any(name.startswith("cspa") for name, _ in model.named_parameters())
    assert out.spatial_attention is None and out.audio_attention is None
    assert set(out.features) == {"raw_audio", "raw_visual", "csea_audio", "csea_visual"}
    assert out.channel_attention_audio is not None and out.channel_attention_visual is not None


def test_ablation_cspa_without_audio_attention() -> None:
    model, out = ablation_output("cspa_no_aa")
    assert model.cspa.f4 is None and model.cspa.f5 is None
    assert out.audio_attention is None
    torch.testing.assert_close(out.features["cspa_audio"], out.features["raw_audio"], rtol=0, atol=0)
    assert out.spatial_attention is not None  # the visual side of CSPA stays
    full_model, full = ablation_output("full")
    assert not torch.allclose(full.features["cspa_audio"], full.features["raw_audio"])
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params < sum(p.numel() for p in full_model.parameters())


def test_ablation_csea_without_v2a() -> None:
    model, out = ablation_output("csea_no_v2a")
    assert model.csea.f_v2a is None and model.csea.f6 is None
    assert out.channel_attention_audio is None
    torch.testing.assert_close(out.features["csea_audio"], out.features["raw_audio"], rtol=0, atol=0)
    assert out.channel_attention_visual is not None
    assert not torch.allclose(out.features["csea_visual"], out.features["raw_visual"])


def test_ablation_csea_without_a2v() -> None:
    model, out = ablation_output("csea_no_a2v")
    assert model.csea.f_a2v is None and model.csea.f7 is None
    assert out.channel_attention_visual is None
    torch.testing.assert_close(out.features["csea_visual"], out.features["raw_visual"])
    assert out.channel_attention_audio is not None
    assert not torch.allclose(out.features["csea_audio"], out.features["raw_audio"])


# ------------------------------------------------------------------------- building, inputs


def test_build_model_dispatch() -> None:
    assert isinstance(build_model(tiny_cfg()), CoAttentionNet)
    assert isinstance(build_model(tiny_cfg(model="baseline", task="sel")), AudioVisualAttentionNet)
    assert isinstance(build_model(tiny_cfg(model="baseline", task="wsel")), AudioVisualAttentionNet)
    assert isinstance(build_model(tiny_cfg(model="baseline", task="cml")), AVDLN)
    with pytest.raises(ValueError, match=r"cfg\.task"):
        AudioVisualAttentionNet(tiny_cfg(model="baseline", task="cml"))
    with pytest.raises(ValueError, match="coatt"):
        CoAttentionNet(tiny_cfg(model="baseline"))


def test_cml_model_shares_every_non_head_layer_with_mmel() -> None:
    """CML starts from the MMEL model (Sec. IV-A): all but the heads must load by name."""

    def body(cfg: ModelConfig) -> dict[str, torch.Size]:
        state = build_model(cfg).state_dict()
        return {k: v.shape for k, v in state.items() if ".head." not in k}

    assert body(tiny_cfg(task="sel")) == body(tiny_cfg(task="cml"))


@pytest.mark.parametrize(
    ("audio_shape", "visual_shape", "message"),
    [
        ((B, T, C_A + 1), (B, T, H, W, C_V), "audio"),
        ((B, T, C_A), (B, T, C_V, H, W), "visual"),  # channels-first maps
        ((B, T, C_A), (B, T, P, C_V), "visual"),  # grid not unflattened
        ((B, T + 1, C_A), (B, T, H, W, C_V), r"\(B, T\)"),
    ],
)
def test_wrong_input_shapes_are_refused(audio_shape: tuple, visual_shape: tuple, message: str) -> None:
    for cfg in (tiny_cfg(), tiny_cfg(model="baseline"), tiny_cfg(model="baseline", task="cml")):
        with pytest.raises(ValueError, match=message):
            build_model(cfg)(torch.zeros(audio_shape), torch.zeros(visual_shape))


@pytest.mark.parametrize(("weight", "alone"), [(1.0, "cspa"), (0.0, "csea")])
@pytest.mark.parametrize("task", ["sel", "wsel", "cml"])
def test_lambda_end_points_are_the_single_module_models(weight: float, alone: str, task: str) -> None:
    """At lambda = 1 (0) the CSEA (CSPA) stream gets no loss; it must not be averaged in untrained."""
    torch.manual_seed(0)
    end_point = build_model(tiny_cfg(task=task).with_cspa_weight(weight))
    torch.manual_seed(0)
    single = build_model(tiny_cfg(task=task, ablation=alone))
    assert end_point.state_dict().keys() == single.state_dict().keys()
    for name, value in single.state_dict().items():
        torch.testing.assert_close(end_point.state_dict()[name], value)
    output = end_point(*tiny_inputs())
    assert output.stream_weights == [1.0]
    inner = build_model(tiny_cfg(task=task).with_cspa_weight(0.5))(*tiny_inputs())
    assert inner.stream_weights == [0.5, 0.5]
