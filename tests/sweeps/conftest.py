"""Fixtures for the sweep tests: a small rendered dataset, a tiny-model base config, and the shared
`workspace` with the dataset and the session's MLflow store in it."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="session")
def sweep_source_dataset(tmp_path_factory):
    """8 bundled wiki documents on small pages (6 train, 2 validation), built once."""
    from deepsynth.data import DatasetConfig, build_dataset
    from deepsynth.render import RenderConfig

    render = RenderConfig(font_size=12, page_width=320, page_height=400, margin=8, max_pages=2)
    config = DatasetConfig(source="wiki", limit=8, validation_fraction=0.25, test_fraction=0.0,
                           max_text_chars=300, workers=1, render=render)
    return build_dataset(config, tmp_path_factory.mktemp("sweep-data") / "wiki8")


@pytest.fixture
def sweep_workspace(workspace, monkeypatch, mlflow_tracking_uri, sweep_source_dataset):
    """`workspace` (jobs and queue runner stopped at the end) with a private copy of the dataset
    (render variants are built beside it) and the session's MLflow store."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_tracking_uri)
    shutil.copytree(sweep_source_dataset, workspace / "datasets" / "wiki8")
    return workspace


@pytest.fixture
def base_config(sweep_workspace, mlflow_tracking_uri):
    """A short tiny-model run on the workspace's dataset."""
    from deepsynth.lora import preset
    from deepsynth.models.config import ModelConfig
    from deepsynth.training.config import TrainConfig

    return TrainConfig(
        dataset=str(sweep_workspace / "datasets" / "wiki8"),
        model=ModelConfig(name="tiny", max_source_tokens=48, max_target_tokens=8), lora=preset("minimal"),
        preset="minimal", max_steps=2, batch_size=3, learning_rate=1e-3, warmup_steps=0, checkpoint_every=2,
        eval_docs=2, eval_max_new_tokens=4, eval_batch_size=2, eval_base=False, experiment="tests-sweeps",
        tracking_uri=mlflow_tracking_uri, output_dir=str(sweep_workspace / "runs"), threads=1,
        system_metrics=False, measure_memory=False)
