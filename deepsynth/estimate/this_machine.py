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
    """`about 1.5 min on this CPU (...)`: the whole job and what it assumed, or what is known for a GPU."""
    warnings: tuple[str, ...] = ()
    """Why it will be slow here, each with the estimated time."""
    problems: tuple[str, ...] = ()
    """Why it cannot run here at all (cuda asked on a machine without a GPU, a model not installed)."""
    plan: object | None = None
    """The `job_time.JobPlan` behind the summary (CPU runs the estimator can describe)."""
    phases: str = ""
    """The plan per phase in words: `14 s start and load the model · 11 s read the training pages · …`."""


def plan_threads(requested: int, cores: int, concurrent_jobs: int, load_average: float) -> int:
    """The torch threads a job will take (`training.hardware.choose_threads`): what was asked, else
    the cores shared among the running jobs and no more than the load leaves idle."""
    if requested:
        return int(requested)
    share = max(1, cores // max(1, concurrent_jobs))
    idle = max(1, int(round(cores - min(float(cores), max(0.0, load_average)))))
    return max(1, min(share, idle))


def busy_factor(threads: int, cores: int, load_average: float) -> float:
    """How much longer than on an idle machine a job of `threads` threads takes while `load_average`
    other runnable threads share `cores` cores (a fair share: threads x cores / (load + threads))."""
    return max(1.0, (max(0.0, load_average) + threads) / max(1, cores))


def run_here(config: object, split_counts: dict | int, machine: Machine, concurrent_jobs: int = 1,
             load_average: float = 0.0) -> RunHere:
    """Device, time and warnings for a `TrainConfig` on `machine`, for a dataset whose splits hold
    `split_counts` ({"train": n, ...}; an int: the training documents only), next to
    `concurrent_jobs` - 1 other running jobs (they share the cores), with `load_average` runnable
    threads of other work measured now (os.getloadavg)."""
    from deepsynth.errors import DeepSynthError
    from deepsynth.estimate.cpu_time import RunTime, slow_reasons
    from deepsynth.estimate.job_time import PHASE_LABELS, job_plan
    from deepsynth.estimate.trainable import missing_to_train
    from deepsynth.units import readable_duration

    missing = missing_to_train(config.model.name)
    if missing:
        return RunHere("cannot run here", problems=(f"Model `{config.model.name}` cannot be trained on this machine: "
                                                    f"{missing}.",))
    device = machine.device if config.device == "auto" else config.device
    if device == "cuda" and not machine.has_gpu:
        return RunHere("no GPU here", problems=("device cuda: this machine has no GPU (nvidia-smi lists none); "
                                                "choose auto or cpu under All settings",))
    if device == "cuda":
        return RunHere(f"on {machine.gpus[0].name.removeprefix('local: ')} ({machine.describe()})")
    counts = split_counts if isinstance(split_counts, dict) else {"train": int(split_counts)}
    threads = plan_threads(config.threads, machine.cpu_threads, concurrent_jobs, load_average)
    try:
        plan = job_plan(config, counts, threads)
    except DeepSynthError as error:  # a model folder the estimator cannot read: no time, still trainable
        return RunHere(f"on this CPU ({threads} threads); no time estimate: {error}")
    plural = "s" if threads > 1 else ""
    chosen = "as set under All settings" if config.threads else (
        f"the job's own choice: {machine.cpu_threads} core{'s' if machine.cpu_threads != 1 else ''}"
        + (f" shared by {concurrent_jobs} jobs" if concurrent_jobs > 1 else "")
        + f", load average {load_average:.1f} now")
    factor = busy_factor(threads, machine.cpu_threads, load_average)
    busy = (f"; at the load measured now about **{readable_duration(plan.total_seconds * factor)}**"
            if factor >= 1.25 else "")
    detection = (f"; reading includes {readable_duration(plan.detection_seconds)} finding the text lines of "
                 f"{plan.detected_pages} page{'s' if plan.detected_pages != 1 else ''} DeepSynth did not render"
                 if plan.detected_pages else "")
    summary = (f"about **{readable_duration(plan.total_seconds)}** for the whole job on an idle CPU{busy} "
               f"({threads} torch thread{plural}, {chosen}{detection})")
    phases = " · ".join(f"{readable_duration(seconds)} {PHASE_LABELS[phase]}"
                        for phase, seconds in plan.seconds.items() if seconds > 0)
    timing = RunTime(plan.steps, plan.step_seconds, plan.seconds["read"], plan.slowdown, threads, config.batch_size)
    return RunHere(summary, tuple(slow_reasons(config, timing, plan.total_seconds)), plan=plan, phases=phases)
