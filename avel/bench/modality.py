"""Does the benchmark need both modalities? One model trained on both, on audio only, on visual only."""

from __future__ import annotations

from pathlib import Path

from avel.common.config import MODALITIES, ModelConfig, RunConfig, TrainConfig
from avel.training.train import train


def modality_check(
    data: Path, runs: Path, *, model: str, epochs: int, seed: int, device: str
) -> dict[str, float]:
    """Test SEL accuracy of one model trained on both modalities, on audio only, on visual only.

    The benchmark is meant to need both (hard background seconds are visible-but-silent or
    audible-but-off-screen), so each single-modality run must score clearly lower. Runs resume.
    """
    accuracy = {}
    for modalities in MODALITIES:
        result = train(
            RunConfig(
                data=str(data),
                out=str(runs / f"sel-{model}-{modalities}-seed{seed}"),
                model=ModelConfig(model=model, task="sel"),
                train=TrainConfig(epochs=epochs, seed=seed, device=device, modalities=modalities),
            ),
            progress=True,
        )
        accuracy[modalities] = float(result.test["accuracy"])
    return accuracy
