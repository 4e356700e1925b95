"""Training on several processes (torchrun): who this process is, and the few collective steps
the trainer needs.

`torchrun` (or `python -m torch.distributed.run`) starts one process per GPU (or CPU share) and
tells each its place in the RANK / WORLD_SIZE / LOCAL_RANK environment variables. Without them
this module is a no-op: world size 1, no process group, the same code path as always.

Rank 0 is the main process: it validates and writes (model folder, checkpoint, progress); the
others train their share of each global batch and follow its decisions, which `from_main`
broadcasts, so every rank stops after the same epoch.

Batch norm: on CUDA the layers become SyncBatchNorm (statistics over the global batch). On the
CPU (gloo) torch's SyncBatchNorm does not run, so each rank normalises with its own part of the
batch and DDP copies rank 0's running statistics to the others before each forward pass
(`broadcast_buffers`): training is then close to, not equal to, one process with the global batch.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
from torch import nn

# Rank 0 validates while the others wait in a collective; NCCL's default 10-minute watchdog
# would kill a run whose validation set takes longer than that.
WAIT = timedelta(hours=2)


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.size > 1

    def seed(self, seed: int) -> int:
        """This rank's random seed: the run's own on rank 0 (a single process is unchanged),
        a different, reproducible one on each other rank (dropout masks differ per rank)."""
        return seed + 1_000_003 * self.rank


def from_env() -> World:
    """The world torchrun describes in the environment; world size 1 without it."""
    try:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        return World()
    return World(rank, size, local) if size > 1 else World()


def current() -> World:
    """The world of the process group running now (world size 1 when none is)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return World()
    return World(dist.get_rank(), dist.get_world_size(), from_env().local_rank)


def rank_device(device: torch.device, world: World) -> torch.device:
    """Each process on a node drives its own GPU (LOCAL_RANK); CPU stays the CPU."""
    if world.parallel and device.type == "cuda":
        return torch.device("cuda", world.local_rank)
    return device


@contextmanager
def session(device: torch.device) -> Iterator[tuple[World, torch.device]]:
    """Join the process group torchrun set up (NCCL for CUDA, gloo otherwise, Windows included)
    for the length of a job; yields this process's world and device. Nothing without torchrun,
    or when a group is already running (a test or a script that made its own)."""
    import torch.distributed as dist

    world = from_env()
    if not world.parallel or dist.is_initialized():
        yield current(), rank_device(device, current())
        return
    device = rank_device(device, world)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" and os.name != "nt" else "gloo"
    dist.init_process_group(backend, rank=world.rank, world_size=world.size, timeout=WAIT)
    try:
        yield world, device
    finally:
        dist.destroy_process_group()


def barrier(world: World) -> None:
    """Wait until every rank got here (e.g. until rank 0 has written the model folder)."""
    if world.parallel:
        import torch.distributed as dist

        dist.barrier()


def from_main(world: World, value):
    """`value` as rank 0 has it (any picklable object), on every rank."""
    if not world.parallel:
        return value
    import torch.distributed as dist

    box = [value if world.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def mean(world: World, value: float) -> float:
    """The mean of `value` over the ranks (the epoch's loss over the whole global batch)."""
    if not world.parallel:
        return value
    import torch.distributed as dist

    tensor = torch.tensor([float(value)], dtype=torch.float64)
    dist.all_reduce(tensor)
    return float(tensor.item()) / world.size


def has_batch_norm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def wrap(model: nn.Module, device: torch.device, world: World) -> nn.Module:
    """The module to run forward/backward through: `model` itself on one process, else
    DistributedDataParallel around it (gradients averaged over the ranks in backward), with
    SyncBatchNorm on CUDA. `model` stays the module whose weights are saved."""
    if not world.parallel:
        return model
    from torch.nn.parallel import DistributedDataParallel

    if device.type == "cuda" and has_batch_norm(model):
        converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        if converted is not model:  # the root itself was a batch-norm layer: keep one module
            raise ValueError("a bare batch-norm layer cannot be trained on several GPUs")
    ids = [device.index] if device.type == "cuda" else None
    # frozen parameters are left out when the wrapper is made (the trainer makes one per
    # phase); searching the graph for unused ones each step would cost time for nothing
    return DistributedDataParallel(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (its state is what checkpoints and model folders hold)."""
    return getattr(model, "module", model)


def rank_share(order: Sequence[int], batch: int, world: World) -> list[int]:
    """This rank's indices of one epoch's `order`: the order is cut into global batches of
    `batch` x world size, and each rank takes every world-th index of each, so the ranks'
    batches of one step are together exactly the global batch one process would draw.
    Fewer items than a global batch: one step, the order repeated to split evenly."""
    order = list(order)
    step = batch * world.size
    usable = len(order) // step * step
    if not usable:
        per_rank = math.ceil(len(order) / world.size)
        order = (order * world.size)[: per_rank * world.size] if world.parallel else order
        usable = len(order)
    return order[:usable][world.rank :: world.size]
