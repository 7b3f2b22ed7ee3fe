"""Dashboard test fixtures: runs in the session's MLflow store, and pages opened with AppTest.

Runs are created through the library (`deepsynth.tracking.store.RunLogger`) once per session in
the shared sqlite store, in an experiment of their own. Every test gets a fresh workspace
(`DEEPSYNTH_HOME`) and empty Streamlit caches, so nothing leaks between tests.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from dashboard_testing import APP, EXPERIMENT, FakeSpawn, Store, write_fake_adapter


@pytest.fixture(scope="session")
def store(mlflow_tracking_uri, tmp_path_factory) -> Store:
    from deepsynth.tracking.store import FAILED, RunLogger

    finished = []
    adapter_run = None
    for index, rank in enumerate((8, 16, 32)):
        logger = RunLogger.start(EXPERIMENT, run_name=f"rank{rank}", uri=mlflow_tracking_uri,
                                 params={"lora.rank": rank, "lora.alpha": 32, "batch_size": 8, "preset": "custom"},
                                 tags={"deepsynth.preset": "custom"})
        for step in range(1, 31):
            logger.log_metrics({"train/loss": 4.0 / step + index * 0.1, "train/samples_per_s": 10.0 + index}, step)
            time.sleep(0.003)  # distinct timestamps: the live panel's pace (ETA) comes from them
        logger.log_metrics({"eval/rougeL": 20.0 + index, "eval/rouge1": 30.0 + index, "eval/base_rougeL": 12.0,
                            "memory/estimated_bytes": 1.0e9, "memory/measured_peak_bytes": 1.0e9 + index * 1e8},
                           step=30, flush=True)
        if rank == 16:
            logger.log_artifacts(write_fake_adapter(tmp_path_factory.mktemp("adapter") / "adapter"), "adapter")
            adapter_run = logger.run_id
        logger.finish()
        finished.append(logger.run_id)
    failed = RunLogger.start(EXPERIMENT, run_name="broken", uri=mlflow_tracking_uri, params={"lora.rank": 8})
    failed.log_metrics({"train/loss": 9.0}, step=1, flush=True)
    failed.finish(FAILED, error="loss became NaN at step 2")
    return Store(mlflow_tracking_uri, tuple(finished), failed.run_id, adapter_run)


@pytest.fixture
def workspace(workspace, monkeypatch, store, request) -> Path:
    """The shared `workspace` (tests/conftest.py) pointed at the session store, with empty Streamlit
    caches and no login."""
    import streamlit as st

    from streamlit import config

    from deepsynth.dashboard_host import users as dashboard_auth

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    # no login unless a test sets one up (never this machine's own users file), served on loopback
    # as `deepsynth dashboard` does (tests/dashboard/test_login.py covers the other cases)
    monkeypatch.setenv(dashboard_auth.USERS_FILE_ENV, str(workspace / "no-users.json"))
    for name in (dashboard_auth.LOGIN_ENV, dashboard_auth.INSECURE_NO_LOGIN_ENV, dashboard_auth.OIDC_ALLOW_ENV):
        monkeypatch.delenv(name, raising=False)
    address = config.get_option("server.address")
    config.set_option("server.address", "127.0.0.1")
    request.addfinalizer(lambda: config.set_option("server.address", address))
    st.cache_data.clear()
    st.cache_resource.clear()
    return workspace


@pytest.fixture
def open_page(workspace):
    """open_page(name, **session_state) -> AppTest that has run the app on that page, no exception."""
    from streamlit.testing.v1 import AppTest

    def open_(page: str, timeout: float = 60, **state) -> AppTest:
        app = AppTest.from_file(str(APP), default_timeout=timeout)
        for key, value in state.items():
            app.session_state[key] = value
        app.switch_page(f"../pages/{page}.py").run()
        assert not app.exception, app.exception
        return app

    return open_




@pytest.fixture(scope="session")
def small_pages_dataset(tmp_path_factory) -> Path:
    """Six wiki documents on small pages, built once per session through the library."""
    from deepsynth.data import DatasetConfig, build_dataset
    from deepsynth.render import RenderConfig

    render = RenderConfig(font_size=12, page_width=320, page_height=240, margin=8, max_pages=2)
    folder = tmp_path_factory.mktemp("datasets") / "tiny-wiki"
    return build_dataset(DatasetConfig(source="wiki", limit=6, workers=1, render=render), folder)


@pytest.fixture
def datasets_setting(workspace, small_pages_dataset) -> Path:
    """Point the dashboard's data-folder setting (its settings file) at the session's datasets."""
    settings = workspace / "workspace" / "dashboard.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"data_dir": str(small_pages_dataset.parent)}))
    return small_pages_dataset


@pytest.fixture
def fake_spawn():
    spawn = FakeSpawn()
    yield spawn
    for process in spawn.processes:  # stop what this test started, by pid
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def eval_store(store, tmp_path_factory) -> dict:
    """Evaluated runs in experiment EVAL_EXPERIMENT, on a real dataset (12 wiki documents, 6 of them
    test): `a` (the reference) and `b` scored on the 6 test documents, `c` on 2 validation documents
    (not comparable), each with per-document predictions, intervals and baselines."""
    from dashboard_testing import EVAL_EXPERIMENT
    from evaluated_runs import log_evaluated_run

    from deepsynth.data import DatasetConfig, build_dataset, load_dataset_dir
    from deepsynth.evaluation.baselines import first_clause, lead
    from deepsynth.render import RenderConfig

    render = RenderConfig(font_size=12, page_width=320, page_height=240, margin=8, max_pages=2)
    folder = build_dataset(DatasetConfig(source="wiki", limit=12, validation_fraction=0.2, test_fraction=0.5,
                                         workers=1, render=render), tmp_path_factory.mktemp("eval-data") / "wiki12")
    loaded = load_dataset_dir(folder)
    test, validation = loaded.dataset["test"], loaded.dataset["validation"]
    ids, refs, texts = list(test["id"]), list(test["summary"]), list(test["text"])
    baselines = {"first_clause": [first_clause(t, 8) for t in texts], "lead_k": [lead(t, 12) for t in texts],
                 "constant": [refs[0]] * len(ids)}
    # a: right on the first half of the documents; b: right on every other one, and on the last one
    a_out = [r if i < 3 else "" for i, r in enumerate(refs)]
    b_out = [r if i % 2 == 0 or i == 5 else "something else" for i, r in enumerate(refs)]
    common = dict(uri=store.uri, experiment=EVAL_EXPERIMENT, dataset=str(folder))
    a = log_evaluated_run(name="eval-a", ids=ids, references=refs, outputs={"tuned": a_out, "base": [""] * 6, **baselines},
                          params={"lora.rank": 8, "learning_rate": 1e-3}, **common)
    b = log_evaluated_run(name="eval-b", ids=ids, references=refs, outputs={"tuned": b_out, "base": [""] * 6, **baselines},
                          params={"lora.rank": 16, "learning_rate": 1e-3}, **common)
    c = log_evaluated_run(name="eval-c", ids=list(validation["id"]), references=list(validation["summary"]),
                          outputs={"tuned": list(validation["summary"])}, split="validation", requested=10,
                          available=len(validation), params={"lora.rank": 32, "learning_rate": 1e-3}, **common)
    return {"a": a, "b": b, "c": c, "dataset": folder, "test_ids": ids, "a_out": a_out, "b_out": b_out}
