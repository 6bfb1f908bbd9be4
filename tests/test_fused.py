"""The blockwise Functions of avel/models/fused.py: the values and gradients (torch.autograd.gradcheck,
float64) of the unfused layers they replace, with blocks that split the rows unevenly."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.autograd import gradcheck

from avel.models.fused import (
    _ChannelAttention,
    _LinearReluLinear,
    channel_attention,
    linear_relu_linear,
    relu_pair,
)

BLOCK = 5  # rows per block: 3 x 7 = 21 rows give blocks of 5, 5, 5, 5, 1


def _double(*shape: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator, dtype=torch.float64, requires_grad=True)


def test_linear_relu_linear_gradients() -> None:
    x, w1, b1, w2 = _double(21, 6, seed=0), _double(8, 6, seed=1), _double(8, seed=2), _double(4, 8, seed=3)
    assert gradcheck(lambda *args: _LinearReluLinear.apply(*args, BLOCK), (x, w1, b1, w2))


def test_linear_relu_linear_is_the_layers_on_scaled_input() -> None:
    torch.manual_seed(0)
    layers = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 4, bias=False)).double()
    x, scale = _double(3, 7, 6, seed=4), torch.tensor(2.5, dtype=torch.float64)
    expected = layers(x / scale)
    actual = linear_relu_linear(*relu_pair(layers), x, scale, block=BLOCK)
    torch.testing.assert_close(actual, expected)
    weights = torch.randn_like(expected)
    grads = torch.autograd.grad((actual * weights).sum(), [x, *layers.parameters()])
    wanted = torch.autograd.grad((expected * weights).sum(), [x, *layers.parameters()])
    for got, want in zip(grads, wanted, strict=True):
        torch.testing.assert_close(got, want)


def test_linear_relu_linear_refuses_other_layers() -> None:
    with pytest.raises(ValueError, match="Linear, ReLU, Linear"):
        relu_pair(nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 4)))
    with pytest.raises(ValueError, match="bias"):
        linear_relu_linear(nn.Linear(6, 8), nn.Linear(8, 4), torch.zeros(2, 6))


def test_channel_attention_gradients() -> None:
    grid, a = _double(7, 3, 6, seed=0), _double(7, 6, seed=1)
    weight, bias = _double(6, 6, seed=2), _double(6, seed=3)
    # both outputs used: the gradient reaching att directly and through the pooled vector
    assert gradcheck(lambda *args: _ChannelAttention.apply(*args, BLOCK), (grid, a, weight, bias))

    def pooled_only(*args: torch.Tensor) -> torch.Tensor:
        return _ChannelAttention.apply(*args, BLOCK)[1]  # as in training: att is not in the loss

    assert gradcheck(pooled_only, (grid, a, weight, bias))


def test_channel_attention_is_eq_three_unfused() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(6, 6).double()
    grid, a = _double(2, 4, 3, 6, seed=5), _double(2, 4, 6, seed=6)
    att, pooled = channel_attention(layer, grid, a, block=BLOCK)
    expected_att = torch.softmax(layer(grid * a.unsqueeze(-2)), dim=-1)
    expected_pooled = ((expected_att + 1) * grid).mean(dim=-2)
    torch.testing.assert_close(att, expected_att)
    torch.testing.assert_close(pooled, expected_pooled)
    weights = torch.randn_like(expected_pooled)
    grads = torch.autograd.grad((pooled * weights).sum(), [grid, a, *layer.parameters()])
    wanted = torch.autograd.grad((expected_pooled * weights).sum(), [grid, a, *layer.parameters()])
    for got, want in zip(grads, wanted, strict=True):
        torch.testing.assert_close(got, want)
