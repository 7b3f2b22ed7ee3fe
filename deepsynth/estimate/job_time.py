"""A whole training job's time on this machine's CPU, phase by phase, before it starts.

A job is more than its optimizer steps (the plan once said "12 s of training + 11 s reading" for a
job that took ~90 s): it starts Python and loads the model, reads the pages once, trains, saves
the adapter, then reads the evaluation pages and generates with the tuned (and base) model. Each
phase has a function of its own here; `phase_seconds` adds them up for one `TrainConfig`.

Hooks: `PHASE_ESTIMATORS` maps each phase to a function `(config, JobShape) -> seconds`; reading
(`read_seconds`) is where page detection time plugs in (replace or wrap the entry for "read").
The worker records the same phases as they run (`training.phase_clock`), so the job panel can put
estimated beside actual.

Constants are CPU seconds measured on this project's machines (`bench/cpu_time_accuracy.py` runs
whole jobs and prints actual / estimated per phase); like `cpu_time`, they are for an idle machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

JOB_PHASES = ("load", "read", "train", "save", "evaluate")
"""The phases a training job runs, in order (the worker's `PhaseClock` uses the same names)."""
PHASE_LABELS = {"load": "start and load the model", "read": "read the training pages", "train": "train",
                "save": "save the adapter", "evaluate": "evaluate (read pages, generate)"}

STARTUP_S = 14.0
"""Starting the job: Python, torch, transformers, peft and mlflow imports, the MLflow run (CPU
seconds; one thread does it whatever the thread count)."""
BUILTIN_LOAD_S = 3.0
"""Building the default model: the converted SmolLM2 weights (cached after the first run), the
english_g2 reader, the LoRA wrap."""
LOAD_BYTES_PER_S = 400e6
"""Reading a model folder's weights from disk into memory (bytes per second), for folders."""
SAVE_S = 1.0
"""Saving the adapter (safetensors) and logging it as an MLflow artifact."""
DECODE_STEP_OVERHEAD_S = 0.02
"""Per generated token per batch beyond its FLOPs: Python and the KV cache in `generate`."""
EVAL_FIXED_S = 2.0
"""Scoring, the baselines and the scorecard artifacts."""


@dataclass(frozen=True)
class JobShape:
    """What the phase estimators need to know about a job beyond its `TrainConfig`."""

    train_docs: int
    """Documents in the training split."""
    eval_docs: int
    """Documents the evaluation will score (capped by its split)."""
    threads: int
    """CPU threads the job's torch uses."""
    step_seconds: float
    """Predicted seconds per optimizer step (`cpu_time.run_time_on_cpu`)."""
    steps: int
    """Optimizer steps planned."""
    model_params: float
    """Parameters of the whole model (for load and generation), 0 when unknown."""
    detected_pages: int = 0
    """Training pages the line detector finds lines on first (no render mark: `page_reading`)."""
    detect_seconds: float = 0.0
    """The detector's seconds per page at the job's threads (`detection_cost`)."""


def load_seconds(config: object, job: JobShape) -> float:
    if config.model.name in ("default", "tiny"):
        return STARTUP_S + (BUILTIN_LOAD_S if config.model.name == "default" else 0.0)
    return STARTUP_S + 4 * job.model_params / LOAD_BYTES_PER_S  # fp32 weights


def read_seconds(config: object, job: JobShape, pages: int | None = None) -> float:
    """Reading `pages` pages (default: the training split) once with the model's page reader.
    The hook for page detection time (a detector that runs per page adds its seconds here)."""
    from deepsynth.estimate.cpu_time import READ_SECONDS_PER_PAGE

    if config.model.name == "tiny" or getattr(config, "blank_pages", False):
        return 0.0
    count = job.train_docs if pages is None else pages
    detected = job.detected_pages if pages is None else (
        math.ceil(pages * job.detected_pages / job.train_docs) if job.train_docs else 0)  # the same share
    return count * READ_SECONDS_PER_PAGE + detected * job.detect_seconds


def train_seconds(config: object, job: JobShape) -> float:
    return job.steps * job.step_seconds


def save_seconds(config: object, job: JobShape) -> float:
    return SAVE_S


def generate_seconds(config: object, job: JobShape) -> float:
    """Greedy generation of `eval_max_new_tokens` for each evaluated document, tuned (and base):
    2 FLOPs per parameter per token (forward only; Kaplan et al. 2020) at the CPU rate, plus a
    fixed cost per decoding step of a batch."""
    from deepsynth.estimate.cpu_time import CPU_GFLOPS_PER_THREAD

    if not job.eval_docs:
        return 0.0
    models = 2 if getattr(config, "eval_base", True) else 1
    batches = math.ceil(job.eval_docs / max(1, int(getattr(config, "eval_batch_size", 1) or 1)))
    tokens = int(getattr(config, "eval_max_new_tokens", 0) or config.model.max_target_tokens)
    source = config.model.max_source_tokens
    flops = 2 * job.model_params * job.eval_docs * (tokens + source)  # prefill + one token at a time
    rate = job.threads * CPU_GFLOPS_PER_THREAD * 1e9
    return models * (batches * tokens * DECODE_STEP_OVERHEAD_S + flops / rate)


def evaluate_seconds(config: object, job: JobShape) -> float:
    if not job.eval_docs:
        return 0.0
    return read_seconds(config, job, pages=job.eval_docs) + generate_seconds(config, job) + EVAL_FIXED_S


PHASE_ESTIMATORS: dict[str, Callable[[object, JobShape], float]] = {
    "load": load_seconds, "read": read_seconds, "train": train_seconds, "save": save_seconds,
    "evaluate": evaluate_seconds}
"""phase -> seconds for a job: the hook other estimates (page detection) plug into."""


def phase_seconds(config: object, job: JobShape) -> dict[str, float]:
    """Seconds per phase (`JOB_PHASES` order) of `config` shaped as `job`, on an idle machine."""
    return {phase: float(PHASE_ESTIMATORS[phase](config, job)) for phase in JOB_PHASES}


@dataclass(frozen=True)
class JobPlan:
    """A job's predicted seconds per phase on this CPU, and what the prediction assumed."""

    seconds: dict[str, float]
    """phase -> seconds (`JOB_PHASES` order)."""
    threads: int
    """The torch threads the job will use (the prediction's rate scales with them)."""
    steps: int
    """Optimizer steps planned."""
    step_seconds: float
    """Predicted seconds per step."""
    slowdown: float = 1.0
    """From a quantized base on this CPU (1: none)."""
    detected_pages: int = 0
    """Training pages the line detector finds lines on before training."""
    detection_seconds: float = 0.0
    """The detector's share of the read phase."""

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())


