"""Fixtures for training tests: TrainConfigs for the tiny model over the shared `tiny_dataset`.

The dataset and the MLflow store are the session's shared ones (`tiny_dataset`, `mlflow_tracking_uri`, tests/conftest.py)."""

import dataclasses

import pytest

TINY_THREADS = 1  # tests stay off the other engineers' cores; also makes float sums repeatable


@pytest.fixture
def tiny_config(tiny_dataset, mlflow_tracking_uri, tmp_path):
    """A factory of short tiny-model TrainConfigs writing runs under this test's tmp dir."""
    from deepsynth.lora import preset
    from deepsynth.models.config import ModelConfig
    from deepsynth.training.config import TrainConfig

    base = TrainConfig(
        dataset=tiny_dataset, model=ModelConfig(name="tiny", max_source_tokens=64, max_target_tokens=16),
        lora=preset("minimal"), preset="minimal", max_steps=6, batch_size=4, learning_rate=1e-3,
        warmup_steps=0, checkpoint_every=3, eval_docs=3, eval_max_new_tokens=6, eval_batch_size=3,
        experiment="tests-training", tracking_uri=mlflow_tracking_uri, output_dir=str(tmp_path / "runs"),
        threads=TINY_THREADS, system_metrics=False)

    def make(**overrides):
        return dataclasses.replace(base, **overrides)

    return make


@pytest.fixture
def captured_models(monkeypatch):
    """Every DocumentModel the worker builds, for white-box checks after `train()` returns."""
    import deepsynth.models as models

    built = []
    original = models.build_document_model

    def spy(*args, **kwargs):
        model = original(*args, **kwargs)
        built.append(model)
        return model

    monkeypatch.setattr(models, "build_document_model", spy)
    return built
