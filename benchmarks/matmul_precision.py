"""Would lower-precision matmuls speed up training on this CPU? The product that dominates both
models' SEL steps, timed in float32, bfloat16 and float16.

    python -m benchmarks.matmul_precision [--rows 31360] [--repeats 3] [--threads 1]

Issue 23 asks for the co-attention model's SEL training at >= 0.9x the released att_Net's
throughput; docs/fidelity.md counts 5 products of the (B·T·49) x 512 visual map with a 512 x 512
weight per co-attention step against att_Net's 2, so in float32 the ratio cannot reach 0.9x.
The one lever left would be a cheaper product. This times that product, (rows x 512) @ (512 x 512)
at AVE's sizes (batch 64 x T 10 x 49 cells = 31,360 rows), in each precision, interleaved
`--repeats` times so a change in load falls on all alike, and prints seconds per product, the
ratio to float32 and the CPU capability torch dispatches to (bfloat16 runs fast only with
AVX512-BF16 or AMX). Asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
MAP_ROWS = 64 * 10 * 49  # batch 64 (Sec. IV-A) x T = 10 segments x 7 x 7 cells
CHANNELS = 512  # C_v: VGG19 pool5


def _seconds(x: torch.Tensor, weight: torch.Tensor) -> float:
    start = time.perf_counter()
    torch.mm(x, weight)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=MAP_ROWS, help="rows of the map (default: AVE's)")
    parser.add_argument("--repeats", type=int, default=3, help="timed products per precision")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the report runs on 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(args.rows, CHANNELS, generator=generator)
    weight = torch.randn(CHANNELS, CHANNELS, generator=generator)
    operands = {name: (x.to(dtype), weight.to(dtype)) for name, dtype in PRECISIONS.items()}
    for pair in operands.values():
        torch.mm(*pair)  # warm-up, untimed
    times: dict[str, list[float]] = {name: [] for name in PRECISIONS}
    for _ in range(args.repeats):
        for name, pair in operands.items():
            times[name].append(_seconds(*pair))
    print(f"CPU capability: {torch.backends.cpu.get_cpu_capability()}; torch {torch.__version__}; "
          f"{args.threads} thread(s); ({args.rows} x {CHANNELS}) @ ({CHANNELS} x {CHANNELS})")  # fmt: skip
    reference = statistics.median(times["float32"])
    for name, values in times.items():
        median = statistics.median(values)
        ratio = median / reference
        print(f"{name:>9}: {median:8.3f} s per product (median of {len(values)}), {ratio:6.2f}x float32")


if __name__ == "__main__":
    main()
