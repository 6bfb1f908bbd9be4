"""A model that trains is not a model that learns: planted signals must be found, at any scale.

Every model (the baseline, the full co-attention model and its five Table V ablations) trains
for STEPS Adam steps (lr 1e-3, batch 32, seed 0) on a planted set (avel/bench/planted.py) whose signal
is in the audio only, in one visual cell that moves each second only, or in both, at 0.1x, 1x
and 10x the real VGGish rows' scale, and must reach MIN_ACCURACY segment accuracy on held-out
videos (majority chance: about 0.50). Before the fixes of docs/fidelity.md ("Why the co-attention
streams did not learn") every co-attention variant stayed at chance at 0.1x and 1x.
Small sizes (C_a 32, C_v 64, 4 x 4 grid) keep the 63 runs within a few minutes on 2 cores.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avel.bench.planted import SIGNALS, SMALL_SIZES, PlantedSpec, one_hot_labels, planted_set
from avel.common.config import ABLATIONS, ModelConfig
from avel.models import build_model, compute_loss

STEPS, BATCH, LR = 100, 32, 1e-3
MIN_ACCURACY = 0.9
SCALES = (0.1, 1.0, 10.0)
SIZES = SMALL_SIZES
NUM_TRAIN, NUM_TEST = 192, 96
MODELS = [("baseline", "full")] + [("coatt", ablation) for ablation in ABLATIONS]
# CSEA alone sees the visual map only through its grid average G(F_sem^v) (eq. 3-4), which
# dilutes one cell by 1/(H x W): it cannot localize a one-cell signal, by the paper's design.
CANNOT_SEE_ONE_CELL = {("coatt", "csea")}


def train_on_planted(model: str, ablation: str, signal: str, scale: float) -> tuple[float, float]:
    """Train as avel.training.train does (the input scale fitted on the training split); return
    (held-out segment accuracy, majority chance)."""
    spec = PlantedSpec(signal=signal, scale=scale, **SIZES)
    train, test = planted_set(spec, NUM_TRAIN, seed=1), planted_set(spec, NUM_TEST, seed=2)
    torch.manual_seed(0)
    cfg = ModelConfig(model=model, task="sel", ablation=ablation, **spec.model_sizes)
    net = build_model(cfg)
    net.input_scale.fit(train["audio"], train["visual"])
    optimizer = torch.optim.Adam(net.parameters(), lr=LR)
    audio, visual = torch.from_numpy(train["audio"]), torch.from_numpy(train["visual"])
    labels = torch.from_numpy(one_hot_labels(train["labels"]))
    generator = torch.Generator().manual_seed(0)
    for _ in range(STEPS):
        rows = torch.randint(0, NUM_TRAIN, (BATCH,), generator=generator)
        loss = compute_loss(net(audio[rows], visual[rows]), {"labels": labels[rows]}, cfg)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    net.eval()
    with torch.no_grad():
        scores = net(torch.from_numpy(test["audio"]), torch.from_numpy(test["visual"])).scores()
    truth = test["labels"]
    return float((scores.argmax(-1).numpy() == truth).mean()), float((truth == truth.max()).mean())


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("signal", SIGNALS)
@pytest.mark.parametrize(("model", "ablation"), MODELS)
def test_planted_signal_is_learned(model: str, ablation: str, signal: str, scale: float) -> None:
    if signal == "visual" and (model, ablation) in CANNOT_SEE_ONE_CELL:
        pytest.skip("CSEA alone cannot localize one cell (see test_csea_alone_averages_one_cell_away)")
    accuracy, chance = train_on_planted(model, ablation, signal, scale)
    assert chance < 0.6
    assert accuracy >= MIN_ACCURACY, f"{model}/{ablation}, {signal} signal at {scale}x: {accuracy:.3f}"


def test_csea_alone_averages_one_cell_away() -> None:
    """The documented limit behind the skip above: on the one-cell signal CSEA alone stays near
    chance while CSPA alone, which attends over positions, finds the cell."""
    csea, chance = train_on_planted("coatt", "csea", "visual", 1.0)
    cspa, _ = train_on_planted("coatt", "cspa", "visual", 1.0)
    assert csea < chance + 0.1 and cspa >= MIN_ACCURACY


def test_input_scale_makes_training_independent_of_the_feature_scale() -> None:
    spec = PlantedSpec(signal="both", **SIZES)
    small = planted_set(PlantedSpec(signal="both", scale=0.1, **SIZES), 8, seed=3)
    large = planted_set(PlantedSpec(signal="both", scale=10.0, **SIZES), 8, seed=3)
    cfg = ModelConfig(**spec.model_sizes)
    outputs = []
    for data in (small, large):
        torch.manual_seed(0)
        net = build_model(cfg).eval()
        net.input_scale.fit(data["audio"], data["visual"])
        with torch.no_grad():
            outputs.append(net(torch.from_numpy(data["audio"]), torch.from_numpy(data["visual"])).scores())
    np.testing.assert_allclose(outputs[0].numpy(), outputs[1].numpy(), rtol=1e-4, atol=1e-5)
