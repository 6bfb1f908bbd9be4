"""SEL training throughput and peak memory of both models on AVE-shaped random features, beside
a port of Tian et al.'s released att_Net (models.py), and the ratios to it.

    python -m benchmarks.train_speed                       # from the repository root; auto device
    python -m benchmarks.train_speed --device cpu --rounds 5 --iterations 10

"released" is att_Net restated for torch 2.14 with the released code's layers, views, xavier init,
softmax before `nn.MultiLabelSoftMarginLoss` and zero LSTM states; it is the timing reference
only (its loss differs from eq. 6, docs/fidelity.md), so "same results" is not claimed here.
That the speed rewrites of our models change no result is tests/test_model_equivalence.py's job.

Inputs have AVE's sizes (T=10 segments, C_a=128, 7x7x512 visual maps, 29 classes; a 3339-video
training split, batch 64 as in Sec. IV-A). Holding 3339 random videos would take 3.3 GB, so a
pool of `--pool` videos is drawn from at random; each step copies its batch host -> device as a
real DataLoader does. Each model lives in its own process (its peak RSS is its own), built and
warmed up once; then `--rounds` rounds each time `--iterations` steps of every model in turn (the
order rotating), so a change in the machine's load falls on all models alike, and a model's ratio
to "released" is taken within each round. Every round prints wall time, the process's CPU time
(CPU s per wall s below the thread count means the process waited for a core) and the load
average. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

import torch
import torch.nn.functional as F
from torch import nn

from avel.common.config import DEVICES, MODELS, ModelConfig, TrainConfig
from avel.common.device import resolve_device
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
class Round:
    """One model's timed steps in one round."""

    videos_per_second: float
    wall_seconds: float
    cpu_seconds: float  # this process's CPU time (all its threads) over the same steps


@dataclass
class Info:
    model: str
    parameters: int
    device: str
    threads: int
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


class _Trainer:
    """One model's SEL training step (forward, eq. 6 loss, backward, Adam) on its random pool."""

    def __init__(self, model_name: str, device_name: str, batch_size: int, pool_size: int) -> None:
        torch.manual_seed(0)
        self.name, self.batch_size, self.pool_size = model_name, batch_size, pool_size
        self.device = resolve_device(device_name)
        self.config = ModelConfig(model="baseline" if model_name == RELEASED else model_name, task="sel")
        model = ReleasedAttNet(self.config) if model_name == RELEASED else build_model(self.config)
        self.model = model.to(self.device).train()
        self.released_loss = nn.MultiLabelSoftMarginLoss()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=TrainConfig().lr)
        self.generator = torch.Generator().manual_seed(0)
        self.pool = _random_pool(self.config, pool_size, self.generator)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        self.run(WARMUP_ITERATIONS)

    def step(self) -> None:
        rows = torch.randint(0, self.pool_size, (self.batch_size,), generator=self.generator)
        batch = {name: values[rows].to(self.device, non_blocking=True) for name, values in self.pool.items()}
        output = self.model(batch["audio"], batch["visual"])
        if self.name == RELEASED:
            loss = self.released_loss(output, batch["labels"])
        else:
            loss = compute_loss(output, batch, self.config)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def run(self, iterations: int) -> Round:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(iterations):
            self.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        return Round(iterations * self.batch_size / wall, wall, cpu)

    def info(self) -> Info:
        device = self.device
        return Info(
            model=self.name,
            parameters=sum(p.numel() for p in self.model.parameters()),
            device=str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
            threads=torch.get_num_threads(),
            peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # Linux: KiB
            cuda_peak_mb=torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
        )


_TRAINER: _Trainer | None = None  # the worker process's model


def _start(model_name: str, device_name: str, batch_size: int, pool_size: int, threads: int | None) -> None:
    global _TRAINER
    if threads is not None:
        torch.set_num_threads(threads)
    _TRAINER = _Trainer(model_name, device_name, batch_size, pool_size)


def _run(iterations: int) -> Round:
    assert _TRAINER is not None
    return _TRAINER.run(iterations)


def _info() -> Info:
    assert _TRAINER is not None
    return _TRAINER.info()


