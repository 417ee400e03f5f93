"""Training on several processes (`torchrun --nproc_per_node N -m mbsnet train ...`): DistributedDataParallel with rank-sharded batches.

    init_from_env()    starts the process group from torchrun's variables (RANK, WORLD_SIZE,
                       LOCAL_RANK, MASTER_ADDR, MASTER_PORT): backend nccl on CUDA, gloo on a
                       CPU; does nothing when WORLD_SIZE is absent or 1
    current()          the Rank of this process ({rank, world_size, local_rank}); rank 0 of 1
                       when no process group is running
    Rank.device()      cuda:LOCAL_RANK on a GPU machine, else the CPU
    Rank.wrap(model)   DistributedDataParallel (with `cfg` passed through), or the model itself
    Rank.shard(x)      this rank's rows of a global batch
    Rank.mean(row)     a dict of floats averaged over the ranks (for the logs)

The batches: every rank draws the same global batch of a step (the trainer's RNG is seeded by
(seed, step)) and keeps its contiguous share of rows, so N processes at global batch B train on
exactly the examples one process at batch B does, and resume stays exact. (Each rank loads the
whole global batch: cheap for audio crops, and it keeps one code path.) DDP averages the
gradients, and the loss is a mean over equal shares, so the step equals one process's step at the
same global batch up to float summation order (tests/test_distributed.py). Only rank 0 writes
checkpoints, logs, evaluations and the progress bar.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from mbsnet.errors import InputError


def init_from_env(timeout_minutes: float = 30.0) -> "Rank":
    """Start the process group from torchrun's environment (once); return this process's Rank."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        import datetime

        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=timeout_minutes))
    return current()


def shutdown() -> None:
    """End the process group, if one is running."""
    if dist.is_initialized():
        dist.destroy_process_group()


def current() -> "Rank":
    """This process's place in the running process group (rank 0 of 1 without one)."""
    if not dist.is_initialized():
        return Rank(0, 1, 0)
    return Rank(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


class _DDP(DistributedDataParallel):
    """DistributedDataParallel that answers `cfg` like the MBSNet it wraps."""

    @property
    def cfg(self):
        return self.module.cfg


@dataclass(frozen=True)
class Rank:
    """One process of a (possibly one-process) training run."""

    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def device(self, requested=None) -> torch.device:
        if requested is not None:
            return torch.device(requested)
        if torch.cuda.is_available():
            return torch.device("cuda", self.local_rank if self.distributed else 0)
        return torch.device("cpu")

    def check_batch(self, batch_size: int) -> None:
        if batch_size % self.world_size:
            raise InputError(f"the batch ({batch_size}) is the global batch and must be a multiple of "
                             f"the number of processes ({self.world_size})")

    def wrap(self, model):
        if not self.distributed:
            return model
        device = next(model.parameters()).device
        return _DDP(model, device_ids=[device.index] if device.type == "cuda" else None)

    def barrier(self) -> None:
        """Wait for every rank (nothing to wait for in a one-process run)."""
        if self.distributed:
            dist.barrier()

    def shard(self, *tensors):
        """This rank's contiguous rows of each (B, ...) tensor (B a multiple of world_size)."""
        if not self.distributed:
            return tensors
        return tuple(t.chunk(self.world_size)[self.rank] for t in tensors)

    def mean(self, row: dict) -> dict:
        """`row` with its float values averaged over the ranks (others unchanged)."""
        if not self.distributed:
            return row
        keys = [k for k, v in row.items() if isinstance(v, float)]
        values = torch.tensor([row[k] for k in keys], dtype=torch.float64)
        if dist.get_backend() == "nccl":
            values = values.cuda()
        dist.all_reduce(values)
        return {**row, **{k: float(v) / self.world_size for k, v in zip(keys, values.cpu())}}
