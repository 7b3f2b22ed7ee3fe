"""The job layer with stand-in workers (tiny Python scripts): identity, cancel, restart, resume.

The real worker is killed and resumed in tests/training/test_fault_tolerance.py."""

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from deepsynth import jobs, processes
from deepsynth.training import report
from deepsynth.errors import DeepSynthError, InputError
from deepsynth.tracking.store import RunLogger, run_status
from deepsynth.training.config import TrainConfig, load_train_config

# A stand-in worker: reports like the real one, sleeps, and on SIGTERM reports KILLED and exits.
# argv: [mode, run_id, tracking_uri]; mode "obedient" | "stubborn" (ignores SIGTERM and has a child)
STAND_IN = r"""
import os, signal, subprocess, sys, time
from deepsynth.training.report import ENV_JOB_DIR, write_report
mode, run_id, uri = sys.argv[1:4]
job_dir = os.environ[ENV_JOB_DIR]
def stop(*_):
    write_report(job_dir, state="KILLED", error="cancelled (cancelled by SIGTERM)")
    sys.exit(0)
if mode == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
else:
    signal.signal(signal.SIGTERM, stop)
ids = {"run_id": run_id, "tracking_uri": uri} if run_id != "none" else {}
write_report(job_dir, state="RUNNING", step=3, **ids)
print("stand-in running", flush=True)
time.sleep(600)
"""


pytestmark = pytest.mark.usefixtures("queue_workspace")  # `workspace` with a dataset folder TrainConfig accepts


def stand_in(mode, run_id="none", uri="none", seen=None):
    """A `spawn` that runs the stand-in instead of `deepsynth train`, keeping every other option."""

    def spawn(argv, **options):
        if seen is not None:
            seen.append((argv, options))
        return subprocess.Popen([sys.executable, "-c", STAND_IN, mode, run_id, uri], **options)

    return spawn


def _wait_running(job_id):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = jobs.get_job(job_id)
        if job.step == 3:
            return job
        time.sleep(0.05)
    raise AssertionError("stand-in never reported")


def a_config(workspace, **fields):
    return TrainConfig(dataset=str(workspace / "d"), **fields)


def test_start_records_argv_identity_and_own_session(workspace):
    seen = []
    config = a_config(workspace, weight_decay=0.01, keep_checkpoints=3)
    job = jobs.start_job(config, spawn=stand_in("obedient", seen=seen))
    argv, options = seen[0]
    config_file = job.job_dir / "train_config.json"
    assert argv[1:] == ["-m", "deepsynth", "train", "--config", str(config_file)]
    assert load_train_config(config_file) == config  # every field travels, not only those with a flag
    assert options["start_new_session"] is True and "shell" not in options
    assert options["env"][report.ENV_JOB_DIR] == str(job.job_dir) and options["env"][report.ENV_CONCURRENT_JOBS] == "1"
    record = json.loads((job.job_dir / jobs.JOB_FILE).read_text())
    assert record["attempts"][0]["pid"] == job.pid
    assert record["attempts"][0]["create_time"] == psutil.Process(job.pid).create_time()
    assert os.getpgid(job.pid) == job.pid  # leads its own process group
    job = _wait_running(job.job_id)
    assert job.state == jobs.RUNNING and job.step == 3
    assert [j.job_id for j in jobs.list_jobs()] == [job.job_id]
    second = jobs.start_job(a_config(workspace), spawn=stand_in("obedient", seen=seen))
    assert seen[1][1]["env"][report.ENV_CONCURRENT_JOBS] == "2"  # the worker budgets threads with this
    jobs.cancel(second.job_id, timeout_s=10)


def test_cancel_is_clean_then_harmless(workspace):
    job = _wait_running(jobs.start_job(a_config(workspace), spawn=stand_in("obedient")).job_id)
    started = time.monotonic()
    cancelled = jobs.cancel(job.job_id, timeout_s=20)
    assert time.monotonic() - started < 10  # the worker exited on SIGTERM; no timeout needed
    assert cancelled.state == jobs.KILLED and "SIGTERM" in cancelled.error
    assert cancelled.cancelled_by_user and cancelled.failure is None  # asked for: not a failure
    assert not psutil.pid_exists(job.pid)  # reaped, no zombie
    assert jobs.cancel(job.job_id).state == jobs.KILLED  # second cancel: nothing happens
    assert "stand-in running" in cancelled.log_path.read_text()


