"""Suite-wide settings: no hub access, a quiet and bounded torch, a throwaway workspace."""

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
