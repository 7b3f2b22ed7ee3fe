"""The worker -> job report protocol: what a training process tells whoever launched it.

A job (`deepsynth.jobs`) starts `deepsynth train` with `DEEPSYNTH_JOB_DIR` set; the worker merges
its progress into `<job dir>/report.json` (atomically) as it goes: `run_id, tracking_uri, run_dir,
state, step, total_steps, checkpoint_step, error, queued`, plus the `pid` it speaks for and
`updated_at`. The job layer reads the file; the worker never imports the job layer.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from deepsynth.atomic_files import write_json_atomic

REPORT_FILE = "report.json"
ENV_JOB_DIR = "DEEPSYNTH_JOB_DIR"
"""The job folder the worker reports into (unset: a foreground run, nothing is reported)."""
ENV_CONCURRENT_JOBS = "DEEPSYNTH_CONCURRENT_JOBS"
"""How many training jobs share this machine, set by the launcher for thread budgeting."""
ENV_REPORT_PID = "DEEPSYNTH_REPORT_PID"
"""Set by `train --nproc`: reports name the job's process (the launcher), not rank 0."""
ENV_USER = "DEEPSYNTH_USER"
"""Who started the job (the dashboard's signed-in user); the worker tags the new MLflow run with it."""
USER_TAG = "deepsynth.user"

# Run states as reported (and as the job layer shows them).
QUEUED, RUNNING, FINISHED, FAILED, KILLED = "QUEUED", "RUNNING", "FINISHED", "FAILED", "KILLED"


def read_report(job_dir: str | Path) -> dict[str, Any]:
    """The report so far ({} before the worker wrote one)."""
    try:
        return json.loads((Path(job_dir) / REPORT_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def write_report(job_dir: str | Path | None, **fields: Any) -> None:
    """Merge `fields` (run_id, state, step, error, ...) into report.json; no job folder: nothing."""
    if not job_dir:
        return
    report = read_report(job_dir)
    report.update(fields, pid=int(os.environ.get(ENV_REPORT_PID) or os.getpid()), updated_at=time.time())
    write_json_atomic(Path(job_dir) / REPORT_FILE, report)


def job_dir_from_env() -> str | None:
    return os.environ.get(ENV_JOB_DIR) or None


def concurrent_jobs_hint() -> int:
    """How many training jobs share this machine (set by the launcher), for thread budgeting."""
    try:
        return max(1, int(os.environ.get(ENV_CONCURRENT_JOBS, "1")))
    except ValueError:
        return 1


def user_tags() -> dict[str, str]:
    """`{deepsynth.user: NAME}` for the run a job starts, when the launcher named who asked."""
    user = os.environ.get(ENV_USER, "").strip()
    return {USER_TAG: user} if user else {}
