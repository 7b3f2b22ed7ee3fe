"""The dashboard goes away while a real training job runs: the job keeps running, a fresh process
finds it again by pid + start time (a job file naming the same pid with another start time is not
taken for it), its log and curves keep growing, and cancel from that fresh process stops it
cleanly (MLflow KILLED, its process group gone, nothing left as a zombie; a second cancel is
harmless)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
from reliability_helpers import process_group, python_child, train_args, wait_for

from deepsynth import jobs, paths
from deepsynth.tracking import store
from deepsynth.training import checkpoint

# A dashboard process: starts the job as the Train page does, then exits (restart, crash, closed tab).
DASHBOARD = """
import json, sys
from deepsynth import jobs
from deepsynth.training.cli import parse_train_args
job = jobs.start_job(*parse_train_args(json.loads(sys.argv[1])))
print(job.job_id, job.pid)
"""


def _report(job_dir: Path) -> dict:
    path = job_dir / jobs.REPORT_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def _losses(run_id: str, uri: str) -> list:
    return store.client_for(uri).get_metric_history(run_id, "train/loss")


def test_a_job_outlives_the_dashboard_is_found_again_and_cancels_cleanly(workspace, tiny_dataset,
                                                                        mlflow_tracking_uri):
    uri = mlflow_tracking_uri
    args = train_args(tiny_dataset, uri, workspace / "runs", max_steps=100_000, checkpoint_every=100_000)
    started = python_child(DASHBOARD, json.dumps(args))
    assert started.returncode == 0, started.stderr
    job_id, pid = started.stdout.split()[-2], int(started.stdout.split()[-1])

    # the dashboard has exited; the worker runs on in its own session, not a child of ours
    worker = psutil.Process(pid)
    assert worker.is_running() and os.getsid(pid) == pid and os.getpgid(pid) == pid
    assert pid not in {child.pid for child in psutil.Process().children(recursive=True)}
    job_dir = paths.jobs_dir() / job_id
    report = wait_for(lambda: (r := _report(job_dir)).get("total_steps") and r, 120, "training to start")
    run_id = report["run_id"]

    # a fresh dashboard: `deepsynth jobs list` in a new process, knowing only the files
    listing = subprocess.run([sys.executable, "-m", "deepsynth", "jobs", "list"], capture_output=True,
                             text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr
    line = next(l for l in listing.stdout.splitlines() if l.startswith(job_id))
    assert line.split()[1:3] == ["RUNNING", str(pid)] and line.split()[-1] == run_id

    # the log and the curves continue
    seen_steps, seen_log = len(_losses(run_id, uri)), (job_dir / jobs.LOG_FILE).stat().st_size
    wait_for(lambda: len(_losses(run_id, uri)) >= seen_steps + 5, 120, "more train/loss points", poll_s=0.5)
    assert (job_dir / jobs.LOG_FILE).stat().st_size >= seen_log

    # the same pid recorded with another start time (a reused pid) is never taken for our job
    record = json.loads((job_dir / jobs.JOB_FILE).read_text())
    record["attempts"][-1]["create_time"] -= 3600.0
    stranger_dir = paths.jobs_dir() / "stale-job-with-a-reused-pid"
    stranger_dir.mkdir()
    (stranger_dir / jobs.JOB_FILE).write_text(json.dumps(record))
    stranger = jobs.get_job(stranger_dir.name)
    assert stranger.pid == pid and stranger.state == jobs.FAILED and not stranger.alive
    assert jobs.cancel(stranger_dir.name).state == jobs.FAILED  # touches nothing
    assert worker.is_running() and jobs.get_job(job_id).state == jobs.RUNNING
    assert store.run_status(run_id, uri) == "RUNNING"

    # cancel from this process (the worker's parent is gone): clean stop, then nothing left
    cancelled = jobs.cancel(job_id, timeout_s=60)
    assert cancelled.state == jobs.KILLED and "SIGTERM" in (cancelled.error or "")
    assert store.run_status(run_id, uri) == "KILLED"
    wait_for(lambda: not process_group(pid), 15, f"process group {pid} to be empty")
    assert not psutil.pid_exists(pid)  # reaped: not even a zombie remains
    run_dir = Path(store.run_tags(run_id, uri)[store.RUN_DIR_TAG])
    last = checkpoint.latest(run_dir)  # written on SIGTERM, at the step the worker reported
    assert last is not None and last.step == _report(job_dir)["step"]
    assert max(m.step for m in _losses(run_id, uri)) == last.step  # no metric after the checkpoint is lost

    again = jobs.cancel(job_id, timeout_s=5)
    assert again.state == jobs.KILLED and store.run_status(run_id, uri) == "KILLED"
    assert checkpoint.latest(run_dir) == last
