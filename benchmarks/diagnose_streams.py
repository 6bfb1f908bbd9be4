"""Why a model does or does not learn a planted signal: per-stream losses, gradients, attention.

    python -m benchmarks.diagnose_streams                            # before vs after, AVE sizes
    python -m benchmarks.diagnose_streams --plain --signal visual --scale 0.1 --steps 300
    python -m benchmarks.diagnose_streams --small       # the learnability tests' sizes: seconds

Trains the co-attention model (and the baseline beside it) on a planted set (avel/bench/planted.py,
AVE sizes: T = 10, C_a = 128, 7 x 7 x 512; per-channel scales and offsets as real features, or
--plain: every channel alike at --scale x the VGGISH rows') with Adam 1e-3, batch --batch (32), seed 0,
in two setups:
  before  the models as they were: raw inputs; co-attention with PyTorch's default init and eq. 1's
          scores unscaled; the baseline with its audio term in the equation form;
  after   the defaults: xavier init, Z / sqrt(H x W) (CoSpatialAttention), the released audio
          term, inputs divided by their training-split RMS;
  unscaled-scores  "after" without Z / sqrt(H x W) (--setups unscaled-scores).
Every --every steps it prints each stream's loss, the gradient norm of each module, the RMS of
each LSTM's input, the spatial attention's entropy (nats; uniform = ln 49 = 3.89) and its mass on
the planted cell, each stream's held-out accuracy and the share of held-out seconds it calls
background (the all-background plateau), and at the end held-out segment accuracy per stream.
The figures quoted in
docs/fidelity.md ("Why the co-attention streams did not learn") come from this script.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import replace

import torch

from avel.bench.planted import (
    PLAIN_PROFILE,
    SIGNALS,
    SMALL_SIZES,
    PlantedSpec,
    one_hot_labels,
    planted_set,
)
from avel.common.classes import BACKGROUND_INDEX
from avel.common.config import ABLATIONS, ModelConfig
from avel.models import build_model, compute_loss, multilabel_soft_margin

# ModelConfig changes of each setup, per model ("before" = the models before the fix; the
# baseline then had xavier init already, and the equation form of its audio term).
SETUPS = {
    "before": {
        "coatt": {"init": "pytorch", "cspa_score_scaling": False},
        "baseline": {"baseline_audio_term": "equation"},
    },
    "after": {"coatt": {}, "baseline": {}},
    # the fix without its third part: isolates the saturation of eq. 1's softmax
    "unscaled-scores": {"coatt": {"cspa_score_scaling": False}, "baseline": {}},
}
NUM_TRAIN, NUM_TEST, LR = 256, 128, 1e-3


def _module_gradients(model: torch.nn.Module) -> dict[str, float]:
    """L2 norm of the gradient of each top-level module and of each stream's LSTMs and head."""
    norms: dict[str, float] = {}
    for name, parameter in model.named_parameters():
        if parameter.grad is None:
            continue
        parts = name.split(".")
        key = ".".join(parts[:2]) if parts[0].endswith("stream") else parts[0]
        norms[key] = norms.get(key, 0.0) + float(parameter.grad.pow(2).sum())
    return {key: math.sqrt(value) for key, value in norms.items()}


def _attention_stats(output, visual: torch.Tensor, event: torch.Tensor) -> tuple[float, float]:
    """(mean entropy of the spatial attention, its mean mass on the planted cell at event seconds);
    NaN for a model without one (CSEA alone)."""
    if output.spatial_attention is None:
        return float("nan"), float("nan")
    att = output.spatial_attention.flatten(2)  # (B, T, P)
    entropy = float(-(att * att.clamp_min(1e-12).log()).sum(-1).mean())
    cell = visual.flatten(2, 3).sum(-1).argmax(-1, keepdim=True)  # the planted cell: most energy
    mass = att.gather(-1, cell).squeeze(-1)[event.bool()]
    return entropy, float(mass.mean()) if len(mass) else float("nan")


@torch.no_grad()
def _held_out(model: torch.nn.Module, test: dict) -> str:
    """Each stream's held-out accuracy and share of seconds called background, then the model's."""
    model.eval()
    output = model(torch.from_numpy(test["audio"]), torch.from_numpy(test["visual"]))
    model.train()
    truth = test["labels"]
    named = [(f"stream {i + 1}", logits) for i, logits in enumerate(output.stream_logits)]
    words = []
    for name, logits in [*named, ("combined", output.scores())]:
        predicted = logits.argmax(-1).numpy()
        accuracy, background = (predicted == truth).mean(), (predicted == BACKGROUND_INDEX).mean()
        words.append(f"{name} {accuracy:.3f} (bg {background:.2f})")
    return "held-out: " + ", ".join(words)


