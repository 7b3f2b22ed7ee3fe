"""How many steps a run will take, and warm-up and checkpoint intervals that fit that many.

`TrainConfig`'s fixed defaults (10 warm-up steps, a checkpoint every 50) suit runs of hundreds of
steps; a 10-step run would spend all of it warming up and checkpoint only at the end. A form that
leaves them empty gets these fractions of the planned steps instead, capped at those defaults.
No torch here (the dashboard plans before anything heavy loads). `planned_steps` lives with the
estimator, below training, which counts with it too.
"""

from __future__ import annotations

from deepsynth.configuration import default_of
from deepsynth.estimate.steps import planned_steps
from deepsynth.training.config import TrainConfig

__all__ = ["planned_steps", "auto_warmup_steps", "auto_checkpoint_every"]

WARMUP_FRACTION = 0.1
"""Warm-up over the first 10% of the steps (the usual 3-10%), at most the `TrainConfig` default."""
CHECKPOINT_FRACTION = 0.25
"""A checkpoint every quarter of the run, at most the `TrainConfig` default interval."""


def auto_warmup_steps(steps: int) -> int:
    return min(default_of(TrainConfig, "warmup_steps"), int(steps * WARMUP_FRACTION))


def auto_checkpoint_every(steps: int) -> int:
    return max(1, min(default_of(TrainConfig, "checkpoint_every"), int(steps * CHECKPOINT_FRACTION)))
