"""Queries the Compare page uses: filters, params, histories; fast on 200 runs."""

import time
import uuid

import pytest
from mlflow.entities import Metric, Param

from deepsynth.tracking import queries, store


@pytest.fixture(scope="module")
def two_hundred_runs(mlflow_tracking_uri):
    """200 runs (20 FAILED) in one experiment, each with params and a 10-step loss curve."""
    name = f"test-queries-{uuid.uuid4().hex[:8]}"
    experiment_id = store.ensure_experiment(name, mlflow_tracking_uri)
    client = store.client_for(mlflow_tracking_uri)
    now = int(time.time() * 1000)
    run_ids = []
    for index in range(200):
        run = client.create_run(experiment_id, run_name=f"run-{index:03d}")
        metrics = [Metric("train/loss", 10.0 - step * 0.1 - index * 0.001, now, step) for step in range(10)]
        metrics.append(Metric("eval/rougeL", float(index % 50), now, 10))
        params = [Param("preset", "minimal" if index % 2 else "standard"), Param("lora.rank", str(4 + index % 3))]
        client.log_batch(run.info.run_id, metrics=metrics, params=params)
        if index % 10 == 0:  # the others stay RUNNING: one sqlite commit less per run
            client.set_terminated(run.info.run_id, "FAILED")
        run_ids.append(run.info.run_id)
    return name, run_ids


def test_list_runs_and_filters(two_hundred_runs, mlflow_tracking_uri):
    name, run_ids = two_hundred_runs
    started = time.perf_counter()
    runs = queries.list_runs([name], uri=mlflow_tracking_uri)
    elapsed = time.perf_counter() - started
    assert len(runs) == 200 and {r.run_id for r in runs} == set(run_ids)
    assert elapsed < 3.0, f"listing 200 runs took {elapsed:.2f} s"
    failed = queries.list_runs([name], status="FAILED", uri=mlflow_tracking_uri)
    assert len(failed) == 20 and all(r.status == "FAILED" for r in failed)
    minimal = queries.list_runs([name], filter_string=queries.params_filter({"preset": "minimal"}),
                                uri=mlflow_tracking_uri)
    assert len(minimal) == 100 and all(r.params["preset"] == "minimal" for r in minimal)
    good = queries.list_runs([name], filter_string="metrics.`eval/rougeL` >= 45", uri=mlflow_tracking_uri)
    assert len(good) == 20
    with pytest.raises(ValueError):
        queries.list_runs([name], status="DONE", uri=mlflow_tracking_uri)


def test_filter_values_are_quoted_safely(two_hundred_runs, mlflow_tracking_uri):
    name, _ = two_hundred_runs
    assert queries.list_runs([name], filter_string=queries.params_filter({"preset": "x' or '1'='1"}),
                             uri=mlflow_tracking_uri) == []


def test_metric_histories_of_200_runs_in_one_go(two_hundred_runs, mlflow_tracking_uri):
    _, run_ids = two_hundred_runs
    started = time.perf_counter()
    frame = queries.metric_histories(run_ids, ["train/loss", "eval/rougeL"], uri=mlflow_tracking_uri)
    elapsed = time.perf_counter() - started
    assert elapsed < 3.0, f"200 histories took {elapsed:.2f} s"
    assert len(frame) == 200 * 11
    one = frame[(frame.run_id == run_ids[7]) & (frame.key == "train/loss")]
    assert list(one.step) == list(range(10))
    assert one.value.iloc[-1] == pytest.approx(10.0 - 0.9 - 0.007)


def test_experiments_params_and_single_run(two_hundred_runs, mlflow_tracking_uri):
    name, run_ids = two_hundred_runs
    assert name in [e.name for e in queries.list_experiments(mlflow_tracking_uri)]
    run = queries.get_run(run_ids[5], mlflow_tracking_uri)
    assert run.params == {"preset": "minimal", "lora.rank": "6"}
    assert run.run_name == "run-005" and run.status == "RUNNING" and run.duration_s >= 0
    assert "train/loss" in queries.metric_keys([run])
