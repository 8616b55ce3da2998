"""Data-parallel training over several processes started by ``torchrun``.

``torchrun --nproc_per_node N -m fer_video.cli train --config ...`` starts N copies of the same
command; each reads its place (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``) from the environment,
joins a process group (gloo on CPU, nccl on CUDA, where rank r uses ``cuda:LOCAL_RANK``), trains
its slice of every global batch inside :class:`~torch.nn.parallel.DistributedDataParallel` and
reduces its metrics with the others. Without that environment (``WORLD_SIZE`` unset or 1) every
helper here is a no-op, so one plain process trains exactly as before.

BatchNorm statistics are per process (each normalises its own slice of the batch): PyTorch's
``SyncBatchNorm`` runs on GPUs only, not on CPU with gloo. Rank 0's running statistics are copied
to the others before every evaluation, so all ranks score the weights that rank 0 saves.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from fer_video.device import resolve_device


@dataclass(frozen=True)
class DistributedContext:
    """Where this process sits among ``world_size`` training processes (rank 0 writes the files)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def local_batch_size(self, global_batch: int) -> int:
        """Each process's share of the global batch; it must divide evenly."""
        if global_batch % self.world_size:
            raise ValueError(
                f"batch_size {global_batch} (the global batch) is not divisible by the {self.world_size} processes"
            )
        return global_batch // self.world_size

    def shard(self, length: int) -> slice:
        """This rank's contiguous share of ``length`` items (near-equal shares, in rank order)."""
        return slice(length * self.rank // self.world_size, length * (self.rank + 1) // self.world_size)


SINGLE_PROCESS = DistributedContext()


def context_from_env() -> DistributedContext:
    """The context ``torchrun`` describes in ``RANK`` / ``LOCAL_RANK`` / ``WORLD_SIZE`` (one process if unset)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return SINGLE_PROCESS
    return DistributedContext(
        rank=int(os.environ["RANK"]), local_rank=int(os.environ.get("LOCAL_RANK", "0")), world_size=world_size
    )


def rank_device(device: str, context: DistributedContext) -> torch.device:
    """``cpu``, or ``cuda:LOCAL_RANK`` when ``device`` is ``auto`` / ``cuda`` and a GPU is present."""
    resolved = resolve_device(device)
    if resolved.type != "cuda" or not context.enabled:
        return resolved
    if resolved.index is not None:
        raise ValueError(f"under torchrun each process uses cuda:LOCAL_RANK; pass --device cuda, not {device}")
    if context.local_rank >= torch.cuda.device_count():
        raise ValueError(
            f"process with LOCAL_RANK {context.local_rank} has no GPU ({torch.cuda.device_count()} visible); "
            "start at most one process per GPU"
        )
    torch.cuda.set_device(context.local_rank)
    return torch.device("cuda", context.local_rank)


@contextmanager
def distributed_session(device: str = "auto") -> Iterator[tuple[DistributedContext, torch.device]]:
    """Join torchrun's process group for the duration (if launched by torchrun); yields the context
    and this process's device. A group that already exists is used and left open."""
    context = context_from_env()
    run_device = rank_device(device, context)
    owns_group = context.enabled and not dist.is_initialized()
    if owns_group:
        backend = "nccl" if run_device.type == "cuda" else "gloo"
        dist.init_process_group(backend, device_id=run_device if run_device.type == "cuda" else None)
    try:
        yield context, run_device
    finally:
        if owns_group:
            dist.destroy_process_group()


def wrap_model(model: nn.Module, context: DistributedContext, device: torch.device) -> nn.Module:
    """``model`` inside DistributedDataParallel (gradients averaged across ranks), or as is for one process."""
    if not context.enabled:
        return model
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain module inside a DistributedDataParallel wrapper."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def reduce_sums(values: Sequence[float], context: DistributedContext, device: torch.device) -> list[float]:
    """Element-wise sums of ``values`` over all processes (the values themselves for one process)."""
    if not context.enabled:
        return [float(value) for value in values]
    totals = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(totals)
    return totals.tolist()


def broadcast_buffers(module: nn.Module, context: DistributedContext) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every process."""
    if context.enabled:
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


def barrier(context: DistributedContext) -> None:
    """Wait until every process gets here."""
    if context.enabled:
        dist.barrier()


@contextmanager
def main_process_first(context: DistributedContext) -> Iterator[None]:
    """Rank 0 runs the block first (e.g. filling a cache), the others after it."""
    if not context.is_main:
        barrier(context)
    yield
    if context.is_main:
        barrier(context)


@contextmanager
def per_rank_randomness(context: DistributedContext, device: torch.device) -> Iterator[None]:
    """Inside the block each rank draws its own random numbers (augmentation, dropout); afterwards
    the shared stream is back where it was, so all ranks shuffle the next epoch alike."""
    if not context.enabled:
        yield
        return
    seed = int(torch.randint(2**62, (1,))) + context.rank  # drawn from the shared stream: equal on all ranks
    devices = [device.index] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.default_generator.manual_seed(seed)
        if device.type == "cuda":
            torch.cuda.manual_seed(seed)
        yield
