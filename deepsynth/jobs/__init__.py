"""Training jobs: `deepsynth train` as background processes the dashboard and the CLI start, list,
cancel and resume, and find again after a restart (`lifecycle`); how far one has got
(`progress`); the `deepsynth jobs` verb (`cli`).

    from deepsynth import jobs
    job = jobs.start_job(["--config", "train.json"])
    jobs.wait(job.job_id).state   # "FINISHED"
"""

from deepsynth.jobs.lifecycle import (
    CANCELLING, JOB_FILE, LOG_FILE, TERMINAL, Job, cancel, get_job, list_jobs, resume, running_jobs,
    start_job, wait)
from deepsynth.training.report import FAILED, FINISHED, KILLED, QUEUED, REPORT_FILE, RUNNING

__all__ = [
    "CANCELLING", "FAILED", "FINISHED", "JOB_FILE", "KILLED", "LOG_FILE", "QUEUED", "REPORT_FILE",
    "RUNNING", "TERMINAL", "Job", "cancel", "get_job", "list_jobs", "resume", "running_jobs",
    "start_job", "wait",
]
