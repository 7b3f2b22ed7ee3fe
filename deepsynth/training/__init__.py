"""The training worker: `TrainConfig`, `train(config) -> run_id`, checkpoints, ROUGE evaluation.

Light on import (no torch): `from deepsynth.training import TrainConfig, train`.
"""

from __future__ import annotations

from typing import Any

from deepsynth.training.config import TrainConfig

__all__ = ["TrainConfig", "train"]


def train(config: TrainConfig | None = None, **kwargs: Any) -> str:
    """See `deepsynth.training.worker.train`."""
    from deepsynth.training.worker import train as run

    return run(config, **kwargs)
