"""Training jobs as subprocesses the dashboard can start, list, cancel and resume, and find again
after it restarts.

A job is a folder `workspace/jobs/<id>/`:
- `train_config.json`: the run's `TrainConfig`, which the worker reads (`deepsynth train --config`).
- `job.json` (written here): the `deepsynth train` arguments, and per attempt the worker's pid and
  process start time. A pid alone is not an identity (pids are reused); pid + `create_time` is.
- `report.json` (written by the worker through `write_report`): its MLflow run id, tracking URI,
  state, step and error.
- `log.txt`: the worker's stdout and stderr, appended across attempts.

The worker runs in its own session (`start_new_session=True`), so a dashboard restart does not
kill it and cancel can kill its whole process group. Cancel = SIGTERM (the worker checkpoints,
marks its MLflow run KILLED and exits), then SIGKILL to the group after a timeout. A worker that
died without reporting (kill -9, OOM killer) is shown FAILED and its MLflow run is closed the same
way, so no run stays RUNNING forever.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import psutil

from deepsynth import paths
from deepsynth.atomic_files import write_json_atomic
from deepsynth.errors import DeepSynthError, InputError
from deepsynth.names import check_job_id
from deepsynth.processes import (
    START_TIME_TOLERANCE_S, forget_child, is_our_process, process_start_time, reap, track_child)
from deepsynth.training.report import (
    ENV_CONCURRENT_JOBS, ENV_JOB_DIR, ENV_USER, FAILED, FINISHED, KILLED, QUEUED, REPORT_FILE, RUNNING)

JOB_FILE, LOG_FILE = "job.json", "log.txt"
CANCELLING = "CANCELLING"
TERMINAL = (FINISHED, FAILED, KILLED)

_logger = logging.getLogger(__name__)
Spawn = Callable[..., Any]


@dataclass(frozen=True)
class Job:
    """A training job as read from disk and the process table."""

    job_id: str
    """Folder name under workspace/jobs/."""
    job_dir: Path
    """The job's folder (job.json, report.json, log.txt)."""
    train_args: tuple[str, ...]
    """Arguments given to `deepsynth train`."""
    pid: int
    """The current attempt's worker pid."""
    create_time: float
    """The worker's process start time (psutil), which makes pid reuse detectable."""
    attempt: int
    """1 for the first start, +1 per resume."""
    state: str
    """QUEUED, RUNNING, CANCELLING, FINISHED, FAILED or KILLED."""
    run_id: str | None
    """The MLflow run, once the worker has created or attached it."""
    tracking_uri: str | None
    """The tracking store the worker writes to."""
    step: int | None
    """Last step the worker reported."""
    error: str | None
    """Why it failed or stopped, when it did (for a cancel: the signal; see `failure`)."""
    total_steps: int | None = None
    """Steps the worker plans in all, once it knows (report.json `total_steps`)."""
    started_at: float | None = None
    """When the job was first started (epoch seconds); a resume does not change it."""
    resumed_at: tuple[float, ...] = ()
    """When each later attempt (a resume) started."""
    cancelled_by_user: bool = False
    """It stopped because someone cancelled it (`cancel`), not because something went wrong."""
    past_attempts: tuple[dict[str, Any], ...] = ()
    """How each earlier attempt ended: `{"state", "step", "by_user", "error"}`, oldest first."""
    user: str | None = None
    """Who started the job (the dashboard's signed-in user), when known."""
    stopped_early: str | None = None
    """Why a FINISHED job trained fewer steps than planned (the time budget ran out), else None."""
    memory_peaks: dict[str, int] | None = None
    """Peak resident bytes of each phase the current attempt has finished (`load`, `read`, `train`,
    `evaluate`; `training.phase_memory`), None before the first; `progress.memory_text` words it."""

    @property
    def log_path(self) -> Path:
        return self.job_dir / LOG_FILE

    @property
    def alive(self) -> bool:
        return self.state in (QUEUED, RUNNING, CANCELLING)

    @property
    def failure(self) -> str | None:
        """The error to show as one: None while running, after finishing, or after a cancel the
        user asked for (that is information, not a failure)."""
        if self.state == FAILED or (self.state == KILLED and not self.cancelled_by_user):
            return self.error
        return None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


# -- reading jobs -----------------------------------------------------------------------------------
def _job_dir(job_id: str) -> Path:
    path = paths.jobs_dir() / check_job_id(job_id)
    if not (path / JOB_FILE).is_file():
        raise InputError(f"no job {job_id!r} in {paths.jobs_dir()}")
    return path


