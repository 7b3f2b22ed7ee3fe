"""Suite-wide settings and the fixtures several test folders share (each defined here once): no hub
access, a quiet and bounded torch, one MLflow store per session, a throwaway workspace, a tiny
rendered dataset."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def mlflow_tracking_uri(tmp_path_factory):
    """ONE sqlite MLflow store for the whole session (a new database takes 4-10 s to migrate);
    tests use their own experiment names. Artifacts go to `mlruns/` beside it."""
    from deepsynth.tracking.store import client_for

    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    client_for(uri).search_experiments()  # migrate now, once
    return uri


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """DEEPSYNTH_HOME in this test's temp dir. At the end, a queue runner this test started and every
    job still alive are stopped, by pid, even when the test failed."""
    from deepsynth import jobs, paths
    from deepsynth.errors import DeepSynthError
    from queue_helpers import stop_runner  # tests/ is on sys.path

    monkeypatch.setenv("DEEPSYNTH_HOME", str(tmp_path))
    yield tmp_path
    stop_runner()
    for job_dir in paths.jobs_dir().glob("*"):
        try:
            job = jobs.get_job(job_dir.name)
        except (DeepSynthError, OSError, ValueError, KeyError):  # a broken job folder runs nothing
            continue
        if job.alive:
            jobs.cancel(job.job_id, timeout_s=5)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> str:
    """24 bundled wiki documents rendered to pages: 18 train (5 batches of 4), 6 validation; built once."""
    from deepsynth.data import DatasetConfig, build_dataset

    out = tmp_path_factory.mktemp("data") / "wiki24"
    config = DatasetConfig(source="wiki", limit=24, validation_fraction=0.25, test_fraction=0.0,
                           max_text_chars=600, workers=1)
    return str(build_dataset(config, out))
