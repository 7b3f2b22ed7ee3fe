"""How many optimizer steps a run will take, from its settings alone (no torch): the estimator's
time prediction and the training plan (`deepsynth.training.step_plan`) both count with it."""

from __future__ import annotations

import math


def planned_steps(train_docs: int, batch_size: int, max_steps: int, epochs: float) -> int:
    """Optimizer steps the worker will run (`training.loop.DataOrder.total_steps`): `max_steps`, or
    enough batches for `epochs` passes over `train_docs` documents."""
    if max_steps:
        return int(max_steps)
    per_epoch = math.ceil(max(1, train_docs) / max(1, batch_size))
    return max(1, math.ceil(epochs * per_epoch))
