"""Fixtures for the attack tests: a throwaway workspace with a real (small) dataset, and a model
folder whose own code writes a marker file when transformers imports it."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory) -> str:
    """Four bundled wiki documents rendered to small pages (a real dataset: training gets as far
    as loading the model, where remote code would run)."""
    from deepsynth.data import DatasetConfig, build_dataset
    from deepsynth.render import RenderConfig

    render = RenderConfig(font_size=12, page_width=320, page_height=240, margin=8, max_pages=1)
    folder = tmp_path_factory.mktemp("security-data") / "wiki4"
    config = DatasetConfig(source="wiki", limit=4, validation_fraction=0.25, test_fraction=0.0,
                           max_text_chars=300, workers=1, render=render)
    return str(build_dataset(config, folder))


@pytest.fixture
def workspace(workspace, monkeypatch, mlflow_tracking_uri):
    """The shared workspace (tests/conftest.py: DEEPSYNTH_HOME in the test's temp dir, jobs and
    runners stopped by pid at the end) under `home/`, with the session's store allowed as
    MLFLOW_TRACKING_URI."""
    home = workspace / "home"
    home.mkdir()
    monkeypatch.setenv("DEEPSYNTH_HOME", str(home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_tracking_uri)
    return home


@pytest.fixture
def evil_model(tmp_path):
    """(model folder with auto_map -> its own evil.py, the marker file that code would write)."""
    from remote_code_model import write_remote_code_model

    marker = tmp_path / "REMOTE-CODE-RAN"
    return write_remote_code_model(tmp_path / "evil-model", marker), marker
