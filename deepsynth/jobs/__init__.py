"""Training jobs: `deepsynth train` as background processes the dashboard and the CLI start, list,
cancel and resume, and find again after a restart (`lifecycle`); how far one has got
(`progress`); jobs that wait for a free slot (`queue` on disk, `queue_runner` starts them); the
`deepsynth jobs` verb (`cli`).

    from deepsynth import jobs
    job = jobs.start_job(config)              # now
    queued = jobs.queue_job(config)           # when a slot is free (a runner is started if needed)
    jobs.wait(job.job_id).state               # "FINISHED"
"""

from deepsynth.jobs.lifecycle import (
    CANCELLING, JOB_FILE, LOG_FILE, TERMINAL, Job, cancel, get_job, list_jobs, resume, running_jobs,
    start_job, wait)
from deepsynth.jobs.queue import QueuedJob, cancel_queued, list_queued, move
from deepsynth.jobs.queue_runner import ensure_runner, queue_job
from deepsynth.training.report import FAILED, FINISHED, KILLED, QUEUED, REPORT_FILE, RUNNING

__all__ = [
    "CANCELLING", "FAILED", "FINISHED", "JOB_FILE", "KILLED", "LOG_FILE", "QUEUED", "REPORT_FILE",
    "RUNNING", "TERMINAL", "Job", "QueuedJob", "cancel", "cancel_queued", "ensure_runner", "get_job",
    "list_jobs", "list_queued", "move", "queue_job", "resume", "running_jobs", "start_job", "wait",
]
