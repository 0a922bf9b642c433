"""DistributedDataParallel for training runs launched by ``torchrun``.

``torchrun --nproc_per_node N -m statetrack train ...`` (or ``--nnodes``/``--rdzv-endpoint`` for several machines)
sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and ``MASTER_ADDR``/``MASTER_PORT``; :func:`from_env` then joins the
process group (``nccl`` with one GPU per process, ``gloo`` on the CPU). Every rank draws the same global batch of a
step (the generator depends on ``(seed, step)`` only) and trains on its slice ``rank::world_size``; DDP averages the
gradients, so the run does not depend on the number of processes apart from floating-point summation order.
Only rank 0 writes metrics and checkpoints.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from .tasks import Batch


@dataclass
class DistContext:
    """This process's place in the group: ``rank``, ``world_size``, ``device``."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    def wrap(self, model: nn.Module) -> nn.Module:
        """The model under DistributedDataParallel (parameters broadcast from rank 0)."""
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DDP(model, device_ids=ids)

    def shard(self, batch: Batch) -> Batch:
        """This rank's rows ``rank::world_size`` of the global batch."""
        sl = slice(self.rank, None, self.world_size)
        return Batch(batch.ids[sl], batch.lengths[sl], batch.targets[sl], batch.mask[sl])

    def global_mean_weight(self, n_local: int, device: torch.device) -> float:
        """Factor that turns this rank's mean loss over ``n_local`` labelled positions into its share of the mean
        over all ranks' positions, given that DDP averages the ranks' gradients: ``n_local * world_size / n_global``.
        """
        import torch.distributed as dist

        n = torch.tensor([float(n_local)], device=device)
        dist.all_reduce(n)
        return float(n_local) * self.world_size / max(float(n.item()), 1.0)

    def mean(self, x: torch.Tensor) -> torch.Tensor:
        """The mean of a scalar over the ranks (for logging)."""
        import torch.distributed as dist

        y = x.detach().clone().float()
        dist.all_reduce(y)
        return y / self.world_size

    def barrier(self) -> None:
        import torch.distributed as dist

        dist.barrier()


def launched() -> bool:
    """Whether this process was started by torchrun (``WORLD_SIZE`` > 1 in the environment)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def env_rank() -> int:
    """This process's global rank from the torchrun environment (0 when not launched by torchrun)."""
    return int(os.environ.get("RANK", "0"))


def from_env(backend: str | None = None) -> DistContext:
    """Join the process group described by the torchrun environment variables."""
    import torch.distributed as dist

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    cuda = torch.cuda.is_available()
    backend = backend or ("nccl" if cuda else "gloo")
    if cuda:
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistContext(rank, world, local, device)


def shutdown() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


__all__ = ["DistContext", "from_env", "launched", "env_rank", "shutdown"]
