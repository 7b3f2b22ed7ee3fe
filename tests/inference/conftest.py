"""Inference fixtures: two tiny adapters, a rendered page, and the first adapter as a run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tiny_adapters import build_tiny_adapter  # noqa: F401  (tests/ is on sys.path)

torch.set_num_threads(1)




@pytest.fixture(scope="session")
def two_adapters(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("inference-adapters")
    return build_tiny_adapter(root / "one", seed=31), build_tiny_adapter(root / "two", seed=32)


@pytest.fixture(scope="session")
def page(tmp_path_factory) -> Path:
    from deepsynth.render import RenderConfig, encode_png, render_document

    document = render_document("The river flooded the valley and the town moved uphill. " * 3,
                               RenderConfig(page_height=500))
    path = tmp_path_factory.mktemp("inference-page") / "page.png"
    path.write_bytes(encode_png(document.pages[0]))
    return path


@pytest.fixture(scope="session")
def run_with_first_adapter(mlflow_tracking_uri, two_adapters) -> str:
    from deepsynth.tracking.store import RunLogger

    logger = RunLogger.start("inference-tests", uri=mlflow_tracking_uri)
    logger.log_metrics({"eval/rougeL": 20.0}, step=1, flush=True)
    logger.log_artifacts(two_adapters[0], "adapter")
    logger.finish()
    return logger.run_id
