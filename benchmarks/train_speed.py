"""SEL training throughput and peak memory of both models on AVE-shaped random features.

    python -m benchmarks.train_speed                       # from the repository root; auto device
    python -m benchmarks.train_speed --device cpu --iterations 30

Inputs have AVE's sizes (T=10 segments, C_a=128, 7x7x512 visual maps, 29 classes; a 3339-video
training split, batch 64 as in Sec. IV-A). Holding 3339 random videos would take 3.3 GB, so a
pool of `--pool` videos is drawn from at random; each step copies its batch host -> device as a
real DataLoader does. Each model runs in its own process so its peak RSS is its own. Prints
figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

import torch

from avel.config import DEVICES, MODELS, ModelConfig, TrainConfig
from avel.device import resolve_device
from avel.models import build_model, compute_loss

AVE_TRAIN_VIDEOS = 3339  # trainSet.txt rows
NUM_SEGMENTS = 10  # T: AVE clips are 10 s
PAPER_EPOCHS = TrainConfig().resolved("sel").epochs  # 300: the h/300ep column
WARMUP_ITERATIONS = 5  # not timed: allocator and cuDNN warm-up


@dataclass
class Figures:
    model: str
    parameters: int
    device: str
    batch_size: int
    iterations: int
    videos_per_second: float
    peak_rss_mb: float
    cuda_peak_mb: float | None


def _random_pool(config: ModelConfig, size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """`size` random videos with AVE shapes; one random event class per video, the rest background."""
    classes = torch.randint(0, config.num_classes - 1, (size,), generator=generator)
    event = (torch.rand(size, NUM_SEGMENTS, generator=generator) < 0.6).float()  # (N, T)
    per_segment = torch.where(event.bool(), classes[:, None], config.num_classes - 1)  # (N, T)
    return {
        "audio": torch.randn(size, NUM_SEGMENTS, config.audio_dim, generator=generator).relu(),
        "visual": torch.randn(
            size, NUM_SEGMENTS, config.grid_h, config.grid_w, config.visual_dim, generator=generator
        ).relu(),  # (N, T, H, W, C_v): post-ReLU like pool5
        "labels": torch.nn.functional.one_hot(per_segment, config.num_classes).float(),  # (N, T, C)
        "event": event,
    }


def measure(model_name: str, device_name: str, iterations: int, batch_size: int, pool_size: int) -> Figures:
    """Time `iterations` SEL training steps (forward, eq. 6 loss, backward, Adam) of one model."""
    torch.manual_seed(0)
    device = resolve_device(device_name)
    config = ModelConfig(model=model_name, task="sel")
    model = build_model(config).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=TrainConfig().lr)
    generator = torch.Generator().manual_seed(0)
    pool = _random_pool(config, pool_size, generator)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def step() -> None:
        rows = torch.randint(0, pool_size, (batch_size,), generator=generator)
        batch = {name: values[rows].to(device, non_blocking=True) for name, values in pool.items()}
        loss = compute_loss(model(batch["audio"], batch["visual"]), batch, config)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(WARMUP_ITERATIONS):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    for _ in range(iterations):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started
    return Figures(
        model=model_name,
        parameters=sum(p.numel() for p in model.parameters()),
        device=str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        batch_size=batch_size,
        iterations=iterations,
        videos_per_second=iterations * batch_size / seconds,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # Linux: KiB
        cuda_peak_mb=torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", choices=DEVICES, default="auto")
    parser.add_argument("--iterations", type=int, default=200, help="timed training steps per model")
    parser.add_argument("--batch-size", type=int, default=64, help="paper: 64 for SEL")
    parser.add_argument("--pool", type=int, default=256, help="distinct random videos held in memory")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    args = parser.parse_args()

    print(f"SEL training, AVE shapes: T={NUM_SEGMENTS}, audio 128, visual 7x7x512, 29 classes")
    columns = ("params", "videos/s", "s/epoch", "h/300ep", "RSS MB", "CUDA MB")
    print(f"{'model':<9} " + " ".join(f"{column:>9}" for column in columns) + "  device")
    spawn = get_context("spawn")  # a fresh process per model: its own peak RSS and CUDA context
    for name in args.models:
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            figures = pool.submit(
                measure, name, args.device, args.iterations, args.batch_size, args.pool
            ).result()
        epoch_seconds = AVE_TRAIN_VIDEOS / figures.videos_per_second
        cuda = "-" if figures.cuda_peak_mb is None else f"{figures.cuda_peak_mb:.0f}"
        values = (
            f"{figures.parameters}",
            f"{figures.videos_per_second:.1f}",
            f"{epoch_seconds:.1f}",
            f"{PAPER_EPOCHS * epoch_seconds / 3600:.2f}",
            f"{figures.peak_rss_mb:.0f}",
            cuda,
        )
        print(f"{figures.model:<9} " + " ".join(f"{value:>9}" for value in values) + f"  {figures.device}")
    print(
        f"{args.iterations} timed iterations of batch {args.batch_size} after {WARMUP_ITERATIONS} warm-up; "
        f"epoch = {AVE_TRAIN_VIDEOS} videos; RSS includes the {args.pool}-video pool"
    )


if __name__ == "__main__":
    main()
