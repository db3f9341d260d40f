"""Process-group helpers: the same ``pmsn train`` runs alone or under ``torchrun`` (DDP).

torchrun sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; with them present the process group is initialised
with NCCL on CUDA and Gloo on CPU. Rank 0 logs and writes files; metrics are summed over ranks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Context:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init(device: torch.device) -> Context:
    """Join the torchrun process group when launched by torchrun; a plain process gets the trivial context."""
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) <= 1:
        return Context()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Context(dist.get_rank(), int(os.environ.get("LOCAL_RANK", 0)), dist.get_world_size())


def local_device(requested: str) -> torch.device:
    """``"auto"`` → CUDA when available; under torchrun each rank takes the GPU of its LOCAL_RANK."""
    name = ("cuda" if torch.cuda.is_available() else "cpu") if requested == "auto" else requested
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {requested!r} requested but CUDA is not available; use --device cpu")
        if device.index is None:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    return device


def sum_over_ranks(values: list[float], context: Context, device: torch.device) -> list[float]:
    if not context.distributed:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def gather_objects(obj, context: Context) -> list:
    if not context.distributed:
        return [obj]
    gathered = [None] * context.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def broadcast_object(obj, context: Context):
    if not context.distributed:
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def barrier(context: Context) -> None:
    if context.distributed:
        dist.barrier()


def shutdown(context: Context) -> None:
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()
