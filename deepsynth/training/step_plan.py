"""How many steps a run will take, and the warm-up and checkpoint intervals `auto` stands for.

`TrainConfig.warmup_steps` and `checkpoint_every` default to `auto`: a fraction of the planned
steps, capped (a 10-step run would otherwise spend all of it warming up and checkpoint only at
the end; a long run warms up over 10 steps and checkpoints every 50). `resolve_automatic` is the
one place `auto` becomes a number, for the CLI, the dashboard, jobs and sweeps alike: the worker
calls it before it records the run's params, so MLflow and report.json show the numbers while
`--print-config` and the job's train_config.json keep `auto`. No torch here (the dashboard plans
before anything heavy loads).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from deepsynth.settings import AUTO
from deepsynth.estimate.steps import planned_steps

__all__ = ["planned_steps", "auto_warmup_steps", "auto_checkpoint_every", "resolve_automatic", "budget_horizon",
           "BudgetPlan"]

WARMUP_FRACTION = 0.1
"""Warm-up over the first 10% of the steps (the usual 3-10%), at most `WARMUP_CAP`."""
WARMUP_CAP = 10
"""Longest automatic warm-up, in steps."""
CHECKPOINT_FRACTION = 0.25
"""A checkpoint every quarter of the run, at most every `CHECKPOINT_CAP` steps."""
CHECKPOINT_CAP = 50
"""Longest automatic checkpoint interval, in steps."""
DATASET_FILE = "deepsynth_dataset.json"


def auto_warmup_steps(steps: int) -> int:
    return min(WARMUP_CAP, int(steps * WARMUP_FRACTION))


def auto_checkpoint_every(steps: int) -> int:
    return max(1, min(CHECKPOINT_CAP, int(steps * CHECKPOINT_FRACTION)))


AUTOMATIC = {"warmup_steps": auto_warmup_steps, "checkpoint_every": auto_checkpoint_every}
"""The `TrainConfig` fields that take `auto`, and the rule each follows given the planned steps."""


def train_documents(dataset: str | Path) -> int:
    """Documents in a dataset folder's train split, from its `deepsynth_dataset.json` counts."""
    try:
        counts = json.loads((Path(dataset) / DATASET_FILE).read_text(encoding="utf-8")).get("counts", {})
        return int(counts.get("train", 0) or 0)
    except (OSError, ValueError, AttributeError, TypeError):
        return 0


def resolve_automatic(config: Any, train_docs: int | None = None) -> Any:
    """`config` (a `TrainConfig`) with every `auto` replaced by its number for this run;
    `train_docs`: the train split's size (default: read from the dataset folder)."""
    automatic = [name for name in AUTOMATIC if getattr(config, name) == AUTO]
    if not automatic:
        return config
    docs = train_documents(config.dataset) if train_docs is None else train_docs
    steps = planned_steps(docs, config.batch_size, config.max_steps, config.epochs)
    return dataclasses.replace(config, **{name: AUTOMATIC[name](steps) for name in automatic})


def resolved_plan(config: Any, train_docs: int | None = None) -> dict[str, int]:
    """{"steps", "warmup_steps", "checkpoint_every"} the run will use: what the CLI, the Train page
    and a sweep point show, and what a test compares between them."""
    docs = train_documents(config.dataset) if train_docs is None else train_docs
    resolved = resolve_automatic(config, docs)
    return {"steps": planned_steps(docs, config.batch_size, config.max_steps, config.epochs),
            "warmup_steps": resolved.warmup_steps, "checkpoint_every": resolved.checkpoint_every}


PACE_WINDOW = 10
"""Iterations the pace is averaged over when planning a time budget's end."""


def budget_horizon(step: int, total: int, elapsed_s: float, seconds_per_step: float, budget_s: float) -> int:
    """The step at which a time budget will stop the run, or `total` when the step cap comes first.

    The worker stops after the first step that ends at or past the budget, so with `remaining`
    seconds left and each step taking `seconds_per_step`, that is `step + ceil(remaining / pace)`."""
    if not budget_s or seconds_per_step <= 0:
        return total
    remaining = budget_s - elapsed_s
    if remaining <= 0:
        return min(total, step)
    return min(total, step + max(1, math.ceil(remaining / seconds_per_step)))


class BudgetPlan:
    """Where a run's time budget will end it, learned from the pace of its steps, for the learning
    rate schedule (`training.loop.LrSchedule`): the step cap while the steps fit the budget (then
    nothing changes), else the step the budget allows at the measured pace, re-planned each step.

    The pace is the mean wall time of the last `PACE_WINDOW` iterations (step, metrics, any
    checkpoint: what the budget pays for); the first iteration of a process (one-time costs) and
    a profiled step (`measure_memory`) are not samples. No plan before the first sample."""

    def __init__(self, budget_s: float, total_steps: int, started: float) -> None:
        self.budget_s, self.total_steps, self.started = budget_s, total_steps, started
        self._last = started
        self._iterations = 0
        self._samples: list[float] = []

    def step_done(self, step: int, now: float, sample: bool = True) -> int:
        """After step `step` (1-based) ended at `now`: the horizon to decay over."""
        duration, self._last = now - self._last, now
        self._iterations += 1
        if sample and self._iterations > 1:
            self._samples = (self._samples + [duration])[-PACE_WINDOW:]
        if not self.budget_s:
            return self.total_steps
        elapsed = now - self.started
        if elapsed >= self.budget_s:
            return min(self.total_steps, step)  # the run stops here: the rate reaches its floor
        if not self._samples:
            return self.total_steps
        pace = sum(self._samples) / len(self._samples)
        return budget_horizon(step, self.total_steps, elapsed, pace, self.budget_s)
