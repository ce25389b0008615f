"""Process-group set-up for torchrun (DistributedDataParallel: gloo on CPU, nccl on GPU), shared by every
trainer (generator, encoder, and those to come) through `stylegan.train`."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


@dataclass
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool  # we created the process group, so we destroy it at the end

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the process group: an existing one (e.g. made by a test), torchrun's env (RANK, WORLD_SIZE,
    MASTER_ADDR...), or none (single process). Picks `cuda:LOCAL_RANK` when CUDA is there and `device`
    is 'auto'."""
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if device == "auto":
        device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, dev, owns_group=False)
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    if world_size > 1:
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
        return DistInfo(dist.get_rank(), world_size, local_rank, dev, owns_group=True)
    return DistInfo(0, 1, 0, dev, owns_group=False)


def rank_world() -> tuple[int, int]:
    """`(rank, world size)` of the current process group, `(0, 1)` without one."""
    return (dist.get_rank(), dist.get_world_size()) if dist.is_available() and dist.is_initialized() else (0, 1)


def rank_file(path: str | os.PathLike) -> Path:
    """Where this rank keeps its share of a resumable file: `path` itself in one process, `path.rank{r}` under
    torchrun (the ranks then merge their parts; the data builders of Delta-GAN and swap training do)."""
    rank, world = rank_world()
    return Path(path) if world == 1 else Path(f"{path}.rank{rank}")


def close_distributed(info: DistInfo) -> None:
    """Leave the process group if `init_distributed` made it (pair it with a try/finally)."""
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def all_mean(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of a statistic over ranks (for w_avg and the path-length mean, which must agree everywhere)."""
    if info.world_size == 1:
        return x
    x = x.clone()
    dist.all_reduce(x)
    return x / info.world_size


def wrap_ddp(module: torch.nn.Module, info: DistInfo, **kwargs) -> torch.nn.Module:
    """`module` in DistributedDataParallel on this process's device when several processes train, else
    `module` itself. `kwargs` go to DistributedDataParallel (e.g. broadcast_buffers=False)."""
    if info.world_size == 1:
        return module
    return DistributedDataParallel(module, device_ids=[info.device.index] if info.device.type == "cuda" else None,
                                   **kwargs)
