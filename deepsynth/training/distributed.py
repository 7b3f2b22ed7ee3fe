"""Data-parallel training: `deepsynth train --nproc N` runs the same worker N times under torchrun.

The launcher (`launch`) re-runs `deepsynth train` with the same settings as
`python -m torch.distributed.run --standalone --nproc_per_node N -m deepsynth train ...` (an argv
list; `--standalone` rendezvouses on a free loopback port). Each process then finds its place from
torchrun's environment (`Distributed.from_env`): gloo on CPU, nccl on CUDA (one GPU per process).

What stays the same as one process with the same global batch (`--batch-size` is documents per
optimizer step, over all processes): each process takes every N-th document of the global batch
(`shard`), and its loss is weighted by its share of the batch's summary tokens before DDP averages
the gradients (`TrainingLoop(distributed=...)`), so the averaged gradient is the gradient of the
mean over all the batch's tokens, exactly what one process computes. The NaN guard, the time
budget and a cancel are decided together (`any`), so every process stops at the same step.

Only rank 0 talks to MLflow, writes checkpoints, the adapter and the job report, and evaluates;
the others train and exit. Frozen base weights are not broadcast (every process loads the same
files; a 4-bit base could not be broadcast anyway): only trainable parameters are synchronised.
For models that do not fit one GPU, see README "Models larger than one GPU" (FSDP/DeepSpeed).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Callable, Sequence

ENV_WORLD_SIZE, ENV_RANK, ENV_LOCAL_RANK = "WORLD_SIZE", "RANK", "LOCAL_RANK"
COLLECTIVE_TIMEOUT_S = 12 * 3600  # the other ranks wait while rank 0 reads every page once


def launch_command(nproc: int, train_args: Sequence[str]) -> list[str]:
    """The torchrun argv that runs `deepsynth train *train_args` in `nproc` processes."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(int(nproc)),
            "-m", "deepsynth", "train", *train_args]


def launch(nproc: int, train_args: Sequence[str], spawn: Callable[..., Any] = subprocess.Popen) -> int:
    """Run the workers and wait; SIGTERM/SIGINT are passed on to torchrun, which passes them to
    every worker (each checkpoints and stops cleanly, see `deepsynth.training.cancel`). The
    workers stay in this process's group, so `deepsynth jobs cancel` can kill them all."""
    from deepsynth.training.report import ENV_REPORT_PID

    # The job report names the job's process (this launcher), not rank 0's, so the job layer
    # knows the report belongs to the current attempt (deepsynth.jobs).
    argv = launch_command(nproc, train_args)
    print(f"data parallel, {nproc} processes: {' '.join(argv)}", flush=True)
    child = spawn(argv, env=dict(os.environ, **{ENV_REPORT_PID: str(os.getpid())}),
                  preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)

    def forward(number: int, _frame: Any) -> None:
        if child.poll() is None:
            child.send_signal(number)

    previous = {number: signal.signal(number, forward) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        return child.wait()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _die_with_parent() -> None:
    """In the torchrun child, before it starts (Linux): SIGTERM it when the launcher dies, even by
    SIGKILL, so killing only the launcher's pid (a timeout, `kill -9`) leaves no orphaned workers;
    torchrun then stops its workers as on any SIGTERM."""
    import ctypes

    PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))


@dataclass(frozen=True)
class Distributed:
    """This process's place among the data-parallel workers (world_size 1: training alone)."""

    rank: int = 0
    """Global rank; 0 is the one that logs and writes."""
    world_size: int = 1
    """Number of worker processes."""
    local_rank: int = 0
    """Rank on this machine (the CUDA device index)."""

    @classmethod
    def from_env(cls) -> "Distributed":
        """From torchrun's environment; alone when it is not set."""
        world = int(os.environ.get(ENV_WORLD_SIZE, "1"))
        if world <= 1:
            return cls()
        return cls(int(os.environ[ENV_RANK]), world, int(os.environ.get(ENV_LOCAL_RANK, "0")))

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # -- process group ---------------------------------------------------------------------------
    def start(self) -> None:
        """Join the process group: gloo for CPU tensors (the control messages here, and DDP on
        CPU), nccl for CUDA tensors (DDP on GPUs); the CUDA device is `local_rank`."""
        if not self.enabled:
            return
        import datetime

        import torch
        import torch.distributed as dist

        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(self.local_rank)
        if not dist.is_initialized():
            dist.init_process_group("cpu:gloo,cuda:nccl" if cuda else "gloo",
                                    timeout=datetime.timedelta(seconds=COLLECTIVE_TIMEOUT_S))

    def stop(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()

    # -- collectives -----------------------------------------------------------------------------
    def sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sum over all processes (float64)."""
        if not self.enabled:
            return [float(v) for v in values]
        import torch
        import torch.distributed as dist

        tensor = torch.tensor([float(v) for v in values], dtype=torch.float64)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor.tolist()

    def any(self, flag: bool) -> bool:
        """True on every process if it is true on any (a cancel, the time budget)."""
        return bool(self.sum([1.0 if flag else 0.0])[0] > 0) if self.enabled else bool(flag)

    def broadcast_text(self, text: str | None) -> str:
        """Rank 0's text on every process (UTF-8 bytes in a tensor: no pickle)."""
        if not self.enabled:
            return text or ""
        import torch
        import torch.distributed as dist

        data = (text or "").encode() if self.is_main else b""
        size = torch.tensor([len(data)], dtype=torch.int64)
        dist.broadcast(size, src=0)
        buffer = torch.zeros(int(size.item()), dtype=torch.uint8)
        if self.is_main and data:
            buffer.copy_(torch.frombuffer(bytearray(data), dtype=torch.uint8))
        dist.broadcast(buffer, src=0)
        return bytes(buffer.cpu().tolist()).decode()

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()

    # -- data and model --------------------------------------------------------------------------
    def shard(self, indices: Sequence[int]) -> list[int]:
        """This process's documents of a global batch: every `world_size`-th, from `rank`."""
        return list(indices[self.rank::self.world_size])

    def wrap(self, model: Any) -> Any:
        """The model under DDP, synchronising trainable parameters only."""
        if not self.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        frozen = [name for name, parameter in model.named_parameters() if not parameter.requires_grad]
        frozen += [name for name, _ in model.named_buffers()]
        DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(model, frozen)
        device_ids = [self.local_rank] if str(getattr(model, "device", "cpu")).startswith("cuda") else None
        return DistributedDataParallel(model, device_ids=device_ids, broadcast_buffers=False)
