"""Real worker processes, really killed: kill -9 then resume, and cancel.

Each job is `python -m deepsynth train ... --model tiny` started by `deepsynth.jobs` exactly as the
dashboard starts it."""

import random
import time
from pathlib import Path

import psutil

from deepsynth import jobs
from deepsynth.training.cli import parse_train_args
from deepsynth.training.report import read_report
from deepsynth.tracking import store
from deepsynth.training import checkpoint
from waiting import wait_for

# Resumed vs uninterrupted final loss: CPU, 1 thread, same seed, RNG and data order restored,
# so the replayed steps are the same computation; allow float32 round-off only.
LOSS_TOLERANCE = 1e-5


def _train_args(dataset, uri, output_dir, max_steps, checkpoint_every):
    return ["--dataset", dataset, "--preset", "minimal", "--model", "tiny", "--max-steps", str(max_steps),
            "--batch-size", "4", "--lr", "1e-3", "--warmup-steps", "0", "--checkpoint-every",
            str(checkpoint_every), "--eval-docs", "0", "--tracking-uri", uri, "--output-dir", str(output_dir),
            "--threads", "1", "--no-system-metrics", "--experiment", "tests-fault-tolerance"]


def _report(job):
    return read_report(job.job_dir)


def test_kill_9_mid_run_then_resume_continues_the_same_run_and_matches_an_uninterrupted_one(
        workspace, tiny_dataset, mlflow_tracking_uri):
    from deepsynth.cli import build_parser
    from deepsynth.training.cli import config_from_args
    from deepsynth.training.worker import train

    args = _train_args(tiny_dataset, mlflow_tracking_uri, workspace / "runs", max_steps=60, checkpoint_every=5)
    job = jobs.start_job(*parse_train_args(args))
    run_dir = Path(wait_for(lambda: _report(job).get("run_dir"), 120, "the worker's MLflow run"))
    wait_for(lambda: (checkpoint.latest(run_dir) or checkpoint.Checkpoint(run_dir, 0)).step >= 10, 120,
              "a checkpoint at step >= 10")
    time.sleep(random.uniform(0.0, 0.3))  # anywhere: mid-step, mid-checkpoint, mid-flush
    psutil.Process(job.pid).kill()  # SIGKILL: no handler runs
    killed = wait_for(lambda: (j := jobs.get_job(job.job_id)).state != jobs.RUNNING and j, 30, "the job to die")
    assert killed.state == jobs.FAILED and "without reporting" in killed.error
    run_id = killed.run_id
    assert store.run_status(run_id, mlflow_tracking_uri) == "FAILED"  # closed by the job layer
    stopped_at = checkpoint.latest(run_dir).step
    assert 10 <= stopped_at < 60

    resumed = jobs.resume(job.job_id)
    assert resumed.attempt == 2 and resumed.pid != job.pid
    finished = jobs.wait(job.job_id, timeout_s=240)
    log = finished.log_path.read_text()
    assert finished.state == jobs.FINISHED, log[-3000:]
    assert finished.run_id == run_id and f"from step {stopped_at}" in log
    assert store.run_status(run_id, mlflow_tracking_uri) == "FINISHED"
    history = store.client_for(mlflow_tracking_uri).get_metric_history(run_id, "train/loss")
    assert {m.step for m in history} == set(range(1, 61)) and max(m.step for m in history) == 60
    assert not [p for p in (run_dir / "checkpoints").iterdir() if p.name.startswith(".tmp")]

    # the same settings, never interrupted, in this process
    straight_config = config_from_args(build_parser().parse_args(["train", *args]))
    straight = train(straight_config, progress=False)
    straight_loss = store.client_for(mlflow_tracking_uri).get_metric_history(straight, "train/loss")
    final = {m.step: m.value for m in history}[60]
    difference = abs(final - {m.step: m.value for m in straight_loss}[60])
    print(f"resumed from step {stopped_at}: final loss {final:.6f}, |resumed - uninterrupted| = {difference:.2e}")
    assert difference <= LOSS_TOLERANCE


def test_cancel_stops_cleanly_marks_killed_and_a_second_cancel_is_harmless(
        workspace, tiny_dataset, mlflow_tracking_uri):
    args = _train_args(tiny_dataset, mlflow_tracking_uri, workspace / "runs", max_steps=2000, checkpoint_every=1000)
    job = jobs.start_job(*parse_train_args(args))
    wait_for(lambda: _report(job).get("total_steps"), 120, "training to start")
    time.sleep(1.0)
    cancelled = jobs.cancel(job.job_id, timeout_s=60)
    assert cancelled.state == jobs.KILLED and cancelled.error and "SIGTERM" in cancelled.error
    assert store.run_status(cancelled.run_id, mlflow_tracking_uri) == "KILLED"
    assert not psutil.pid_exists(job.pid)  # gone and reaped: no zombie left behind
    run_dir = Path(_report(job)["run_dir"])
    stopped_at = checkpoint.latest(run_dir).step  # the worker checkpointed before exiting
    assert 0 < stopped_at < 2000 and stopped_at == _report(job)["step"]
    again = jobs.cancel(job.job_id)
    assert again.state == jobs.KILLED and store.run_status(cancelled.run_id, mlflow_tracking_uri) == "KILLED"


def test_two_jobs_at_once_both_finish_with_every_metric(workspace, tiny_dataset, mlflow_tracking_uri):
    """Two workers writing the one sqlite store (metrics, system metrics, artifacts) at once."""
    started = []
    for seed in ("1", "2"):
        args = _train_args(tiny_dataset, mlflow_tracking_uri, workspace / "runs", max_steps=25, checkpoint_every=5)
        args = [a for a in args if a != "--no-system-metrics"] + ["--seed", seed, "--eval-docs", "2"]
        started.append(jobs.start_job(*parse_train_args(args)))
    finished = [jobs.wait(job.job_id, timeout_s=300) for job in started]
    client = store.client_for(mlflow_tracking_uri)
    for job in finished:
        assert job.state == jobs.FINISHED, job.log_path.read_text()[-3000:]
        history = client.get_metric_history(job.run_id, "train/loss")
        assert sorted(m.step for m in history) == list(range(1, 26))
        assert "eval/rougeL" in client.get_run(job.run_id).data.metrics
    assert finished[0].run_id != finished[1].run_id
