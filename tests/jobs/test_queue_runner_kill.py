"""The queue runner as a real detached process, killed with kill -9 mid-queue: queued jobs stay
queued, start once a runner is alive again, each exactly once, and the runner leaves when idle."""

from __future__ import annotations

import json
import os
import signal

import psutil
from queue_helpers import release, runner_command, wait_for

from deepsynth import jobs
from deepsynth.jobs import queue
from deepsynth.jobs.queue_runner import ensure_runner, runner_info
from deepsynth.processes import forget_child
from deepsynth.training.config import TrainConfig


def _running(job_id):
    def check():
        try:
            job = jobs.get_job(job_id)
        except Exception:  # its folder does not exist until it starts
            return None
        return job if job.state == jobs.RUNNING and (job.job_dir / "env.json").is_file() else None

    return wait_for(check, what=f"job {job_id} to run")


def test_kill_9_of_the_runner_loses_no_queued_job(queue_workspace):
    done_file = queue_workspace / "sweeps-done.txt"
    command = runner_command(done_file, idle_s=2.0)
    config = TrainConfig(dataset=str(queue_workspace / "d"), sweep_id="sweep-k")
    queue.set_max_concurrent(1)  # one at a time, whatever this machine's cores
    queued = [jobs.queue_job(config, start_runner=False) for _ in range(3)]
    ids = [job.job_id for job in queued]

    first_runner = ensure_runner(command)
    assert ensure_runner(command) == first_runner  # alive: not started twice
    first = _running(ids[0])
    assert [j.job_id for j in jobs.list_queued()] == ids[1:]

    os.kill(first_runner.pid, signal.SIGKILL)
    forget_child(first_runner.pid).wait(timeout=10)
    assert not first_runner.alive and runner_info() == first_runner  # its record stays, stale
    assert [j.job_id for j in jobs.list_queued()] == ids[1:]  # nothing lost
    assert jobs.get_job(ids[0]).state == jobs.RUNNING  # its job lives on (own session)

    second_runner = ensure_runner(command)  # what the next `queue_job` does
    assert second_runner.pid != first_runner.pid and second_runner.alive
    release(first.job_dir)
    for job_id in ids[1:]:
        release(_running(job_id).job_dir)
    wait_for(lambda: all(jobs.get_job(i).state == jobs.FINISHED for i in ids), what="every job to finish")
    for job_id in ids:  # each started exactly once
        assert len(json.loads((jobs.get_job(job_id).job_dir / jobs.JOB_FILE).read_text())["attempts"]) == 1
    starts = [json.loads((jobs.get_job(i).job_dir / "env.json").read_text())["started"] for i in ids]
    assert starts == sorted(starts)  # in queue order

    wait_for(lambda: not second_runner.alive, timeout_s=30, what="the idle runner to leave")
    forget_child(second_runner.pid)
    assert runner_info() is None and jobs.list_queued() == []
    assert done_file.read_text() == "sweep-k\n"  # the sweep's summary was started once
    assert not psutil.pid_exists(first_runner.pid) or psutil.Process(first_runner.pid).create_time() != first_runner.create_time
