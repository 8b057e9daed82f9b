"""Data-parallel training under ``torchrun``: PyTorch's DistributedDataParallel, nothing of our own.

One process is the usual case and needs none of this; under ``torchrun`` each
process (rank) runs the same trainer, and this module is what they share:

- :func:`setup` reads torchrun's environment (``RANK``, ``WORLD_SIZE``,
  ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``), picks the device (``auto`` = CUDA
  where torch sees it) and joins the process group: gloo on the CPU, NCCL on
  CUDA, one GPU per process chosen by the local rank.
- :func:`wrap` puts the model in DDP, which averages the gradients of all
  ranks in ``backward``.
- :func:`rank_slice`: every rank draws the same *global* batch (from one
  generator seeded by the seed and the step) and computes only its rows. With
  equal shares, the mean of the ranks' mean losses is the global mean, so the
  averaged gradient, and so every update, equals one process on the global
  batch (up to float summation order).
- :func:`main_first`: rank 0 builds the data cache, the others wait, then
  read it.
- Rank 0 alone writes files and logs (:func:`log_stream` is quiet elsewhere).

Called by the trainers' commands (``livegen train lstm|timbre``) only.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as tdist
from torch import nn

from livegen.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")
#: Collectives, and the barrier before the data set is read, wait this long for
#: the slowest rank. Parsing the music21 corpus took 26 minutes here
#: (livegen/models/lstm/RESULTS.md), longer than torch's default of 30 minutes allows
#: for comfortably.
TIMEOUT = timedelta(hours=2)


@dataclass(frozen=True)
class Dist:
    """Where this process stands in the run (one process: rank 0 of 1, no backend)."""

    rank: int
    world_size: int
    local_rank: int  # rank on this machine: picks the GPU
    local_world_size: int  # processes on this machine
    backend: str | None  # "gloo", "nccl", or None for one process
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and logs."""
        return self.rank == 0

    @property
    def machines(self) -> int:
        return max(1, self.world_size // max(1, self.local_world_size))


def one_process(device: torch.device | str = "cpu") -> Dist:
    return Dist(0, 1, 0, 1, None, torch.device(device))


def _env_int(name: str, default: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None:
        if default is None:
            raise ConfigError(f"${name} is not set, but $WORLD_SIZE is: start distributed runs with torchrun")
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"${name}={value!r} is not an integer (torchrun sets it)") from None


def pick_device(device: str) -> torch.device:
    """``auto``: CUDA where torch sees it, else the CPU."""
    if device not in DEVICES:
        raise ConfigError(f"--device {device!r} is not one of {', '.join(DEVICES)}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: torch sees no CUDA device here (torch.cuda.is_available() is False); "
                          "use --device cpu or auto")
    return torch.device("cuda" if device == "cuda" or (device == "auto" and torch.cuda.is_available()) else "cpu")


def setup(device: str = "auto") -> Dist:
    """This process's :class:`Dist`; joins the process group when torchrun started several.

    Call :func:`teardown` at the end (in a ``finally``).
    """
    dev = pick_device(device)
    world = _env_int("WORLD_SIZE", 1)
    if world < 1:
        raise ConfigError(f"$WORLD_SIZE={world}: must be at least 1")
    rank = _env_int("RANK") if world > 1 else 0
    local_rank = _env_int("LOCAL_RANK", 0) if world > 1 else 0
    local_world = _env_int("LOCAL_WORLD_SIZE", world) if world > 1 else 1
    if dev.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(f"local rank {local_rank} has no GPU: torch sees {torch.cuda.device_count()}; "
                              f"start at most that many processes per machine (--nproc_per_node)")
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    if world == 1:
        return one_process(dev)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    tdist.init_process_group(backend, rank=rank, world_size=world, timeout=TIMEOUT)
    return Dist(rank, world, local_rank, local_world, backend, dev)


def teardown(d: Dist) -> None:
    """Leave the process group. First the garbage: a DistributedDataParallel model in a
    reference cycle keeps the group alive until the interpreter exits, and gloo then aborted
    a rank ("terminate called without an active exception", exit -6, once in a test suite
    run on a busy machine)."""
    if d.backend is not None and tdist.is_initialized():
        import gc
        gc.collect()
        tdist.destroy_process_group()


def header(d: Dist) -> str:
    """The training log's first line (with several machines, it names rank 0's: the
    output folder is written there)."""
    if d.backend is None:
        return f"distributed: no, one process on {d.device.type}"
    if d.machines == 1:
        return f"distributed: {d.world_size} processes, {d.backend}, {d.device.type}"
    return (f"distributed: {d.world_size} processes on {d.machines} machines, {d.backend}, {d.device.type}; "
            f"rank 0 on {socket.gethostname()}")


def rank_slice(n: int, d: Dist, name: str = "--batch") -> slice:
    """The rows of a global batch of ``n`` that this rank computes (an equal share)."""
    if n % d.world_size:
        raise ConfigError(f"{name} {n} (the global batch) must be a multiple of the process count "
                          f"{d.world_size}, so that every process computes an equal share")
    share = n // d.world_size
    return slice(d.rank * share, (d.rank + 1) * share)


def step_seed(seed: int, step: int, d: Dist) -> int:
    """A torch seed for this rank at this step (dropout masks differ between ranks,
    and a resumed run draws what an uninterrupted one would)."""
    return int(np.random.SeedSequence([seed, step, d.rank]).generate_state(1)[0])


def wrap(model: nn.Module, d: Dist) -> nn.Module:
    """The model DDP-wrapped when there are several processes (train through the
    wrapper, save and evaluate the model itself)."""
    if d.backend is None:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[d.device.index] if d.device.type == "cuda" else None)


