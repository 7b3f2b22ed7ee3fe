"""RunLogger against a real sqlite MLflow store (one per test session, see tests/conftest.py)."""

import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest

from deepsynth.tracking import store
from deepsynth.tracking.store import RunLogger, with_retry


def _experiment() -> str:
    return f"test-store-{uuid.uuid4().hex[:8]}"


def test_run_records_params_metrics_dataset_and_status(mlflow_tracking_uri, tmp_path):
    logger = RunLogger.start(_experiment(), "r1", params={"lora.rank": 8, "model.name": "tiny", "x": None},
                             tags={"deepsynth.preset": "minimal"}, uri=mlflow_tracking_uri)
    for step in range(1, 31):
        logger.log_metrics({"train/loss": 1.0 / step, "train/lr": 1e-3}, step)
    logger.log_dataset("wiki", tmp_path, "0123456789abcdef", {"render": {"font_size": 20}, "counts": {"train": 5}})
    logger.log_dict({"a": 1}, "config/train_config.json")
    logger.finish(store.FAILED, error="boom at step 7")

    client = store.client_for(mlflow_tracking_uri)
    run = client.get_run(logger.run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags[store.ERROR_TAG] == "boom at step 7"
    assert run.data.params == {"lora.rank": "8", "model.name": "tiny", "x": ""}
    history = client.get_metric_history(logger.run_id, "train/loss")
    assert [m.step for m in history] == list(range(1, 31))  # buffered, none lost at finish
    assert history[-1].value == pytest.approx(1 / 30)
    dataset = run.inputs.dataset_inputs[0]
    assert dataset.dataset.name == "wiki" and '"font_size": 20' in dataset.dataset.profile
    assert {t.key: t.value for t in dataset.tags}["mlflow.data.context"] == "train"
    artifacts = Path(urlparse(run.info.artifact_uri).path)
    assert (artifacts / "config" / "train_config.json").is_file()
    # artifacts live beside the sqlite file, not in whatever the cwd was
    database = Path(mlflow_tracking_uri.removeprefix("sqlite:///"))
    assert artifacts.resolve().is_relative_to((database.parent / "mlruns").resolve())


def test_attach_continues_the_same_run(mlflow_tracking_uri):
    logger = RunLogger.start(_experiment(), uri=mlflow_tracking_uri)
    logger.log_metrics({"train/loss": 2.0}, 1, flush=True)
    logger.finish(store.KILLED)
    again = RunLogger.attach(logger.run_id, uri=mlflow_tracking_uri)
    assert store.run_status(logger.run_id, mlflow_tracking_uri) == "RUNNING"
    again.log_metrics({"train/loss": 1.0}, 2)
    again.finish()
    history = store.client_for(mlflow_tracking_uri).get_metric_history(logger.run_id, "train/loss")
    assert [(m.step, m.value) for m in history] == [(1, 2.0), (2, 1.0)]
    assert store.run_status(logger.run_id, mlflow_tracking_uri) == "FINISHED"


def test_terminate_if_running_only_touches_running_runs(mlflow_tracking_uri):
    logger = RunLogger.start(_experiment(), uri=mlflow_tracking_uri)
    assert store.terminate_if_running(logger.run_id, store.FAILED, "worker died", mlflow_tracking_uri)
    assert store.run_status(logger.run_id, mlflow_tracking_uri) == "FAILED"
    assert not store.terminate_if_running(logger.run_id, store.KILLED, uri=mlflow_tracking_uri)
    assert store.run_status(logger.run_id, mlflow_tracking_uri) == "FAILED"
    with pytest.raises(ValueError):
        store.terminate_if_running(logger.run_id, "RUNNING", uri=mlflow_tracking_uri)


def test_with_retry_backs_off_on_locked_and_not_on_other_errors():
    calls = []

    def flaky():
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise RuntimeError("(sqlite3.OperationalError) database is locked")
        return "ok"

    assert with_retry(flaky, first_delay_s=0.01) == "ok" and len(calls) == 3
    with pytest.raises(KeyError):
        with_retry(lambda: (_ for _ in ()).throw(KeyError("other")), first_delay_s=0.01)
    with pytest.raises(RuntimeError, match="locked"):
        with_retry(lambda: (_ for _ in ()).throw(RuntimeError("database is locked")), attempts=2,
                   first_delay_s=0.01)


def test_metrics_survive_a_database_held_locked_longer_than_sqlite_waits(mlflow_tracking_uri):
    """Another writer holds the sqlite file locked for 6.5 s (sqlite's busy timeout is 5 s): the
    flush must wait and retry, not drop the metrics."""
    uri = mlflow_tracking_uri
    logger = RunLogger.start(_experiment(), uri=uri)
    database = uri.removeprefix("sqlite:///")
    holding = threading.Event()

    def hold_lock():
        connection = sqlite3.connect(database, timeout=30, isolation_level=None)
        connection.execute("BEGIN EXCLUSIVE")
        holding.set()
        time.sleep(6.5)
        connection.execute("COMMIT")
        connection.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    holding.wait()
    logger.log_metrics({"train/loss": 0.5}, 1, flush=True)  # blocked ~6.5 s, then written
    holder.join()
    logger.finish()
    assert [m.value for m in store.client_for(uri).get_metric_history(logger.run_id, "train/loss")] == [0.5]


WRITER = """
import sys
from deepsynth.tracking.store import RunLogger
logger = RunLogger(sys.argv[2], uri=sys.argv[1], flush_interval_s=0)
for step in range(int(sys.argv[3])):
    logger.log_metrics({"m": float(step), "n": 1.0}, step)
"""


def test_two_processes_writing_one_store_lose_nothing(mlflow_tracking_uri):
    runs = [RunLogger.start(_experiment(), uri=mlflow_tracking_uri) for _ in range(2)]
    steps = 60
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, mlflow_tracking_uri, r.run_id, str(steps)])
               for r in runs]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    client = store.client_for(mlflow_tracking_uri)
    for run in runs:
        assert [m.step for m in client.get_metric_history(run.run_id, "m")] == list(range(steps))


