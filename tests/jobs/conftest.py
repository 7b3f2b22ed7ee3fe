"""Fixtures for the job-queue tests: the shared workspace with a dataset folder in it."""

from __future__ import annotations

import pytest


@pytest.fixture
def queue_workspace(workspace):
    """`workspace` (whose jobs and queue runner are stopped at the end, by pid) with a dataset folder
    TrainConfig accepts."""
    (workspace / "d").mkdir()
    (workspace / "d" / "deepsynth_dataset.json").write_text("{}")
    return workspace
