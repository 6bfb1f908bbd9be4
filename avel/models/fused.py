"""Blockwise forms of the two steps that run over the whole visual map, for training speed.

The (B*T*P, C_v) map (31,360 x 512 at AVE's sizes, batch 64) is far larger than the CPU's caches,
so every elementwise step on it (ReLU, its mask, softmax, a product, a sum) costs a trip through
main memory. These autograd Functions take the map a block of rows at a time and run every step
of a block while it is in cache, forward and backward, keeping only what backward needs. Their
math is the one the modules write with nn.Linear / ReLU / softmax (docs/fidelity.md, "Speed"):
each row's result depends on that row alone, and the weight gradients are sums over rows, here
accumulated block by block. `tests/test_fused.py` checks both against autograd (gradcheck).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

# Rows of the map per block: 4096 x 512 float32 is 8 MB a tensor, so a block's few tensors fit a
# 32 MB L3 cache, and a step (31,360 rows at batch 64) has 8 blocks. Timing benchmarks/train_speed.py's
# training step at each size on 2 shared cores: 1024 rows was as fast on one thread but slower on
# two (more parallel regions, each waiting for both threads); one block loses the cache.
ROWS_PER_BLOCK = 4096


def _blocks(rows: int, block: int) -> list[slice]:
    return [slice(start, min(start + block, rows)) for start in range(0, rows, block)]


class _LinearReluLinear(torch.autograd.Function):
    """relu(x w1^T + b1) w2^T on (N, C_in) rows; saves x and the hidden layer for backward."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, block: int) -> Tensor:
        hidden = x.new_empty(x.shape[0], w1.shape[0])
        out = x.new_empty(x.shape[0], w2.shape[0])
        for rows in _blocks(x.shape[0], block):
            h = torch.addmm(b1, x[rows], w1.t(), out=hidden[rows])
            h.relu_()
            torch.mm(h, w2.t(), out=out[rows])
        ctx.save_for_backward(x, w1, w2, hidden)
        ctx.block = block
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        x, w1, w2, hidden = ctx.saved_tensors
        grad_x = torch.empty_like(x) if ctx.needs_input_grad[0] else None
        grad_w1, grad_b1, grad_w2 = torch.zeros_like(w1), w1.new_zeros(w1.shape[0]), torch.zeros_like(w2)
        for rows in _blocks(x.shape[0], ctx.block):
            g, h = grad_out[rows], hidden[rows]
            grad_w2.addmm_(g.t(), h)
            grad_h = (g @ w2).mul_(h > 0)  # ReLU's gradient: 0 where the unit was off (h = 0)
            grad_w1.addmm_(grad_h.t(), x[rows])
            grad_b1 += grad_h.sum(dim=0)
            if grad_x is not None:
                torch.mm(grad_h, w1, out=grad_x[rows])
        return grad_x, grad_w1, grad_b1, grad_w2, None


def relu_pair(layers: nn.Sequential) -> tuple[nn.Linear, nn.Linear]:
    """The two Linear layers of a (Linear with bias, ReLU, Linear without bias) Sequential."""
    if len(layers) != 3:
        raise ValueError(f"relu_pair: expected (Linear, ReLU, Linear), got {layers}")
    first, relu, last = layers
    if not (isinstance(first, nn.Linear) and isinstance(relu, nn.ReLU) and isinstance(last, nn.Linear)):
        raise ValueError(f"relu_pair: expected (Linear, ReLU, Linear), got {layers}")
    return first, last


def linear_relu_linear(
    first: nn.Linear,
    last: nn.Linear,
    x: Tensor,
    input_scale: Tensor | None = None,
    block: int = ROWS_PER_BLOCK,
) -> Tensor:
    """last(relu(first(x / input_scale))) for x (..., C_in); `first` has a bias, `last` none.

    Dividing the first weight by the scale is dividing x by it (x w^T / s = x (w / s)^T), so the
    big x is never rescaled. The layers' own parameters are used, so the state_dict is unchanged.
    """
    if first.bias is None or last.bias is not None:
        raise ValueError("linear_relu_linear: expects a bias on the first layer and none on the last")
    w1 = first.weight if input_scale is None else first.weight / input_scale
    rows = x.reshape(-1, x.shape[-1])
    out = _LinearReluLinear.apply(rows, w1, first.bias, last.weight, block)
    return out.reshape(*x.shape[:-1], last.out_features)


