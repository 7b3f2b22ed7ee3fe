"""A run cancelled and resumed to the end is FINISHED everywhere, with its history as information;
a cancel the user asked for is not a failure.

The MLflow side against the session's real sqlite store; the whole path once with a real worker
(the tiny model): cancel mid-run, resume, finish, then read the run back as every view does."""

import json
import time
import uuid

import pytest

from deepsynth import jobs
from deepsynth.jobs.progress import history_lines, state_text
from deepsynth.tracking import queries, store
from deepsynth.tracking.store import RunLogger
from deepsynth.training.cli import parse_train_args


def _experiment():
    return f"tests-honest-{uuid.uuid4().hex[:8]}"


def test_a_resumed_run_that_finishes_carries_no_error(mlflow_tracking_uri):
    logger = RunLogger.start(_experiment(), uri=mlflow_tracking_uri)
    for step in range(1, 6):
        logger.log_metrics({"train/loss": 1.0 / step}, step)
    logger.finish(store.KILLED, error="cancelled (cancelled by SIGTERM)")
    stopped = queries.get_run(logger.run_id, mlflow_tracking_uri)
    assert stopped.status == "KILLED" and stopped.error is None  # a cancel is not a failure...
    assert stopped.tags[store.STOP_TAG] == "cancelled (cancelled by SIGTERM)"  # ...but why is kept

    again = RunLogger.attach(logger.run_id, uri=mlflow_tracking_uri)
    again.log_metrics({"train/loss": 0.1}, 6)
    again.finish()
    finished = queries.get_run(logger.run_id, mlflow_tracking_uri)
    assert finished.status == "FINISHED" and finished.error is None
    assert store.STOP_TAG not in finished.tags and store.ERROR_TAG not in finished.tags
    events = store.read_history(finished.tags)
    assert [e["event"] for e in events] == ["stopped", "resumed"]
    assert events[0]["step"] == 5 and "SIGTERM" in events[0]["reason"]
    assert store.describe_event(events[0]).startswith("cancelled at step 5")


def test_a_failed_run_resumed_to_the_end_keeps_the_failure_as_history(mlflow_tracking_uri):
    logger = RunLogger.start(_experiment(), uri=mlflow_tracking_uri)
    logger.log_metrics({"train/loss": 2.0}, 3, flush=True)
    logger.finish(store.FAILED, error="disk full while writing checkpoint 3")
    assert queries.get_run(logger.run_id, mlflow_tracking_uri).error.startswith("disk full")  # FAILED: an error
    RunLogger.attach(logger.run_id, uri=mlflow_tracking_uri).finish()
    finished = queries.get_run(logger.run_id, mlflow_tracking_uri)
    assert finished.status == "FINISHED" and finished.error is None
    (failed, resumed) = store.read_history(finished.tags)
    assert failed["event"] == "failed" and failed["step"] == 3 and "disk full" in failed["reason"]
    assert "disk full" in store.describe_event(failed)


def test_the_job_layer_says_cancelled_by_you_and_keeps_the_first_start(tmp_path, monkeypatch):
    """Job records as the job layer writes them (no process needed to read them back)."""
    monkeypatch.setenv("DEEPSYNTH_HOME", str(tmp_path))
    job_dir = tmp_path / "workspace" / "jobs" / "20261128-120000-abcdef"
    job_dir.mkdir(parents=True)
    first, second = 1795800000.0, 1795803600.0
    (job_dir / jobs.JOB_FILE).write_text(json.dumps({"job_id": job_dir.name, "train_args": [], "attempts": [
        {"pid": 999_999_1, "create_time": 1.0, "started_at": first, "cancel_requested_at": first + 60,
         "ended": {"state": "KILLED", "step": 5, "by_user": True, "error": None}},
        {"pid": 999_999_2, "create_time": 2.0, "started_at": second, "cancel_requested_at": second + 60}]}))
    (job_dir / jobs.REPORT_FILE).write_text(json.dumps({"pid": 999_999_2, "state": "KILLED", "step": 8,
                                                        "total_steps": 10, "error": "cancelled (cancelled by SIGTERM)"}))
    job = jobs.get_job(job_dir.name)
    assert job.state == jobs.KILLED and job.cancelled_by_user and job.failure is None
    assert state_text(job.state, job.cancelled_by_user) == "Cancelled by you"
    assert job.started_at == first and job.resumed_at == (second,) and job.total_steps == 10
    assert history_lines(job)[1:] == ["Cancelled by you at step 5", history_lines(job)[2]]
    assert history_lines(job)[2].startswith("Resumed ")


@pytest.mark.slow
def test_cancel_resume_finish_with_a_real_worker(tmp_path, monkeypatch, mlflow_tracking_uri):
    """The walk-through's case: a run cancelled, resumed and finished must not read as failed."""
    from deepsynth.data import DatasetConfig, build_dataset
    from deepsynth.render import RenderConfig
    from deepsynth.training.report import read_report

    monkeypatch.setenv("DEEPSYNTH_HOME", str(tmp_path))
    render = RenderConfig(font_size=12, page_width=320, page_height=240, margin=8, max_pages=1)
    dataset = build_dataset(DatasetConfig(source="wiki", limit=8, workers=1, max_text_chars=300, render=render),
                            tmp_path / "data")
    args = ["--dataset", str(dataset), "--preset", "minimal", "--model", "tiny", "--max-steps", "40",
            "--batch-size", "2", "--warmup-steps", "0", "--checkpoint-every", "2", "--eval-docs", "0",
            "--tracking-uri", mlflow_tracking_uri, "--threads", "1", "--no-system-metrics",
            "--experiment", _experiment(), "--time-budget", "0"]
    job = jobs.start_job(*parse_train_args(args))
    deadline = time.monotonic() + 180
    while (read_report(job.job_dir).get("step") or 0) < 3:
        assert time.monotonic() < deadline, job.log_path.read_text()[-2000:]
        time.sleep(0.1)
    cancelled = jobs.cancel(job.job_id, timeout_s=60)
    assert cancelled.state == jobs.KILLED and cancelled.cancelled_by_user and cancelled.failure is None
    stopped_at = cancelled.step
    assert 0 < stopped_at < 40
    assert queries.get_run(cancelled.run_id, mlflow_tracking_uri).error is None

    jobs.resume(job.job_id)
    done = jobs.wait(job.job_id, timeout_s=300)
    assert done.state == jobs.FINISHED and done.failure is None, done.log_path.read_text()[-3000:]
    assert done.started_at == cancelled.started_at and len(done.resumed_at) == 1
    assert history_lines(done)[1] == f"Cancelled by you at step {stopped_at}"
    run = queries.get_run(done.run_id, mlflow_tracking_uri)  # what Compare, the registry and the playground read
    assert run.status == "FINISHED" and run.error is None
    assert [e["event"] for e in store.read_history(run.tags)] == ["stopped", "resumed"]