def barrier(d: Dist) -> None:
    if d.backend is None:
        return
    if d.backend == "nccl":
        tdist.barrier(device_ids=[d.device.index])
    else:
        tdist.barrier()


@contextlib.contextmanager
def main_first(d: Dist):
    """Run the body on rank 0 first, then on one rank per machine, then on the rest.

    For building a data cache once: rank 0 builds it; with a cache folder the
    machines share, everyone else reads it; with one per machine, each
    machine's local rank 0 builds its own, and no two processes ever write
    the same file. If the body fails, the others still go on (and meet the
    same error themselves) rather than wait forever.
    """
    leader = d.local_rank == 0
    if d.rank != 0:
        barrier(d)
        if not leader:
            barrier(d)
    try:
        yield
    finally:
        if d.rank == 0:
            barrier(d)
            barrier(d)
        elif leader:
            barrier(d)


def sum_over_ranks(values: list[float], d: Dist) -> list[float]:
    """The element-wise sum of ``values`` over all ranks (every rank gets it)."""
    if d.backend is None:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=d.device)
    tdist.all_reduce(t)
    return t.tolist()


def mean_over_ranks(value: float, d: Dist) -> float:
    return sum_over_ranks([value], d)[0] / d.world_size


def from_main(value: float, d: Dist) -> float:
    """Rank 0's ``value`` on every rank (for what must agree, such as the elapsed
    time a time budget is judged by)."""
    if d.backend is None:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=d.device)
    tdist.broadcast(t, src=0)
    return float(t.item())


def object_from_main(obj, d: Dist):
    """Rank 0's ``obj`` (anything picklable, such as a checkpoint's dict) on every rank."""
    if d.backend is None:
        return obj
    box = [obj]
    tdist.broadcast_object_list(box, src=0, device=d.device if d.device.type == "cuda" else None)
    return box[0]


class _Quiet:
    """A log that drops what other ranks would write."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def log_stream(d: Dist, stream=None):
    """``stream`` (default stderr) on rank 0, a silent one on the others."""
    return (stream or sys.stderr) if d.is_main else _Quiet()