def _load(job_dir: Path) -> Job:
    record = _read_json(job_dir / JOB_FILE)
    report = _read_json(job_dir / REPORT_FILE)
    attempt = record["attempts"][-1]
    pid, create_time = int(attempt["pid"]), float(attempt["create_time"])
    # A report written by an earlier attempt says nothing about the current one.
    current = report.get("pid") == pid
    reported = report.get("state") if current else None
    if is_our_process(pid, create_time):
        state = CANCELLING if attempt.get("cancel_requested_at") else QUEUED if reported == QUEUED else RUNNING
        error = None
    elif reported in TERMINAL:
        state, error = reported, report.get("error")
    elif attempt.get("cancel_requested_at"):
        state, error = KILLED, None
    else:
        state = FAILED
        error = (f"the worker (pid {pid}) exited without reporting: killed (kill -9, out of memory) "
                 f"or crashed; see {job_dir / LOG_FILE}")
    total = report.get("total_steps")
    attempts = record["attempts"]
    return Job(job_id=job_dir.name, job_dir=job_dir, train_args=tuple(record["train_args"]), pid=pid,
               create_time=create_time, attempt=len(attempts), state=state,
               run_id=report.get("run_id"), tracking_uri=report.get("tracking_uri"),
               step=report.get("step"), error=error,
               total_steps=int(total) if isinstance(total, (int, float)) and total > 0 else None,
               started_at=attempts[0].get("started_at"),
               resumed_at=tuple(float(a.get("started_at", 0.0)) for a in attempts[1:]),
               cancelled_by_user=state == KILLED and bool(attempt.get("cancel_requested_at")),
               past_attempts=tuple(dict(a["ended"]) for a in attempts[:-1] if isinstance(a.get("ended"), dict)),
               user=record.get("user"),
               stopped_early=(report.get("stopped_early") or None) if current and state == FINISHED else None,
               memory_peaks=_memory_peaks(report) if current else None)


def _memory_peaks(report: dict[str, Any]) -> dict[str, int] | None:
    peaks = report.get("memory_peaks")
    if not isinstance(peaks, dict):
        return None
    return {str(k): int(v) for k, v in peaks.items() if k != "since_start" and isinstance(v, (int, float))} or None


def _close_orphaned_run(job: Job) -> None:
    """A worker that died without reporting left its MLflow run RUNNING: close it like the worker
    would have (KILLED after a cancel, FAILED otherwise). Done once per attempt."""
    if job.alive or job.run_id is None:
        return
    record = _read_json(job.job_dir / JOB_FILE)
    attempt = record["attempts"][-1]
    report = _read_json(job.job_dir / REPORT_FILE)
    if attempt.get("run_closed") or (report.get("pid") == job.pid and report.get("state") in TERMINAL):
        return
    from deepsynth.tracking.store import terminate_if_running

    try:
        terminate_if_running(job.run_id, job.state, error=job.error, uri=job.tracking_uri)
    except Exception as error:  # the store is unreachable now: listing jobs must still work; retried later
        _logger.warning("could not close MLflow run %s of job %s: %s", job.run_id, job.job_id, error)
        return
    attempt["run_closed"] = True
    write_json_atomic(job.job_dir / JOB_FILE, record)


def get_job(job_id: str) -> Job:
    job = _load(_job_dir(job_id))
    _close_orphaned_run(job)
    return job


def list_jobs() -> list[Job]:
    """All jobs under workspace/jobs/, newest first (state read from disk and the process table)."""
    root = paths.jobs_dir()
    if not root.is_dir():
        return []
    jobs = []
    for job_dir in root.iterdir():
        if (job_dir / JOB_FILE).is_file():
            job = _load(job_dir)
            _close_orphaned_run(job)
            jobs.append(job)
    return sorted(jobs, key=lambda j: j.job_id, reverse=True)


def running_jobs() -> list[Job]:
    return [job for job in list_jobs() if job.alive]


# -- starting, cancelling, resuming -----------------------------------------------------------------
def _launch(job_dir: Path, train_args: list[str], spawn: Spawn, concurrent: int,
            user: str | None = None) -> dict[str, Any]:
    argv = [sys.executable, "-m", "deepsynth", "train", *train_args]
    env = dict(os.environ, PYTHONUNBUFFERED="1", **{ENV_JOB_DIR: str(job_dir),
                                                    ENV_CONCURRENT_JOBS: str(concurrent)})
    env.pop(ENV_USER, None)  # never inherit another person's name from this process
    if user:
        env[ENV_USER] = user
    with open(job_dir / LOG_FILE, "ab") as log:
        log.write(f"$ {' '.join(argv)}\n".encode())
        log.flush()
        child = spawn(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                      cwd=str(paths.home()), env=env, start_new_session=True)
    track_child(child)
    create_time = process_start_time(child.pid)
    if create_time is None:  # exited before we could look: still record it, it reads as ended
        create_time = 0.0
    return {"pid": child.pid, "create_time": create_time, "started_at": time.time(), "argv": argv}


