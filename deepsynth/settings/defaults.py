"""Defaults that more than one config shares: what a training run looks like unless told
otherwise. `TrainConfig` and the estimator's `Workload` both read them, so the Estimate page and
the Train page start from the same run."""

from __future__ import annotations

BATCH_SIZE = 8
"""Documents per optimizer step (`TrainConfig.batch_size`, `Workload.batch_size`)."""
PROMPT_TOKENS = 64
"""Chat markup + a default instruction, in tokens (SmolLM2's template with the default
instruction is ~40): the part of a training sequence that is neither page nor summary."""
