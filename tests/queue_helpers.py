"""Stand-in workers and runners for the queue tests (a module of its own: `conftest` is a name every
test folder uses).

The stand-in worker reports RUNNING, notes the CUDA_VISIBLE_DEVICES it got, then waits until the
test writes `release` into its job folder (its content is the state it ends with: FINISHED or
FAILED) or `release-all` beside the job folders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
from waiting import wait_for

from deepsynth.gpu_probe import GpuUnavailable

WORKER = r"""
import json, os, pathlib, sys, time
from deepsynth.training.report import ENV_JOB_DIR, write_report
job_dir = pathlib.Path(os.environ[ENV_JOB_DIR])
(job_dir / "env.json").write_text(json.dumps({"gpu": os.environ.get("CUDA_VISIBLE_DEVICES"), "started": time.time(),
                                             "concurrent": os.environ.get("DEEPSYNTH_CONCURRENT_JOBS")}))
write_report(job_dir, state="RUNNING", step=1)
release, everyone = job_dir / "release", job_dir.parent / "release-all"
while not release.exists() and not everyone.exists():
    time.sleep(0.05)
outcome = (release.read_text().strip() if release.exists() else "") or "FINISHED"
write_report(job_dir, state=outcome, error="stand-in failed" if outcome == "FAILED" else None)
sys.exit(0 if outcome == "FINISHED" else 1)
"""

RUNNER = r"""
import subprocess, sys
from deepsynth.jobs.queue_runner import QueueRunner, serve
sys.path.insert(0, {tests!r})
from queue_helpers import no_gpu
WORKER = {worker!r}
def spawn(argv, **options):
    return subprocess.Popen([sys.executable, "-c", WORKER], **options)
done = []
def sweep_done(sweep_id):
    with open({done_file!r}, "a") as out:
        out.write(sweep_id + "\n")
sys.exit(serve(QueueRunner(spawn=spawn, probe=no_gpu, on_sweep_done=sweep_done), poll_s=0.2, idle_exit_s={idle}))
"""


def no_gpu():
    """A GPU probe that finds none (the queue then runs jobs on the CPU)."""
    raise GpuUnavailable("no GPU in this test")


def stand_in_spawn(argv, **options):
    """Runs the stand-in worker instead of `deepsynth train`, with every other option kept."""
    return subprocess.Popen([sys.executable, "-c", WORKER], **options)


def runner_command(done_file: Path, idle_s: float = 3.0) -> list[str]:
    """A queue runner process (the real `serve` loop) whose jobs are stand-in workers."""
    return [sys.executable, "-c", RUNNER.format(worker=WORKER, done_file=str(done_file), idle=idle_s,
                                              tests=str(Path(__file__).resolve().parent))]


def release(job_dir: Path, outcome: str = "FINISHED") -> None:
    (job_dir / "release").write_text(outcome)


def started_gpu(job_dir: Path) -> str | None:
    return json.loads(wait_for(lambda: (job_dir / "env.json").is_file() and (job_dir / "env.json").read_text(),
                               what=f"{job_dir.name} to start"))["gpu"]


def stop_runner() -> None:
    """Stop the queue runner this test started (by its recorded pid and start time)."""
    from deepsynth.jobs.queue_runner import runner_info

    info = runner_info()
    if info is None or not info.alive:
        return
    os.kill(info.pid, signal.SIGTERM)
    try:
        psutil.Process(info.pid).wait(timeout=15)
    except psutil.TimeoutExpired:
        os.kill(info.pid, signal.SIGKILL)
    except psutil.NoSuchProcess:
        pass