def start_job(config: Any, nproc: int = 1, spawn: Spawn = subprocess.Popen, job_id: str | None = None,
              user: str | None = None, concurrent: int | None = None) -> Job:
    """Start `deepsynth train --config <job folder>/train_config.json` in the background for the
    `TrainConfig` `config` (any config: every field travels in the file); returns at once.
    `user` (who asked; the dashboard's signed-in user) goes into job.json and, through the
    worker's environment (`ENV_USER`), onto the MLflow run as the `deepsynth.user` tag.
    `concurrent`: the jobs that will share the cores with this one, itself included (the queue
    runner knows it is about to start another); else the running jobs + 1."""
    from deepsynth.settings.sources import user_flags
    from deepsynth.training.config import TRAIN_CONFIG_FILE, TrainConfig, save_train_config

    if not isinstance(config, TrainConfig):  # e.g. a list of flags: parse them first (parse_train_args)
        raise TypeError(f"start_job needs a TrainConfig, got {type(config).__name__}")
    job_id = check_job_id(job_id or f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}")
    job_dir = paths.jobs_dir() / job_id
    job_dir.mkdir(parents=True, exist_ok=False)
    config_file = save_train_config(config, job_dir / TRAIN_CONFIG_FILE)
    train_args = ["--config", str(config_file)] + (["--nproc", str(int(nproc))] if nproc > 1 else [])
    train_args += user_flags(config)  # what a file may not carry (remote code, outside folders) the caller chose
    attempt = _launch(job_dir, train_args, spawn, concurrent=concurrent or len(running_jobs()) + 1, user=user)
    record = {"job_id": job_id, "train_args": train_args, "attempts": [attempt]}
    if user:
        record["user"] = user
    write_json_atomic(job_dir / JOB_FILE, record)
    return _load(job_dir)


def resume(job_id: str, spawn: Spawn = subprocess.Popen, user: str | None = None) -> Job:
    """Start a new attempt of a stopped job: `deepsynth train --resume RUN_ID`, same job folder,
    same MLflow run, from its last complete checkpoint. `user` (who resumed it) is recorded on
    the attempt."""
    job = get_job(job_id)
    if job.alive:
        raise DeepSynthError(f"job {job_id} is still running (pid {job.pid}); cancel it first")
    if job.run_id is None:
        raise DeepSynthError(f"job {job_id} never created an MLflow run (see {job.log_path}): "
                             "start it again instead")
    if job.state == FINISHED:
        raise DeepSynthError(f"job {job_id} already finished (run {job.run_id})")
    args = ["--resume", job.run_id] + (["--tracking-uri", job.tracking_uri] if job.tracking_uri else [])
    record = _read_json(job.job_dir / JOB_FILE)
    record["attempts"][-1]["ended"] = {"state": job.state, "step": job.step, "by_user": job.cancelled_by_user,
                                       "error": job.failure}
    attempt = _launch(job.job_dir, args, spawn, concurrent=len(running_jobs()) + 1, user=user or job.user)
    if user:
        attempt["user"] = user
    record["attempts"].append(attempt)
    write_json_atomic(job.job_dir / JOB_FILE, record)
    return _load(job.job_dir)


def _group_members(pgid: int, not_before: float) -> list[psutil.Process]:
    """Processes in group `pgid` started no earlier than our worker (so never a stranger's group)."""
    members = []
    for process in psutil.process_iter(["pid", "create_time"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["create_time"] >= not_before - START_TIME_TOLERANCE_S:
                members.append(process)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return members


def _wait_gone(job: Job, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_our_process(job.pid, job.create_time):
            return True
        time.sleep(0.1)
    return not is_our_process(job.pid, job.create_time)


def cancel(job_id: str, timeout_s: float = 30.0) -> Job:
    """Stop a job: SIGTERM (clean stop, MLflow run KILLED), then SIGKILL its whole process group
    after `timeout_s`. Cancelling a job that is not running changes nothing."""
    job = get_job(job_id)
    if not job.alive:
        return job
    record = _read_json(job.job_dir / JOB_FILE)
    record["attempts"][-1].setdefault("cancel_requested_at", time.time())
    write_json_atomic(job.job_dir / JOB_FILE, record)
    try:
        os.kill(job.pid, signal.SIGTERM)  # the worker alone: it checkpoints and closes its run
    except ProcessLookupError:
        pass
    _wait_gone(job, timeout_s)
    # With start_new_session the worker leads its own group (pgid == pid): kill what is left of it.
    for process in _group_members(job.pid, job.create_time):
        try:
            process.kill()
        except psutil.Error:
            pass
    child = forget_child(job.pid)
    if child is not None:
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    reap()
    return get_job(job_id)


def wait(job_id: str, timeout_s: float | None = None, poll_s: float = 0.2) -> Job:
    """Block until the job is no longer running (tests, `deepsynth jobs wait`)."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        job = get_job(job_id)
        if not job.alive:
            return job
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still running after {timeout_s} s")
        time.sleep(poll_s)
