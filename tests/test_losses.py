"""The losses of eq. 5-7 and their stream-weighted total, against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from avel.common.config import ModelConfig
from avel.models import ModelOutput, compute_loss, contrastive_loss, multilabel_soft_margin, weak_loss

LN2, LN3 = math.log(2.0), math.log(3.0)


def test_multilabel_soft_margin_by_hand() -> None:
    # -log sigmoid(0) = ln 2;  -log(1 - sigmoid(ln 3)) = -log(1/4) = 2 ln 2
    logits = torch.tensor([[[0.0, LN3], [LN3, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])  # (B=2, T=2, C=2)
    target = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [1.0, 0.0]]])
    # video 1: each segment (ln2 + 2 ln2) / 2 = 1.5 ln2, summed over t: 3 ln2
    # video 2: every entry ln 2, so each segment ln 2 and the sum 2 ln2; mean over videos: 2.5 ln2
    torch.testing.assert_close(multilabel_soft_margin(logits, target), torch.tensor(2.5 * LN2))


def test_multilabel_soft_margin_on_video_logits_matches_torch() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 29, generator=gen) * 4
    target = F.one_hot(torch.tensor([0, 5, 28]), 29).float()
    expected = F.multilabel_soft_margin_loss(logits, target)
    torch.testing.assert_close(multilabel_soft_margin(logits, target), expected)


def test_multilabel_soft_margin_is_stable_for_large_logits() -> None:
    loss = multilabel_soft_margin(torch.tensor([[200.0, -200.0]]), torch.tensor([[0.0, 1.0]]))
    torch.testing.assert_close(loss, torch.tensor(200.0))


def test_weak_loss_max_pools_over_time() -> None:
    logits = torch.tensor([[[-1.0, 0.0], [2.0, -3.0], [0.0, LN3]]])  # (B=1, T=3, C=2): v = [2, ln 3]
    video_label = torch.tensor([[1.0, 0.0]])
    expected = (math.log1p(math.exp(-2.0)) + 2 * LN2) / 2  # (-log sigmoid(2) - log(1 - 3/4)) / C
    torch.testing.assert_close(weak_loss(logits, video_label), torch.tensor(expected))


def test_contrastive_loss_by_hand_both_sides_of_margin() -> None:
    m_a = torch.zeros(1, 4, 2)
    m_v = torch.tensor([[[3.0, 4.0], [0.6, 0.8], [3.0, 4.0], [0.6, 0.8]]])  # S = 5, 1, 5, 1
    event = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    # positive pairs: S^2 = 25 and 1; negative pairs: S = 5 beyond tau = 2 -> 0, S = 1 inside -> (2 - 1)^2
    torch.testing.assert_close(contrastive_loss(m_a, m_v, event, margin=2.0), torch.tensor(27 / 4))
    # a larger margin pushes the far negative too: (6 - 5)^2 + (6 - 1)^2
    torch.testing.assert_close(contrastive_loss(m_a, m_v, event, margin=6.0), torch.tensor(52 / 4))


def test_contrastive_loss_gradient_is_finite_at_zero_distance() -> None:
    m_a = torch.zeros(1, 2, 3, requires_grad=True)
    m_v = torch.zeros(1, 2, 3, requires_grad=True)
    loss = contrastive_loss(m_a, m_v, torch.tensor([[1.0, 0.0]]), margin=2.0)
    torch.testing.assert_close(loss, torch.tensor(2.0))  # (0 + (2 - 0)^2) / 2
    loss.backward()
    assert torch.isfinite(m_a.grad).all() and torch.isfinite(m_v.grad).all()


def _two_stream_output(task: str) -> tuple[ModelOutput, dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    batch = {
        "labels": F.one_hot(torch.tensor([[0, 2, 1]]), 3).float(),
        "video_label": F.one_hot(torch.tensor([2]), 3).float(),
        "event": torch.tensor([[1.0, 0.0, 1.0]]),
    }
    if task == "cml":
        pairs = [(torch.randn(1, 3, 4, generator=gen), torch.randn(1, 3, 4, generator=gen)) for _ in range(2)]
        return ModelOutput(stream_embeddings=pairs, stream_weights=[0.6, 0.4]), batch
    logits = [torch.randn(1, 3, 3, generator=gen) for _ in range(2)]
    return ModelOutput(stream_logits=logits, stream_weights=[0.3, 0.7]), batch


@pytest.mark.parametrize("task", ["sel", "wsel", "cml"])
def test_compute_loss_weights_the_streams(task: str) -> None:
    output, batch = _two_stream_output(task)
    cfg = ModelConfig(task=task, num_classes=3)
    if task == "sel":
        per_stream = [multilabel_soft_margin(e, batch["labels"]) for e in output.stream_logits]
    elif task == "wsel":
        per_stream = [weak_loss(e, batch["video_label"]) for e in output.stream_logits]
    else:
        per_stream = [contrastive_loss(a, v, batch["event"], 2.0) for a, v in output.stream_embeddings]
    w = output.stream_weights
    expected = w[0] * per_stream[0] + w[1] * per_stream[1]
    torch.testing.assert_close(compute_loss(output, batch, cfg), expected)
    assert not torch.isclose(per_stream[0], per_stream[1])  # so the weighting is actually tested


def test_compute_loss_uses_the_configured_margin() -> None:
    output, batch = _two_stream_output("cml")
    loose = compute_loss(output, batch, ModelConfig(task="cml", margin=2.0))
    strict = compute_loss(output, batch, ModelConfig(task="cml", margin=20.0))
    assert strict > loose


def test_compute_loss_refuses_bad_input() -> None:
    output, batch = _two_stream_output("sel")
    with pytest.raises(ValueError, match="'labels'"):
        compute_loss(output, {"event": batch["event"]}, ModelConfig(task="sel"))
    with pytest.raises(ValueError, match="target"):
        compute_loss(output, {"labels": batch["labels"][:, :2]}, ModelConfig(task="sel"))
    with pytest.raises(ValueError, match="no stream results"):
        compute_loss(output, batch, ModelConfig(task="cml"))
    uneven = ModelOutput(stream_logits=output.stream_logits, stream_weights=[1.0])
    with pytest.raises(ValueError, match="stream_weights"):
        compute_loss(uneven, batch, ModelConfig(task="sel"))