def diagnose(model_name: str, setup: str, spec: PlantedSpec, args: argparse.Namespace) -> None:
    """Train one model in one setup, printing the figures of the module's doc every args.every steps."""
    steps, every, batch = args.steps, args.every, args.batch
    train, test = planted_set(spec, NUM_TRAIN, seed=1), planted_set(spec, NUM_TEST, seed=2)
    torch.manual_seed(0)
    ablation = args.ablation if model_name == "coatt" else "full"
    cfg = ModelConfig(model=model_name, task="sel", ablation=ablation, **spec.model_sizes)
    cfg = replace(cfg, **SETUPS[setup][model_name])
    if args.stream_weight is not None:
        cfg = cfg.with_cspa_weight(args.stream_weight)
    model = build_model(cfg)
    if setup != "before":
        model.input_scale.fit(train["audio"], train["visual"])
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    audio, visual = torch.from_numpy(train["audio"]), torch.from_numpy(train["visual"])
    labels, event = torch.from_numpy(one_hot_labels(train["labels"])), torch.from_numpy(train["event"])
    generator = torch.Generator().manual_seed(0)
    print(f"\n== {model_name} ({ablation}), {setup}: {spec}, {steps} steps of batch {batch}")
    for step in range(steps + 1):
        rows = torch.randint(0, NUM_TRAIN, (batch,), generator=generator)
        output = model(audio[rows], visual[rows])
        loss = compute_loss(output, {"labels": labels[rows]}, cfg)
        optimizer.zero_grad()
        loss.backward()
        if step % every == 0:
            stream_losses = [
                float(multilabel_soft_margin(e.detach(), labels[rows])) for e in output.stream_logits
            ]
            inputs = {
                k: float(v.detach().pow(2).mean().sqrt())
                for k, v in output.features.items()
                if "raw" not in k
            }
            entropy, mass = _attention_stats(output, visual[rows], event[rows])
            print(
                f"step {step:4d}  stream losses {[round(x, 3) for x in stream_losses]}  "
                f"attention entropy {entropy:.2f} mass on cell {mass:.2f}"
            )
            print(f"           LSTM input RMS { ({k: round(v, 3) for k, v in inputs.items()}) }")
            print(f"           grad norms { ({k: f'{v:.1e}' for k, v in _module_gradients(model).items()}) }")
            print(f"           {_held_out(model, test)}")
        if step < steps:
            optimizer.step()
    model.eval()
    with torch.no_grad():
        output = model(torch.from_numpy(test["audio"]), torch.from_numpy(test["visual"]))
    truth = test["labels"]
    per_stream = [float((e.argmax(-1).numpy() == truth).mean()) for e in output.stream_logits]
    combined = float((output.scores().argmax(-1).numpy() == truth).mean())
    chance = float((truth == truth.max()).mean())
    print(
        f"held-out accuracy: streams {[round(x, 3) for x in per_stream]}, combined {combined:.3f} "
        f"(chance {chance:.3f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signal", choices=SIGNALS, default="both")
    parser.add_argument("--scale", type=float, default=1.0, help="x the real VGGish rows' scale")
    parser.add_argument("--plain", action="store_true", help="every channel alike (PLAIN_PROFILE)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--stream-weight", type=float, help="lambda_s (default: the paper's 0.3)")
    parser.add_argument("--ablation", choices=ABLATIONS, default="full", help="the co-attention model's")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--setups", nargs="+", choices=tuple(SETUPS), default=("before", "after"))
    parser.add_argument("--models", nargs="+", choices=("coatt", "baseline"), default=("coatt", "baseline"))
    parser.add_argument(
        "--small", action="store_true", help="the learnability tests' sizes: C_a 32, C_v 64, 4 x 4 grid"
    )
    args = parser.parse_args()
    profile = PLAIN_PROFILE if args.plain else {}
    spec = PlantedSpec(signal=args.signal, scale=args.scale, **profile, **(SMALL_SIZES if args.small else {}))
    for setup in args.setups:
        for model_name in args.models:
            diagnose(model_name, setup, spec, args)


if __name__ == "__main__":
    main()
