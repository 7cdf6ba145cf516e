"""Multi-process data parallelism via ``torchrun`` (NCCL on CUDA, gloo on CPU).

Gradients are averaged with one flattened all-reduce per network after backward, as in
StyleGAN2-ADA, instead of wrapping models in DistributedDataParallel: the gradient penalty needs
double backward, which DDP's reducer does not support, and stage-dependent unused parameters
would need ``find_unused_parameters``.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group that ``torchrun`` describes in the environment (if any)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device_type == "cuda":
        torch.cuda.set_device(local)  # else every rank's NCCL context lands on GPU 0
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return DistInfo(rank, world, local)


def all_reduce_mean_grads(params: list[torch.nn.Parameter], info: DistInfo) -> None:
    """Average gradients over ranks (parameters without a gradient get zeros on every rank)."""
    if not info.enabled:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.flatten() for g in grads])
    dist.all_reduce(flat)
    flat /= info.world_size
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        if p.grad is not None:
            p.grad.copy_(flat[offset : offset + n].view_as(g))
        offset += n


def broadcast_params(modules: list[torch.nn.Module], info: DistInfo) -> None:
    if not info.enabled:
        return
    for m in modules:
        for t in list(m.parameters()) + list(m.buffers()):
            dist.broadcast(t.data, src=0)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def shutdown(info: DistInfo, ok: bool = True) -> None:
    """Leave the process group. After success a barrier first avoids an intermittent abort at
    exit on gloo; after an error there is no barrier (the other ranks may never reach it)."""
    if info.enabled and dist.is_initialized():
        gc.collect()
        if ok:
            dist.barrier()
        dist.destroy_process_group()