class _ChannelAttention(torch.autograd.Function):
    """CSEA's visual attention on a grid (N, P, C) and a per-segment vector a (N, C):
    att = softmax((grid ⊙ a) w^T + b) over C at each position, pooled = mean_P((att + 1) ⊙ grid).
    Saves grid, a and att (att is an output anyway); grid ⊙ a is recomputed per block."""

    @staticmethod
    def forward(
        ctx: Any, grid: Tensor, a: Tensor, weight: Tensor, bias: Tensor, block: int
    ) -> tuple[Tensor, Tensor]:
        ctx.set_materialize_grads(False)  # an unused att gets None, not a map of zeros
        n, p, c = grid.shape
        att = torch.empty_like(grid)
        pooled = grid.new_empty(n, c)
        for rows in _blocks(n, max(1, block // p)):
            g = grid[rows]
            scores = torch.addmm(bias, (g * a[rows].unsqueeze(1)).reshape(-1, c), weight.t())
            block_att = att[rows]
            torch.softmax(scores, dim=-1, out=block_att.view(-1, c))
            pooled[rows] = ((block_att + 1) * g).mean(dim=1)
        ctx.save_for_backward(grid, a, weight, att)
        ctx.block = block
        return att, pooled

    @staticmethod
    def backward(ctx: Any, grad_att: Tensor | None, grad_pooled: Tensor | None) -> tuple[Tensor | None, ...]:
        grid, a, weight, att = ctx.saved_tensors
        n, p, c = grid.shape
        need_grid, need_a = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_grid = torch.empty_like(grid) if need_grid else None
        grad_a = torch.empty_like(a) if need_a else None
        grad_w, grad_b = torch.zeros_like(weight), weight.new_zeros(weight.shape[0])
        for rows in _blocks(n, max(1, ctx.block // p)):
            g, s, a_rows = grid[rows], att[rows], a[rows].unsqueeze(1)
            # d loss / d att: from pooled (mean over P of att ⊙ grid), plus any on att itself
            grad_s = torch.zeros_like(s) if grad_pooled is None else grad_pooled[rows].unsqueeze(1) * g / p
            if grad_att is not None:
                grad_s += grad_att[rows]
            # softmax's backward: s ⊙ (grad_s - sum_C grad_s ⊙ s)
            grad_scores = (grad_s - (grad_s * s).sum(dim=-1, keepdim=True)).mul_(s).reshape(-1, c)
            grad_w.addmm_(grad_scores.t(), (g * a_rows).reshape(-1, c))
            grad_b += grad_scores.sum(dim=0)
            if need_a or need_grid:
                grad_x = (grad_scores @ weight).reshape(g.shape)  # d loss / d (grid ⊙ a)
                if grad_a is not None:
                    grad_a[rows] = (grad_x * g).sum(dim=1)
                if grad_grid is not None:
                    from_pooled = 0 if grad_pooled is None else grad_pooled[rows].unsqueeze(1) * (s + 1) / p
                    grad_grid[rows] = grad_x * a_rows + from_pooled
        return grad_grid, grad_a, grad_w, grad_b, None


def channel_attention(
    layer: nn.Linear, grid: Tensor, a: Tensor, block: int = ROWS_PER_BLOCK
) -> tuple[Tensor, Tensor]:
    """grid (..., P, C), a (..., C) -> att = softmax(layer(grid ⊙ a)) over C, (..., P, C), and
    mean_P((att + 1) ⊙ grid), (..., C); the (..., P, C) product and scores are never whole."""
    if layer.bias is None:
        raise ValueError("channel_attention: expects a Linear with a bias")
    lead, (p, c) = grid.shape[:-2], grid.shape[-2:]
    att, pooled = _ChannelAttention.apply(
        grid.reshape(-1, p, c), a.reshape(-1, c), layer.weight, layer.bias, block
    )
    return att.reshape(*lead, p, c), pooled.reshape(*lead, c)