def eval_documents(config: object, split_counts: dict) -> int:
    """Documents the evaluation will read: `eval_docs`, capped by the split it resolves to."""
    if not config.eval_docs:
        return 0
    split = config.eval_split
    if split == "auto":  # as training.config.resolve_eval_split (training imports the estimator, not back)
        split = "test" if int(split_counts.get("test", 0) or 0) > 0 else "validation"
    return min(int(config.eval_docs), int(split_counts.get(split, 0) or 0))


def job_plan(config: object, split_counts: dict, threads: int, has_bf16: bool | None = None) -> JobPlan:
    """`JobPlan` of a `TrainConfig` on `threads` CPU threads, for a dataset whose splits hold
    `split_counts` ({"train": n, "validation": n, "test": n}). Raises what `run_time_on_cpu` raises
    for a model the estimator cannot read."""
    from deepsynth.estimate.cpu_time import architecture_for, run_time_on_cpu
    from deepsynth.estimate.model_inventory import architecture_inventory
    from deepsynth.estimate.params import count_parameters

    train_docs = int(split_counts.get("train", 0) or 0)
    threads = max(1, int(threads))
    timing = run_time_on_cpu(config, train_docs, threads, has_bf16)
    arch = architecture_for(config.model.name, config.model.vision_interface)
    params = float(count_parameters(arch, config.lora, architecture_inventory(arch)).total) if arch else 0.0
    per_page = timing.detection_seconds / timing.detected_pages if timing.detected_pages else 0.0
    shape = JobShape(train_docs, eval_documents(config, split_counts), threads, timing.step_seconds, timing.steps,
                     params, timing.detected_pages, per_page)
    return JobPlan(phase_seconds(config, shape), threads, timing.steps, timing.step_seconds, timing.slowdown,
                   timing.detected_pages, timing.detection_seconds)


@dataclass(frozen=True)
class PhaseComparison:
    """One phase of a finished job: what the plan said and what the job took."""

    phase: str
    estimated_s: float
    actual_s: float | None
    """Wall seconds the worker recorded (None: the job never reached the phase)."""
    cpu_s: float | None = None
    """The worker's CPU seconds in the phase (all threads)."""

    @property
    def ratio(self) -> float | None:
        if self.actual_s is None or self.estimated_s <= 0:
            return None
        return self.actual_s / self.estimated_s


def compare_phases(plan: JobPlan, actual: dict, cpu: dict | None = None) -> list[PhaseComparison]:
    """Estimated vs actual per phase (`JOB_PHASES` order) and a `total` row; `actual` and `cpu`
    are report.json's `phase_seconds` and `phase_cpu_seconds`."""
    cpu = cpu or {}
    rows = [PhaseComparison(phase, plan.seconds[phase],
                            float(actual[phase]) if phase in actual else None,
                            float(cpu[phase]) if phase in cpu else None) for phase in JOB_PHASES]
    reached = [row for row in rows if row.actual_s is not None]
    total_cpu = sum(row.cpu_s or 0.0 for row in reached) if cpu else None
    rows.append(PhaseComparison("total", plan.total_seconds, sum(row.actual_s for row in reached) if reached else None,
                                total_cpu))
    return rows
