"""SEL training throughput and peak memory of both models on AVE-shaped random features, beside
a port of Tian et al.'s released att_Net (models.py), and the ratios to it.

    python -m benchmarks.train_speed                       # from the repository root; auto device
    python -m benchmarks.train_speed --device cpu --iterations 30

"released" is att_Net restated for torch 2.14 with the released code's layers, views, xavier init,
softmax before `nn.MultiLabelSoftMarginLoss` and zero LSTM states; it is the timing reference
only (its loss differs from eq. 6, docs/fidelity.md), so "same results" is not claimed here.

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
import torch.nn.functional as F
from torch import nn

from avel.config import DEVICES, MODELS, ModelConfig, TrainConfig
from avel.device import resolve_device
from avel.models import build_model, compute_loss

AVE_TRAIN_VIDEOS = 3339  # trainSet.txt rows
NUM_SEGMENTS = 10  # T: AVE clips are 10 s
PAPER_EPOCHS = TrainConfig().resolved("sel").epochs  # 300: the h/300ep column
WARMUP_ITERATIONS = 5  # not timed: allocator and cuDNN warm-up


RELEASED = "released"  # the reference: a port of the released att_Net


class ReleasedAttNet(nn.Module):
    """att_Net of YapengTian/AVE-ECCV18 models.py (AV_att, SEL), restated for torch 2.14."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        hidden, positions = cfg.lstm_hidden, cfg.num_positions
        self.lstm_audio = nn.LSTM(cfg.audio_dim, hidden, 1, batch_first=True, bidirectional=True)
        self.lstm_video = nn.LSTM(cfg.visual_dim, hidden, 1, batch_first=True, bidirectional=True)
        self.affine_audio = nn.Linear(cfg.audio_dim, cfg.visual_dim)  # hidden_size = 512
        self.affine_video = nn.Linear(cfg.visual_dim, cfg.visual_dim)
        self.affine_v = nn.Linear(cfg.visual_dim, positions, bias=False)
        self.affine_g = nn.Linear(cfg.visual_dim, positions, bias=False)
        self.affine_h = nn.Linear(positions, 1, bias=False)
        self.L1 = nn.Linear(4 * hidden, 64)
        self.L2 = nn.Linear(64, cfg.num_classes)
        for layer in (
            self.affine_v,
            self.affine_g,
            self.affine_h,
            self.L1,
            self.L2,
            self.affine_audio,
            self.affine_video,
        ):
            nn.init.xavier_uniform_(layer.weight)

    def forward(self, audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        """audio (B, T, 128), video (B, T, 7, 7, 512) -> softmax scores (B, T, C), as released."""
        b, t = audio.shape[:2]
        v = video.reshape(b * t, -1, video.shape[-1])  # (B*T, 49, 512)
        v_hidden = F.relu(self.affine_video(v))
        a_hidden = F.relu(self.affine_audio(audio.reshape(b * t, -1)))  # (B*T, 512)
        content = self.affine_v(v_hidden) + self.affine_g(a_hidden).unsqueeze(2)  # (B*T, 49, 49)
        z = self.affine_h(torch.tanh(content)).squeeze(2)  # (B*T, 49)
        alpha = F.softmax(z, dim=-1).unsqueeze(1)  # (B*T, 1, 49)
        attended = torch.bmm(alpha, v).reshape(b, t, -1)  # (B, T, 512)
        lstm_audio, _ = self.lstm_audio(audio)  # zero initial states, as released
        lstm_video, _ = self.lstm_video(attended)
        out = F.relu(torch.cat((lstm_audio, lstm_video), -1))
        return F.softmax(self.L2(F.relu(self.L1(out))), dim=-1)


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
    config = ModelConfig(model="baseline" if model_name == RELEASED else model_name, task="sel")
    model = (ReleasedAttNet(config) if model_name == RELEASED else build_model(config)).to(device).train()
    released_loss = nn.MultiLabelSoftMarginLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=TrainConfig().lr)
    generator = torch.Generator().manual_seed(0)
    pool = _random_pool(config, pool_size, generator)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def step() -> None:
        rows = torch.randint(0, pool_size, (batch_size,), generator=generator)
        batch = {name: values[rows].to(device, non_blocking=True) for name, values in pool.items()}
        output = model(batch["audio"], batch["visual"])
        if model_name == RELEASED:
            loss = released_loss(output, batch["labels"])
        else:
            loss = compute_loss(output, batch, config)
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
    parser.add_argument("--models", nargs="+", choices=(RELEASED, *MODELS), default=[RELEASED, *MODELS])
    args = parser.parse_args()

    print(f"SEL training, AVE shapes: T={NUM_SEGMENTS}, audio 128, visual 7x7x512, 29 classes")
    columns = ("params", "videos/s", "x released", "s/epoch", "h/300ep", "RSS MB", "CUDA MB")
    print(f"{'model':<9} " + " ".join(f"{column:>9}" for column in columns) + "  device")
    spawn = get_context("spawn")  # a fresh process per model: its own peak RSS and CUDA context
    reference = None
    for name in args.models:
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            figures = pool.submit(
                measure, name, args.device, args.iterations, args.batch_size, args.pool
            ).result()
        epoch_seconds = AVE_TRAIN_VIDEOS / figures.videos_per_second
        cuda = "-" if figures.cuda_peak_mb is None else f"{figures.cuda_peak_mb:.0f}"
        if name == RELEASED:
            reference = figures.videos_per_second
        ratio = "-" if reference is None else f"{figures.videos_per_second / reference:.2f}"
        values = (
            f"{figures.parameters}",
            f"{figures.videos_per_second:.1f}",
            ratio,
            f"{epoch_seconds:.1f}",
            f"{PAPER_EPOCHS * epoch_seconds / 3600:.2f}",
            f"{figures.peak_rss_mb:.0f}",
            cuda,
        )
        print(f"{figures.model:<9} " + " ".join(f"{value:>9}" for value in values) + f"  {figures.device}")
    print(
        f"{args.iterations} timed iterations of batch {args.batch_size} after {WARMUP_ITERATIONS} warm-up; "
        f"epoch = {AVE_TRAIN_VIDEOS} videos; RSS includes the {args.pool}-video pool; "
        "targets: co-attention >= 0.5x and baseline >= 1.0x the released att_Net's videos/s"
    )


if __name__ == "__main__":
    main()