def _load() -> str:
    return "/".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", choices=DEVICES, default="auto")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds over the models")
    parser.add_argument("--iterations", type=int, default=20, help="timed training steps per model per round")
    parser.add_argument("--batch-size", type=int, default=64, help="paper: 64 for SEL")
    parser.add_argument("--pool", type=int, default=256, help="distinct random videos held in memory")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads per model (default: one per core)"
    )
    parser.add_argument("--models", nargs="+", choices=(RELEASED, *MODELS), default=[RELEASED, *MODELS])
    args = parser.parse_args()
    names = list(dict.fromkeys(args.models))

    print(f"SEL training, AVE shapes: T={NUM_SEGMENTS}, audio 128, visual 7x7x512, 29 classes")
    print(f"{os.cpu_count()} CPUs, load average (1/5/15 min) at start {_load()}")
    spawn = get_context("spawn")  # a process per model: its own peak RSS and CUDA context
    workers = {
        name: ProcessPoolExecutor(
            max_workers=1,
            mp_context=spawn,
            initializer=_start,
            initargs=(name, args.device, args.batch_size, args.pool, args.threads),
        )
        for name in names
    }
    try:
        for worker in workers.values():  # build and warm up every model before timing any
            worker.submit(_info).result()
        rounds: dict[str, list[Round]] = {name: [] for name in names}
        print("round  " + "  ".join(f"{name + ' videos/s (wall s, CPU s)':>34}" for name in names) + "  load")
        for index in range(args.rounds):
            order = names[index % len(names) :] + names[: index % len(names)]
            for name in order:
                rounds[name].append(workers[name].submit(_run, args.iterations).result())
            cells = (
                f"{r.videos_per_second:>14.1f} ({r.wall_seconds:6.2f}, {r.cpu_seconds:6.2f})"
                for r in (rounds[name][-1] for name in names)
            )
            print(f"{index + 1:>5}  " + "  ".join(f"{cell:>34}" for cell in cells) + f"  {_load()}")
        infos = {name: workers[name].submit(_info).result() for name in names}
    finally:
        for worker in workers.values():
            worker.shutdown()
    _report(names, rounds, infos, args)


def _report(
    names: list[str], rounds: dict[str, list[Round]], infos: dict[str, Info], args: argparse.Namespace
) -> None:
    """Medians over the rounds; a ratio is the median of the per-round ratios to "released"."""
    columns = ("params", "videos/s", "x released", "CPU s/step", "CPU/wall", "s/epoch", "h/300ep", "RSS MB")
    print(f"\n{'model':<9} " + " ".join(f"{column:>10}" for column in columns) + "  CUDA MB  device")
    for name in names:
        figures, info = rounds[name], infos[name]
        speed = statistics.median(r.videos_per_second for r in figures)
        if RELEASED in rounds:
            ratios = [
                r.videos_per_second / ref.videos_per_second
                for r, ref in zip(figures, rounds[RELEASED], strict=True)
            ]
            ratio = f"{statistics.median(ratios):.2f}"
        else:
            ratio = "-"
        cpu_per_step = sum(r.cpu_seconds for r in figures) / (len(figures) * args.iterations)
        cpu_share = sum(r.cpu_seconds for r in figures) / sum(r.wall_seconds for r in figures)
        epoch_seconds = AVE_TRAIN_VIDEOS / speed
        values = (
            f"{info.parameters}",
            f"{speed:.1f}",
            ratio,
            f"{cpu_per_step:.3f}",
            f"{cpu_share:.2f}",
            f"{epoch_seconds:.1f}",
            f"{PAPER_EPOCHS * epoch_seconds / 3600:.2f}",
            f"{info.peak_rss_mb:.0f}",
        )
        cuda = "-" if info.cuda_peak_mb is None else f"{info.cuda_peak_mb:.0f}"
        print(
            f"{name:<9} "
            + " ".join(f"{value:>10}" for value in values)
            + f"  {cuda:>7}  {info.device}, {info.threads} threads"
        )
    print(
        f"{args.rounds} rounds x {args.iterations} timed steps of batch {args.batch_size} per model, after "
        f"{WARMUP_ITERATIONS} warm-up steps; medians over rounds; epoch = {AVE_TRAIN_VIDEOS} videos; RSS "
        f"includes the {args.pool}-video pool; load average at end {_load()}; targets: co-attention >= 0.5x "
        "and baseline >= 1.0x the released att_Net's videos/s"
    )


if __name__ == "__main__":
    main()
