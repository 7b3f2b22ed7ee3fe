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


MIN_STEPS_TIMES_LR = 0.004
"""Below this steps x learning rate a LoRA run barely moves the model: its B matrices start at zero,
so the tuned model *is* the base until training has moved them. The default demo (90 steps at 2e-4,
product 0.018) moved ROUGE-L by points; 6 steps at 2e-4 (0.0012) left tuned = base (21.2 vs 21.2).
0.004 is 20 steps at the default rate: a rule of thumb, not a measured threshold."""


def too_short_to_learn(steps: int, learning_rate: float) -> str | None:
    """A plain sentence when `steps` optimizer steps at `learning_rate` are likely too few to change
    the scores, else None."""
    if steps <= 0 or learning_rate <= 0 or steps * learning_rate >= MIN_STEPS_TIMES_LR:
        return None
    needed = math.ceil(MIN_STEPS_TIMES_LR / learning_rate)
    return (f"{steps} step{'s' if steps != 1 else ''} at learning rate {learning_rate:g} will probably not change "
            f"the scores: the adapter starts as a no-op, so the tuned model stays equal to the base until "
            f"training moves it. Give it at least about {needed} steps at this rate (or a higher learning rate).")
