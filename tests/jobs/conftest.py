"""Fixtures for the job-queue tests: a throwaway workspace whose jobs and runner are stopped at the end."""

from __future__ import annotations

import pytest


@pytest.fixture
def queue_workspace(tmp_path, monkeypatch):
    """DEEPSYNTH_HOME in this test's temp dir, with a dataset folder TrainConfig accepts; every job
    and queue runner still alive at the end is stopped, by pid."""
    from deepsynth import jobs
    from queue_helpers import stop_runner  # tests/ is on sys.path

    monkeypatch.setenv("DEEPSYNTH_HOME", str(tmp_path))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "deepsynth_dataset.json").write_text("{}")
    yield tmp_path
    stop_runner()
    for job in jobs.list_jobs():
        if job.alive:
            jobs.cancel(job.job_id, timeout_s=2)
