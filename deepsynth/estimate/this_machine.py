"""What this machine trains on: its GPUs (from `nvidia-smi`, no torch, no CUDA context) or its CPU.

The estimator itself never probes hardware (litgpt's estimator checks `torch.cuda` inside and its
tests must mock CUDA); callers that describe *this* machine (the estimate page, `deepsynth
estimate`'s default `--device`, the Train page's time warning) ask here once and pass the answer on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

from deepsynth.estimate.gpus import Gpu, local_device
from deepsynth.gpu_probe import GpuUnavailable, nvidia_smi_probe


@dataclass(frozen=True)
class Machine:
    """The hardware a run started here would use."""

    device: str
    """`cuda` when nvidia-smi lists a GPU, else `cpu`."""
    cpu_threads: int
    """CPU cores this process may use (its affinity mask)."""
    gpus: tuple[Gpu, ...] = ()
    """Each GPU as the fit table needs it (`local: GPU 0`, total memory)."""

    @property
    def has_gpu(self) -> bool:
        return bool(self.gpus)

    def describe(self) -> str:
        if self.gpus:
            return f"{len(self.gpus)} GPU(s) ({self.gpus[0].name.removeprefix('local: ')}) and {self.cpu_threads} CPU cores"
        return f"CPU only, {self.cpu_threads} core{'s' if self.cpu_threads != 1 else ''}"


def cpu_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def probe_machine(probe: Callable[[], Sequence] | None = None) -> Machine:
    """This machine's device: a GPU when `probe` (default `nvidia_smi_probe`) lists one, else the
    CPU. A missing or failing nvidia-smi means no usable GPU."""
    try:
        rows = list((probe or nvidia_smi_probe)())
    except GpuUnavailable:
        rows = []
    gpus = tuple(local_device(f"GPU {row.index}", row.total_bytes) for row in rows)
    return Machine("cuda" if gpus else "cpu", cpu_threads(), gpus)


@lru_cache(maxsize=1)
def this_machine() -> Machine:
    """`probe_machine()` once per process (nvidia-smi takes ~0.1-1 s)."""
    return probe_machine()


@dataclass(frozen=True)
class RunHere:
    """What a training configuration will do on this machine, said before it starts."""

    summary: str
    """`about 2.5 min on this CPU (2 threads)`, or what is known for a GPU."""
    warnings: tuple[str, ...] = ()
    """Why it will be slow here, each with the estimated time."""
    problems: tuple[str, ...] = ()
    """Why it cannot run here at all (cuda asked on a machine without a GPU)."""


def run_here(config: object, train_docs: int, machine: Machine, concurrent_jobs: int = 1) -> RunHere:
    """Device, time and warnings for a `TrainConfig` with `train_docs` training documents on
    `machine`, next to `concurrent_jobs` - 1 other running jobs (they share the cores)."""
    from deepsynth.errors import DeepSynthError
    from deepsynth.estimate.cpu_time import run_time_on_cpu, slow_reasons
    from deepsynth.units import readable_duration

    device = machine.device if config.device == "auto" else config.device
    if device == "cuda" and not machine.has_gpu:
        return RunHere("no GPU here", problems=("device cuda: this machine has no GPU (nvidia-smi lists none); "
                                                "choose auto or cpu under All settings",))
    if device == "cuda":
        return RunHere(f"on {machine.gpus[0].name.removeprefix('local: ')} ({machine.describe()})")
    threads = config.threads or max(1, machine.cpu_threads // max(1, concurrent_jobs))
    try:
        timing = run_time_on_cpu(config, train_docs, threads)
    except DeepSynthError as error:  # a model folder the estimator cannot read: no time, still trainable
        return RunHere(f"on this CPU ({threads} threads); no time estimate: {error}")
    reading = f" + {readable_duration(timing.reading_seconds)} reading pages" if timing.reading_seconds else ""
    if timing.detected_pages:
        reading += (f" ({readable_duration(timing.detection_seconds)} of it finding the text lines of "
                    f"{timing.detected_pages} page{'s' if timing.detected_pages != 1 else ''} DeepSynth did not render)")
    summary = (f"about **{readable_duration(timing.steps * timing.step_seconds)}** of training{reading} on this CPU "
               f"({threads} thread{'s' if threads > 1 else ''}, ~{timing.samples_per_second:.2f} "
               "samples/s on an idle machine)")
    return RunHere(summary, tuple(slow_reasons(config, timing)))
