"""torchrun on this CPU: 2 gloo processes on loopback against 1, for training and for extraction.

The 1-process reference is launched by torchrun too (`--nproc_per_node 1`), so it takes the same
distributed path (DistributedSampler, DDP, a shard that is the whole list) and sees the same global
batches; only the split over ranks differs. Plain `python -m avel` runs never reach these paths
(the no-op checks below; tests/test_train_eval.py holds their bit-exact resume tests).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from clipgen import make_clip

from avel.common import distributed
from avel.common.config import FeatureConfig, ModelConfig, RunConfig, TrainConfig
from avel.features.extract import PARTS_DIR, extract_videos
from avel.features.extractor import file_sha256
from avel.features.projection import Projection
from avel.training.checkpoint import read_checkpoint
from avel.training.train import train

ROOT = Path(__file__).resolve().parents[1]
# DDP averages the ranks' gradients in float32 in another order than one process sums its batch:
# after 6 Adam steps the weights of 2 ranks agree with 1 rank's to this (measured: 1.1e-6).
WEIGHT_ATOL = 1e-5
K, SECONDS = 2, 3


def torchrun(nproc: int, *args: str, log_level: str = "warning") -> subprocess.CompletedProcess[str]:
    """`python -m avel ARGS` under torchrun with `nproc` CPU workers on loopback (--standalone)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    done = subprocess.run(
        [*command, "-m", "avel", "--log-level", log_level, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done


# ------------------------------------------------------------------------------------ the helpers


def test_without_torchrun_every_helper_is_a_no_op() -> None:
    plain = distributed.from_env({})
    assert plain == distributed.Context() and plain.is_main and not plain.launched
    assert distributed.setup(torch.device("cpu")) == (plain, torch.device("cpu"))  # no group joined
    assert not torch.distributed.is_initialized()
    assert distributed.all_reduce_sums([1.5, 3.0]) == [1.5, 3.0]
    assert distributed.shard(list(range(5)), plain) == list(range(5))
    assert distributed.gather_shards([1, 2], 2, plain) == [1, 2]
    model = torch.nn.Linear(2, 2)
    assert distributed.wrap(model, plain, torch.device("cpu")) is model
    assert distributed.local_batch(64, plain) == 64


def test_shards_are_disjoint_deterministic_and_cover_the_list() -> None:
    items = [f"v{i:02d}.mp4" for i in range(11)]
    contexts = [distributed.Context(rank=r, world_size=3, launched=True) for r in range(3)]
    shards = [distributed.shard(items, c) for c in contexts]
    assert [len(s) for s in shards] == [4, 4, 3]
    assert sorted(item for s in shards for item in s) == items and shards[1] == [
        "v01.mp4",
        "v04.mp4",
        "v07.mp4",
        "v10.mp4",
    ]
    env = {"RANK": "2", "WORLD_SIZE": "3", "LOCAL_RANK": "0"}
    assert distributed.from_env(env) == distributed.Context(rank=2, world_size=3, local_rank=0, launched=True)
    with pytest.raises(ValueError, match="not divisible by the 3 ranks"):
        distributed.local_batch(8, contexts[0])
    with pytest.raises(ValueError, match="launch with torchrun"):
        distributed.from_env({"RANK": "0"})


# --------------------------------------------------------------------------------------- training


def test_ddp_on_two_ranks_trains_as_one_rank_on_the_same_global_batches(
    random_ave_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """24 training videos, global batch 8: 3 steps an epoch of 4 videos per rank. The 2-rank run
    is interrupted after epoch 1 and resumed (same command, more epochs). The 1-rank reference
    runs in this process as torchrun would start it (its variables, a gloo group of one)."""
    one, two = tmp_path / "one", tmp_path / "two"
    model, train_config = ModelConfig(task="sel"), TrainConfig(epochs=2, batch_size=8, device="cpu")
    with socket.socket() as probe:  # a free loopback port for the group of one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for name, value in {
        "RANK": "0",
        "WORLD_SIZE": "1",
        "LOCAL_RANK": "0",
        "MASTER_ADDR": "127.0.0.1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MASTER_PORT", str(port))
    try:
        train(RunConfig(data=str(random_ave_dir), out=str(one), model=model, train=train_config))
    finally:
        distributed.shutdown()
    args = ["train", "--task", "sel", "--data", str(random_ave_dir), "--device", "cpu", "--batch-size", "8"]
    torchrun(2, *args, "--out", str(two), "--epochs", "1")
    resumed = torchrun(2, *args, "--out", str(two), "--epochs", "2", log_level="info")  # from last.pt
    assert resumed.stdout.count("best epoch") == 1  # rank 0 alone prints the summary
    for rank in (0, 1):  # the log says the run was distributed, and how the batch was split
        assert f"rank {rank} of world size 2 (local rank {rank}), backend gloo" in resumed.stderr
        assert (
            f"rank {rank} takes 4 of each global batch of 8 (12 of the 24 training videos" in resumed.stderr
        )

    for name in ("last.pt", "best.pt"):
        expected, found = read_checkpoint(one / name), read_checkpoint(two / name)
        assert found["epoch"] == expected["epoch"]
        assert expected["model_state"].keys() == found["model_state"].keys()  # no DDP "module." prefix
        for key, value in expected["model_state"].items():
            torch.testing.assert_close(found["model_state"][key], value, atol=WEIGHT_ATOL, rtol=0)
    history = [
        [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()] for out in (one, two)
    ]
    assert len(history[0]) == len(history[1]) == 2
    for expected, found in zip(*history, strict=True):
        # the loss is all-reduced over both ranks' videos: the mean over all 24, as on one rank
        assert found["loss"] == pytest.approx(expected["loss"], abs=1e-5)
        assert found["val_accuracy"] == pytest.approx(expected["val_accuracy"], abs=1e-6)
        assert found["best"] == expected["best"]
    # rank 0 alone writes: exactly the files of a single-process run
    assert {p.name for p in two.iterdir()} == {"best.pt", "last.pt", "history.jsonl", "config.json"}


# ------------------------------------------------------------------------------------- extraction


def _read(out: Path) -> dict[str, np.ndarray]:
    arrays = {}
    for name in ("audio_feature.h5", "visual_feature.h5"):
        with h5py.File(out / name, "r") as f:
            arrays[name] = f["avadataset"][()]
    return arrays


def _manifest(out: Path) -> list[dict[str, str]]:
    with open(out / "videos.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_sharded_extraction_equals_one_process_and_resumes_a_dead_ranks_shard(tmp_path: Path) -> None:
    """4 videos, shards {clip0, clip2} and {clip1, short}; rank 0 restarts after having finished
    clip2 (its part is left from the one-process run), so it encodes clip0 only."""
    videos = tmp_path / "videos"
    videos.mkdir()
    for i in range(3):
        make_clip(videos / f"clip{i}.mp4", SECONDS, fps=4 + i)
    make_clip(videos / "short.mp4", SECONDS - 1, fps=4)  # skipped as too short by its rank
    fit_on = tmp_path / "train.txt"
    fit_on.write_text("videos/clip0.mp4\nvideos/clip2.mp4\n")

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each torchrun worker (OMP_NUM_THREADS=1): the same float sums
    try:
        single = extract_videos(
            videos,
            tmp_path / "single",
            FeatureConfig(frames_per_segment=K),
            segments=SECONDS,
            project_to=(6, 4),
            fit_on=[videos / "clip0.mp4", videos / "clip2.mp4"],
            device="cpu",
        )
    finally:
        torch.set_num_threads(threads)

    sharded = tmp_path / "sharded"
    (settings,) = (single.out_dir / PARTS_DIR).iterdir()
    finished = sharded / PARTS_DIR / settings.name / f"{file_sha256(videos / 'clip2.mp4')}.npz"
    finished.parent.mkdir(parents=True)
    shutil.copy2(settings / finished.name, finished)
    finished_at = finished.stat().st_mtime_ns

    args = ["extract", str(videos), "--out", str(sharded), "--fps", str(K), "--segments", str(SECONDS)]
    args += ["--project-to", "6,4", "--fit-on", str(fit_on), "--device", "cpu"]
    printed = torchrun(2, *args).stdout
    assert printed.count("extracted 3 of 4 videos") == 1  # rank 0 prints the summary once
    assert finished.stat().st_mtime_ns == finished_at  # the restarted rank skipped its finished part
    assert sorted(p.name for p in finished.parent.iterdir()) == sorted(p.name for p in settings.iterdir())

    expected, found = _read(single.out_dir), _read(sharded)
    for name, array in expected.items():
        np.testing.assert_array_equal(found[name], array)  # bit-identical at equal thread counts
    keep = ("row", "path", "sha256", "duration", "segments", "status")
    rows = [[{k: r[k] for k in keep} for r in _manifest(out)] for out in (single.out_dir, sharded)]
    assert rows[1] == rows[0] and [r["status"] for r in rows[0]].count("ok") == 3
    assert Projection.load(sharded / "projection.pt").id == single.projection.id  # fitted once, on the list
