"""Fixtures for the attack tests: a throwaway workspace with a real (small) dataset, a running job
whose process is a harmless sleeper, and a model
folder whose own code writes a marker file when transformers imports it."""

from __future__ import annotations

import json
import subprocess
import sys

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


@pytest.fixture
def running_job(tmp_path, monkeypatch):
    """A job whose process is a harmless sleeper, in the workspace the server will use (tmp_path)."""
    from deepsynth import jobs
    from deepsynth.training.cli import parse_train_args

    monkeypatch.setenv("DEEPSYNTH_HOME", str(tmp_path))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "deepsynth_dataset.json").write_text("{}")  # enough for a job that never trains
    processes = []

    def sleeper(argv, **kwargs):
        processes.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], **kwargs))
        return processes[-1]

    job = jobs.start_job(*parse_train_args(["--dataset", str(tmp_path / "data"), "--preset", "minimal"]),
                         spawn=sleeper)
    (job.job_dir / "report.json").write_text(json.dumps({"pid": job.pid, "state": "RUNNING", "step": 3,
                                                         "total_steps": 90}))
    yield job
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