def test_periodic_metric_writes_do_not_block_the_training_step(mlflow_tracking_uri, monkeypatch):
    import threading

    logger = RunLogger.start(_experiment(), uri=mlflow_tracking_uri)
    logger.flush_interval_s = 0.001
    release, written_on = threading.Event(), []
    real_log_batch = logger.client.log_batch

    def slow_log_batch(*args, **kwargs):
        written_on.append(threading.current_thread().name)
        release.wait(timeout=30)  # a slow database
        return real_log_batch(*args, **kwargs)

    monkeypatch.setattr(logger.client, "log_batch", slow_log_batch)
    time.sleep(0.01)
    started = time.monotonic()
    logger.log_metrics({"m": 1.0}, step=1)
    logger.log_metrics({"m": 2.0}, step=2)  # the first write is still running: buffered
    assert time.monotonic() - started < 1.0, "log_metrics waited for the database"
    assert written_on == ["deepsynth-metrics"]
    release.set()
    logger.flush()  # waits for the background write, then writes the rest
    history = store.client_for(mlflow_tracking_uri).get_metric_history(logger.run_id, "m")
    assert [m.step for m in history] == [1, 2]


def test_a_failed_background_write_surfaces_at_the_next_call(mlflow_tracking_uri, monkeypatch):
    logger = RunLogger.start(_experiment(), uri=mlflow_tracking_uri)
    logger.flush_interval_s = 0.001

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(logger.client, "log_batch", full_disk)
    time.sleep(0.01)
    logger.log_metrics({"m": 1.0}, step=1)
    logger._writer.join()
    with pytest.raises(OSError, match="No space left"):
        logger.log_metrics({"m": 2.0}, step=2)
