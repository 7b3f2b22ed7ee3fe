"""Fixtures for the fault tests: a tiny dataset and a throwaway workspace (helpers are in
reliability_helpers.py, the injected faults in fault_injection.py).

Every job is a real `deepsynth train` process started by `deepsynth.jobs` as the dashboard starts
it; each test stops what it started (by pid) even when it fails."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> str:
    """24 bundled wiki documents rendered to pages: 18 train (5 batches of 4), 6 validation."""
    from deepsynth.data import DatasetConfig, build_dataset

    out = tmp_path_factory.mktemp("reliability-data") / "wiki24"
    config = DatasetConfig(source="wiki", limit=24, validation_fraction=0.25, test_fraction=0.0,
                           max_text_chars=600, workers=1)
    return str(build_dataset(config, out))


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """DEEPSYNTH_HOME in this test's temp dir; every job still alive at the end is killed."""
    from deepsynth import jobs
    from deepsynth.errors import DeepSynthError

    monkeypatch.setenv("DEEPSYNTH_HOME", str(tmp_path))
    yield tmp_path
    for job_dir in (tmp_path / "workspace" / "jobs").glob("*"):
        try:
            job = jobs.get_job(job_dir.name)
        except (DeepSynthError, OSError, ValueError, KeyError):  # a broken job folder runs nothing
            continue
        if job.alive:
            jobs.cancel(job.job_id, timeout_s=5)