def test_a_worker_ignoring_sigterm_loses_its_whole_group_after_the_timeout(workspace):
    job = _wait_running(jobs.start_job(a_config(workspace), spawn=stand_in("stubborn")).job_id)
    deadline = time.monotonic() + 20
    while len(psutil.Process(job.pid).children()) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    child = psutil.Process(job.pid).children()[0]
    started = time.monotonic()
    cancelled = jobs.cancel(job.job_id, timeout_s=1.0)
    assert 1.0 <= time.monotonic() - started < 10
    assert cancelled.state == jobs.KILLED
    child.wait(timeout=10)  # killed with its parent's group (it was not our child: init reaps it)
    assert not psutil.pid_exists(job.pid)


def test_reattach_after_a_dashboard_restart_and_a_reused_pid_is_not_ours(workspace):
    job = _wait_running(jobs.start_job(a_config(workspace), spawn=stand_in("obedient")).job_id)
    popen = processes.forget_child(job.pid)  # a new dashboard process knows nothing but the files
    try:
        again = jobs.get_job(job.job_id)
        assert again.state == jobs.RUNNING and again.pid == job.pid
        # the same pid with another start time is another process: never reported as ours
        path = job.job_dir / jobs.JOB_FILE
        record = json.loads(path.read_text())
        record["attempts"][-1]["create_time"] -= 3600
        path.write_text(json.dumps(record))
        stranger = jobs.get_job(job.job_id)
        assert stranger.state == jobs.FAILED and not stranger.alive
        assert jobs.cancel(job.job_id).state == jobs.FAILED  # and cancel does not touch it
        assert psutil.Process(job.pid).is_running()
    finally:
        popen.kill()
        popen.wait()


def test_a_worker_that_dies_silently_is_failed_and_its_run_closed(workspace, mlflow_tracking_uri):
    logger = RunLogger.start("tests-jobs", uri=mlflow_tracking_uri)
    job = _wait_running(jobs.start_job(a_config(workspace), spawn=stand_in("obedient", logger.run_id, mlflow_tracking_uri)).job_id)
    os.kill(job.pid, signal.SIGKILL)
    processes.forget_child(job.pid).wait()
    dead = jobs.get_job(job.job_id)
    assert dead.state == jobs.FAILED and "without reporting" in dead.error
    assert run_status(logger.run_id, mlflow_tracking_uri) == "FAILED"

    seen = []
    resumed = jobs.resume(job.job_id, spawn=stand_in("obedient", logger.run_id, mlflow_tracking_uri, seen=seen))
    assert seen[0][0][-4:] == ["--resume", logger.run_id, "--tracking-uri", mlflow_tracking_uri]
    assert resumed.attempt == 2 and resumed.state == jobs.RUNNING
    assert resumed.started_at == dead.started_at and len(resumed.resumed_at) == 1  # "started" = the first start
    (ended,) = resumed.past_attempts
    assert ended["state"] == jobs.FAILED and not ended["by_user"] and "without reporting" in ended["error"]
    with pytest.raises(DeepSynthError, match="still running"):
        jobs.resume(job.job_id)
    jobs.cancel(job.job_id, timeout_s=10)


def test_bad_job_ids_are_refused(workspace):
    for bad in ("../etc", "a/b", "", "x;rm -rf /"):
        with pytest.raises(InputError):
            jobs.get_job(bad)
    with pytest.raises(InputError, match="no job"):
        jobs.get_job("20990101-000000-abcdef")


def test_jobs_cli_lists_shows_and_cancels(workspace, capsys):
    from deepsynth.cli import main

    job = _wait_running(jobs.start_job(a_config(workspace), spawn=stand_in("obedient")).job_id)
    assert main(["jobs", "list"]) == 0
    line = [l for l in capsys.readouterr().out.splitlines() if l.startswith(job.job_id)][0]
    assert line.split()[1:3] == ["RUNNING", str(job.pid)]
    assert main(["jobs", "cancel", job.job_id, "--timeout", "10"]) == 0
    assert "state     KILLED" in capsys.readouterr().out
    assert main(["jobs", "status", job.job_id]) == 0
    assert "state     KILLED" in capsys.readouterr().out
    assert main(["jobs", "status", "../x"]) == 2
    assert main(["jobs", "start"]) == 2
    assert "--dataset: required" in capsys.readouterr().err
