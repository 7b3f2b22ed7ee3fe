"""A job on a busy GPU is queued, not started into out-of-memory: the worker waits before loading
the model (job state QUEUED, with the reason), starts once the probe reports enough free memory,
and a cancel while queued stops it cleanly. The GPU is a fake probe (this machine has none);
`deepsynth.training.gpu_queue` itself is tested in tests/training/test_gpu_queue.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from reliability_helpers import train_args, wait_for

from deepsynth import jobs
from deepsynth.training.cli import parse_train_args
from deepsynth.training import gpu_queue as gpu_availability
from deepsynth.gpu_probe import GpuMemory
from deepsynth.tracking import store

GIB = 1 << 30


@pytest.fixture
def on_a_fake_gpu(monkeypatch, workspace):
    """The worker believes it has CUDA; the model build is where the run would touch the GPU."""
    import deepsynth.models as models
    from deepsynth.training import worker

    events = []

    def build(*args, **kwargs):
        events.append("model loaded")
        raise RuntimeError("stop here: the model would load onto the GPU")

    monkeypatch.setattr(worker, "choose_device", lambda requested: "cuda")
    monkeypatch.setattr(models, "build_document_model", build)
    monkeypatch.setattr(gpu_availability, "POLL_S", 0.01)
    return events


def _config(tiny_dataset, uri, workspace):
    from deepsynth.cli import build_parser
    from deepsynth.training.cli import config_from_args

    args = train_args(tiny_dataset, uri, workspace / "runs", 5, 5)
    return config_from_args(build_parser().parse_args(["train", *args]))


def test_a_busy_gpu_queues_the_run_until_memory_frees(on_a_fake_gpu, monkeypatch, workspace, tiny_dataset,
                                                      mlflow_tracking_uri):
    from deepsynth.training.worker import train

    job_dir = workspace / "job"
    job_dir.mkdir()
    frees = iter([6, 30, 50])  # GiB of 80; the tiny model is unknown to the estimator: half must be free

    def probe():
        free = next(frees)
        report = json.loads((job_dir / jobs.REPORT_FILE).read_text())
        on_a_fake_gpu.append((free, report["state"], report.get("queued")))
        return [GpuMemory(0, 80 * GIB, free * GIB)]

    monkeypatch.setattr(gpu_availability, "nvidia_smi_probe", probe)
    with pytest.raises(RuntimeError, match="stop here"):
        train(_config(tiny_dataset, mlflow_tracking_uri, workspace), job_dir=job_dir, progress=False)
    waiting = "GPU 0 has {} of 80.0 GiB free; this run needs about 40.0 GiB: queued until it is free"
    assert on_a_fake_gpu == [(6, "RUNNING", None), (30, "QUEUED", waiting.format("6.0")),
                             (50, "QUEUED", waiting.format("30.0")), "model loaded"]
    lock = workspace / "workspace" / "jobs" / "gpu-0.lock"
    assert lock.is_file()  # the turn was taken through the lock (released with the failed run)


def test_a_queued_run_cancels_cleanly(on_a_fake_gpu, monkeypatch, workspace, tiny_dataset, mlflow_tracking_uri):
    from deepsynth.training.cancel import Cancelled
    from deepsynth.training.worker import train

    calls = []

    def busy():
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # `deepsynth jobs cancel`, while it waits
        return [GpuMemory(0, 80 * GIB, 1 * GIB)]

    monkeypatch.setattr(gpu_availability, "nvidia_smi_probe", busy)
    started = []
    with pytest.raises(Cancelled, match="SIGTERM"):
        train(_config(tiny_dataset, mlflow_tracking_uri, workspace), progress=False, on_run_started=started.append)
    assert len(calls) == 3 and on_a_fake_gpu == []  # never loaded the model
    assert store.run_status(started[0], mlflow_tracking_uri) == "KILLED"


QUEUED_WORKER = r"""
import os, signal, sys, time
from deepsynth.training.report import ENV_JOB_DIR, write_report
job_dir = os.environ[ENV_JOB_DIR]
def stop(*_):
    write_report(job_dir, state="KILLED", error="cancelled (cancelled by SIGTERM)")
    sys.exit(2)
signal.signal(signal.SIGTERM, stop)
write_report(job_dir, state="QUEUED", queued="GPU 0 has 1.0 of 80.0 GiB free; this run needs about 9.0 GiB")
time.sleep(600)
"""


def test_the_job_layer_shows_a_queued_job_as_alive_and_cancels_it(workspace):
    def spawn(argv, **options):
        return subprocess.Popen([sys.executable, "-c", QUEUED_WORKER], **options)

    (workspace / "x").mkdir()
    (workspace / "x" / "deepsynth_dataset.json").write_text("{}")  # what TrainConfig checks for
    job = jobs.start_job(*parse_train_args(["--dataset", str(workspace / "x"), "--preset", "minimal"]), spawn=spawn)
    queued = wait_for(lambda: (j := jobs.get_job(job.job_id)).state == jobs.QUEUED and j, 30, "QUEUED")
    assert queued.alive and [j.job_id for j in jobs.running_jobs()] == [job.job_id]
    listing = subprocess.run([sys.executable, "-m", "deepsynth", "jobs", "list"], capture_output=True, text=True,
                             timeout=120)
    assert f"{job.job_id}" in listing.stdout and "QUEUED" in listing.stdout
    assert jobs.cancel(job.job_id, timeout_s=20).state == jobs.KILLED
