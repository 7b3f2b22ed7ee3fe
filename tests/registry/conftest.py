"""Registry fixtures: MLflow runs holding tiny adapters (the root conftest's one sqlite store)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tiny_adapters import build_tiny_adapter  # noqa: F401  (tests/ is on sys.path)

torch.set_num_threads(1)




def log_adapter_run(uri: str, adapter_dir: Path | None, rouge_l: float) -> str:
    """A finished run with `adapter/` (unless None) and the key metrics."""
    from deepsynth.tracking.store import RunLogger

    logger = RunLogger.start("registry-tests", run_name=f"rougeL-{rouge_l}", uri=uri)
    logger.log_metrics({"eval/rougeL": rouge_l, "eval/rouge1": rouge_l + 3, "train/loss": 1.5}, step=5, flush=True)
    if adapter_dir is not None:
        logger.log_artifacts(adapter_dir, "adapter")
    logger.finish()
    return logger.run_id


@pytest.fixture(scope="session")
def registry_runs(tmp_path_factory, mlflow_tracking_uri) -> dict[str, str]:
    """Two runs with different adapters and one without an adapter."""
    root = tmp_path_factory.mktemp("registry-adapters")
    first = build_tiny_adapter(root / "first", seed=21)
    second = build_tiny_adapter(root / "second", seed=22)
    return {
        "first": log_adapter_run(mlflow_tracking_uri, first, 25.0),
        "second": log_adapter_run(mlflow_tracking_uri, second, 30.0),
        "empty": log_adapter_run(mlflow_tracking_uri, None, 0.0),
        "first_dir": str(first),
        "second_dir": str(second),
    }
