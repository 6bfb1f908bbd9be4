"""What the models compute, recorded so that a rewrite for speed can be shown to change nothing.

Every Table V ablation of the co-attention model and the baselines, for every task, at small
sizes and at AVE's (C_a 128, C_v 512, 7 x 7), plus the six bundled checkpoints: on fixed float64
inputs, each case records its forward outputs, its task loss and every parameter's gradient, and
the initial weights `build_model` draws after `torch.manual_seed(0)` (so training runs from a seed
start where they did). Weights are filled per parameter *name* (not construction order), so the
record depends only on the math and the state_dict layout that checkpoints rely on.

    python -m tests.equivalence          # rewrite tests/fixtures/model_equivalence.pt (only
                                         # before a change that is meant to alter the math)
    python -m tests.equivalence --checkpoints   # after a rebundle: rewrite only the bundled
                                                # checkpoints' cases; every other case stays pinned

`tests/test_model_equivalence.py` asserts the current code reproduces the record to 1e-9.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from avel.common.config import ABLATIONS, ModelConfig
from avel.models import ModelOutput, build_model, compute_loss
from avel.training.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "model_equivalence.pt"
CHECKPOINTS = ("coatt_sel", "coatt_wsel", "coatt_cml", "baseline_sel", "baseline_wsel", "baseline_cml")
TASKS = ("sel", "wsel", "cml")
# Small sizes: a non-square grid (3 x 4) so that an H/W mix-up shows; B=2, T=3.
SMALL = dict(
    audio_dim=16,
    visual_dim=24,
    grid_h=3,
    grid_w=4,
    num_classes=5,
    lstm_hidden=8,
    classifier_dims=(6,),
    cml_dims=(8, 4),
)
# Tensors up to this size are stored whole; larger ones as a fingerprint (see `fingerprint`).
WHOLE = 64
SAMPLES = 32
INPUT_SCALE = (0.37, 4.2)  # audio_rms, visual_rms: a fitted scale that is not 1


@dataclass(frozen=True)
class Case:
    """One model on one set of inputs."""

    name: str
    config: ModelConfig | None  # None: the bundled checkpoint `name`
    batch: int
    segments: int


def cases() -> Iterator[Case]:
    """Every ablation x task at small sizes, the paper-size models, and the bundled checkpoints."""
    for task in TASKS:
        for ablation in ABLATIONS:
            config = ModelConfig(task=task, ablation=ablation, **SMALL)
            yield Case(f"small-coatt-{ablation}-{task}", config, 2, 3)
        yield Case(f"small-baseline-{task}", ModelConfig(model="baseline", task=task, **SMALL), 2, 3)
    yield Case(
        "small-coatt-unscaled-scores-sel", ModelConfig(task="sel", cspa_score_scaling=False, **SMALL), 2, 3
    )
    yield Case(
        "small-baseline-equation-sel",
        ModelConfig(model="baseline", task="sel", baseline_audio_term="equation", **SMALL),
        2,
        3,
    )
    for ablation in ABLATIONS:
        yield Case(f"ave-coatt-{ablation}-sel", ModelConfig(task="sel", ablation=ablation), 2, 3)
    yield Case("ave-coatt-full-cml", ModelConfig(task="cml"), 2, 3)
    yield Case("ave-baseline-sel", ModelConfig(model="baseline", task="sel"), 2, 3)
    # 9 x 10 x 49 = 4410 rows: more than one block of avel/models/fused.py's ROWS_PER_BLOCK
    yield Case("ave-coatt-full-sel-blocks", ModelConfig(task="sel"), 9, 10)
    yield Case("ave-baseline-sel-blocks", ModelConfig(model="baseline", task="sel"), 9, 10)
    for name in CHECKPOINTS:
        yield Case(name, None, 2, 10)


def fingerprint(value: Tensor) -> Tensor:
    """The tensor itself when small; else its sum, a weighted sum whose weights differ for every
    entry, its sum of squares and SAMPLES evenly spaced entries (float64)."""
    flat = value.detach().to(torch.float64).reshape(-1)
    if flat.numel() <= WHOLE:
        return flat.clone()
    index = torch.arange(flat.numel(), dtype=torch.float64)
    weights = torch.sin(index * 0.7311) + 1.5  # in [0.5, 2.5], no period shared with a layout
    picks = torch.linspace(0, flat.numel() - 1, SAMPLES).round().long()
    summary = torch.stack([flat.sum(), (flat * weights).sum(), flat.square().sum()])
    return torch.cat([summary, flat[picks]])


def _fill_by_name(model: nn.Module) -> None:
    """Deterministic float64 weights drawn per parameter name, at about xavier's scale."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            generator = torch.Generator().manual_seed(zlib.crc32(name.encode()))
            fan_in = param.shape[-1] if param.dim() > 1 else 4
            param.copy_(torch.randn(param.shape, generator=generator, dtype=torch.float64) * fan_in**-0.5)
        model.input_scale.audio_rms.fill_(INPUT_SCALE[0])
        model.input_scale.visual_rms.fill_(INPUT_SCALE[1])


