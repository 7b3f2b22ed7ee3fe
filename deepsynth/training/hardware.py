"""What the worker runs on: the device, the torch thread count, and recognising out-of-memory.

Kept apart from the worker so the choices are easy to test and to read: oversubscribed threads and
a silent CUDA fallback are the two ways a run on a shared machine gets slow or surprising.
"""

from __future__ import annotations

import os
from typing import Callable

from deepsynth.errors import InputError


def busy_cores(sample_s: float = 0.5) -> float:
    """Cores other processes keep busy right now (sampled while this one waits)."""
    import psutil

    return psutil.cpu_percent(interval=sample_s) / 100.0 * (psutil.cpu_count() or 1)


def sustained_busy_cores(samples: int = 3, sample_s: float = 0.4, sample: Callable[[float], float] | None = None) -> float:
    """Cores other processes keep busy through `samples` back-to-back samples: the least of them.
    A process busy for a moment (a test, a compile, an import) is not load a 10-minute run should
    give a core up for; one busy throughout is. On a 2-core machine a single 0.5 s sample taken
    while another process was briefly busy chose 1 thread: the demo trained 47 of 90 steps in its
    time budget and took 739 s instead of ~400 (docs/MEASURING.md)."""
    sample = sample or busy_cores
    return min(sample(sample_s) for _ in range(max(1, samples)))


def choose_threads(requested: int, concurrent_jobs: int, busy: float | None = None) -> int:
    """Torch threads: what was asked (`--threads`); else the cores this process may use, shared
    among the running jobs, and no more than the cores other work leaves idle (measured as
    `sustained_busy_cores`). Oversubscribed OpenMP threads spin: on 2 shared cores 2 threads were
    6x slower than 1 per step (20 vs 3.3 CPU s), and the default made tiny models 4-30x slower
    (docs/MEASURING.md). The worker chooses again after the pages are read, so a
    machine that was busy only at start gets its cores back for training."""
    if requested:
        return requested
    cores = available_cores()
    share = max(1, cores // max(1, concurrent_jobs))
    if busy is None:
        busy = sustained_busy_cores()
    idle = max(1, int(round(cores - busy)))
    return max(1, min(share, idle))


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def choose_device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise InputError("device cuda requested but no CUDA GPU is available (use --device cpu)")
    return requested


def is_out_of_memory(error: BaseException) -> bool:
    text = str(error).lower()
    return (isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError"
            or "out of memory" in text or "can't allocate memory" in text)


OOM_ADVICE = ("lower --batch-size, cap max_source_tokens, use the qlora_4bit preset or a smaller "
              "model; `deepsynth estimate` predicts the memory a configuration needs")
