"""Ranks started by torchrun: who am I, the process group, and the few collectives avel needs.

torchrun (`python -m torch.distributed.run`) sets RANK, WORLD_SIZE and LOCAL_RANK in every worker's
environment. Without them (a plain `python -m avel ...`) every helper here is a no-op, so
single-process runs execute exactly the code they did before distributed support existed.
Under torchrun, even with one process, training and extraction take their distributed paths
(DistributedSampler, DDP, shards): that one-process run is the reference the 2-process tests
compare against. Backends: gloo on the CPU, NCCL on CUDA with one device per LOCAL_RANK
(DistributedConfig); docs/distributed.md says how to launch on one node, several, and SLURM.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from avel.common.config import DistributedConfig

T = TypeVar("T")
log = logging.getLogger(__name__)
ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")  # what torchrun sets in every worker


@dataclass(frozen=True)
class Context:
    """This process's place among the ranks; the default is a plain single-process run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    launched: bool = False  # started by torchrun: collectives are real, even with world_size 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the only rank that writes run files, manifests and merged features."""
        return self.rank == 0


def from_env(env: Mapping[str, str] | None = None) -> Context:
    """The Context torchrun's variables describe; a plain Context when they are absent."""
    env = os.environ if env is None else env
    present = [name for name in ENV_VARS if name in env]
    if not present:
        return Context()
    if len(present) < len(ENV_VARS):
        missing = sorted(set(ENV_VARS) - set(present))
        raise ValueError(f"torchrun environment: found {present} but not {missing}; launch with torchrun")
    rank, world_size, local_rank = (int(env[name]) for name in ENV_VARS)
    if not (0 <= rank < world_size and local_rank >= 0):
        raise ValueError(
            f"torchrun environment: RANK {rank}, WORLD_SIZE {world_size}, LOCAL_RANK {local_rank}"
        )
    return Context(rank=rank, world_size=world_size, local_rank=local_rank, launched=True)


def setup(device: torch.device, config: DistributedConfig | None = None) -> tuple[Context, torch.device]:
    """Join the process group when launched by torchrun; returns the context and this rank's device.

    CUDA ranks get cuda:LOCAL_RANK and NCCL; CPU ranks gloo. Without torchrun: (Context(), device).
    """
    context = from_env()
    if not context.launched:
        return context, device
    config = config or DistributedConfig()
    if device.type == "cuda":
        device = torch.device("cuda", context.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = config.cuda_backend if device.type == "cuda" else config.cpu_backend
        dist.init_process_group(backend, timeout=timedelta(minutes=config.timeout_minutes))
    log.info(
        "distributed run: rank %d of world size %d (local rank %d), backend %s, device %s",
        context.rank,
        context.world_size,
        context.local_rank,
        dist.get_backend(),
        device,
    )
    return context, device


def shutdown() -> None:
    """Leave the process group (no-op when none was joined); the CLI calls it once a command ends."""
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (no-op in a single-process run)."""
    if dist.is_initialized():
        dist.barrier()


def all_reduce_sums(values: Sequence[float]) -> list[float]:
    """Element-wise sums of `values` over the ranks, in float64; the values unchanged without a group."""
    if not dist.is_initialized():
        return list(values)
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None
    sums = torch.tensor(list(values), dtype=torch.float64, device=device)
    dist.all_reduce(sums, op=dist.ReduceOp.SUM)
    return sums.tolist()


def shard(items: Sequence[T], context: Context) -> list[T]:
    """This rank's share: every world_size-th item from position rank (disjoint, covering, and
    interleaved, so ranks get similar mixes of a sorted list whatever its order)."""
    return list(items[context.rank :: context.world_size])


def gather_shards(mine: Sequence[T], total: int, context: Context) -> list[T]:
    """Every rank's shard (pickled objects), put back in the order of the list `shard` cut up."""
    if not context.launched:
        return list(mine)
    shards: list[list[T] | None] = [None] * context.world_size
    dist.all_gather_object(shards, list(mine))
    merged: list[T | None] = [None] * total
    for rank, items in enumerate(shards):
        merged[rank :: context.world_size] = items
    return merged  # type: ignore[return-value]  # every slot is filled: the shards cover the list


def local_batch(batch_size: int, context: Context) -> int:
    """Each rank's batch for a global `batch_size`; refuses one that the ranks cannot split evenly
    (unequal per-rank batches would weight DDP's averaged gradient unevenly)."""
    if batch_size % context.world_size:
        raise ValueError(
            f"batch size {batch_size} is not divisible by the {context.world_size} ranks; the batch "
            "size is the global one (each rank takes batch_size / world_size)"
        )
    return batch_size // context.world_size


def wrap(model: nn.Module, context: Context, device: torch.device) -> nn.Module:
    """The model DistributedDataParallel-wrapped when launched by torchrun; itself otherwise."""
    if not context.launched:
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)