def _inputs(config: ModelConfig, case: Case) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    """Non-negative float64 features (post-ReLU, so about half are exact zeros) and task labels."""
    generator = torch.Generator().manual_seed(zlib.crc32(case.name.encode()))
    b, t = case.batch, case.segments
    audio = torch.randn(b, t, config.audio_dim, generator=generator, dtype=torch.float64).relu()
    shape = (b, t, config.grid_h, config.grid_w, config.visual_dim)
    visual = torch.randn(shape, generator=generator, dtype=torch.float64).relu() * 3.0
    classes = torch.randint(0, config.num_classes, (b, t), generator=generator)
    batch = {
        "labels": nn.functional.one_hot(classes, config.num_classes).double(),
        "video_label": nn.functional.one_hot(classes[:, 0], config.num_classes).double(),
        "event": (torch.rand(b, t, generator=generator) < 0.5).double(),
    }
    return audio, visual, batch


def _outputs(output: ModelOutput) -> dict[str, Tensor]:
    """Every tensor of a ModelOutput, by a flat name."""
    found: dict[str, Tensor] = {"stream_weights": torch.tensor(output.stream_weights, dtype=torch.float64)}
    for k, logits in enumerate(output.stream_logits):
        found[f"stream_logits.{k}"] = logits
    for k, (m_a, m_v) in enumerate(output.stream_embeddings):
        found[f"stream_embeddings.{k}.audio"], found[f"stream_embeddings.{k}.visual"] = m_a, m_v
    attentions = ("spatial_attention", "audio_attention", "channel_attention_audio")
    for name in (*attentions, "channel_attention_visual"):
        if getattr(output, name) is not None:
            found[name] = getattr(output, name)
    for name, value in output.features.items():
        found[f"features.{name}"] = value
    return found


def _model(case: Case) -> tuple[nn.Module, ModelConfig]:
    if case.config is None:
        loaded = load_checkpoint(ROOT / "checkpoints" / f"{case.name}.pt")
        return loaded.model.double(), loaded.model_config
    model = build_model(case.config).double()
    _fill_by_name(model)
    return model, case.config


def run_case(case: Case) -> dict[str, Tensor]:
    """The record of one case: fingerprints of its outputs, its loss and gradients, its init."""
    model, config = _model(case)
    audio, visual, batch = _inputs(config, case)
    output = model(audio, visual)
    loss = compute_loss(output, batch, config)
    model.zero_grad(set_to_none=True)
    loss.backward()
    record = {f"out.{name}": fingerprint(value) for name, value in _outputs(output).items()}
    record["loss"] = loss.detach().reshape(1)
    for name, param in model.named_parameters():
        if param.grad is not None:  # a weight no loss reaches has None; recorded by its absence
            record[f"grad.{name}"] = fingerprint(param.grad)
    if case.config is not None:
        torch.manual_seed(0)
        for name, value in build_model(case.config).state_dict().items():
            record[f"init.{name}"] = fingerprint(value)
    return record


def pack(record: dict[str, Tensor]) -> dict[str, object]:
    """One tensor per case (a file of thousands of tiny tensors is mostly per-tensor overhead)."""
    return {
        "names": list(record),
        "sizes": [value.numel() for value in record.values()],
        "values": torch.cat([value.reshape(-1) for value in record.values()]),
    }


def unpack(packed: dict[str, object]) -> dict[str, Tensor]:
    pieces = torch.split(packed["values"], packed["sizes"])
    return dict(zip(packed["names"], pieces, strict=True))


def record_all() -> dict[str, dict[str, object]]:
    return {case.name: pack(run_case(case)) for case in cases()}


def rerecord_checkpoints() -> dict[str, dict[str, object]]:
    """The stored record with only the bundled checkpoints' cases recomputed: new weights are new
    outputs, while the code's math stays pinned by the cases built from a seed."""
    records = torch.load(FIXTURE, weights_only=True)
    records.update({c.name: pack(run_case(c)) for c in cases() if c.config is None})
    return records


if __name__ == "__main__":
    FIXTURE.parent.mkdir(exist_ok=True)
    records = rerecord_checkpoints() if sys.argv[1:] == ["--checkpoints"] else record_all()
    torch.save(records, FIXTURE)
    print(f"wrote {len(records)} cases to {FIXTURE.relative_to(ROOT)}")
