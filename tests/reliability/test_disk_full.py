"""The disk holding the run folders fills up while a job trains: the job fails clearly (FAILED,
"disk full"), the checkpoints written before are intact and load, the MLflow store is intact and
records the failure, no temporary folder is left, and after space is freed the job resumes and
finishes.

The disk is a real 2 MiB tmpfs mounted as the output dir (needs root / CAP_SYS_ADMIN, as in CI
here); where mounting is refused the test injects ENOSPC into the worker's checkpoint writes
instead (fault_injection.py `enospc`), and says so in its output."""

from __future__ import annotations

import errno
import hashlib
import json
import sqlite3
import subprocess
import uuid
from pathlib import Path

import pytest
from reliability_helpers import faulty_spawn, train_args, wait_for
from fault_injection import DISK_FULL_FLAG

from deepsynth import jobs
from deepsynth.training.cli import parse_train_args
from deepsynth.tracking import store
from deepsynth.training import checkpoint


@pytest.fixture
def small_disk(tmp_path):
    """(folder, how): a 2 MiB tmpfs ("tmpfs"), or a plain folder where ENOSPC is injected ("injected")."""
    folder = tmp_path / f"small-disk-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    how = "tmpfs" if mounted.returncode == 0 else "injected"
    print(f"disk full by: {how}" + ("" if how == "tmpfs" else f" (mount refused: {mounted.stderr.strip()})"))
    yield folder, how
    if how == "tmpfs":
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(folder: Path) -> int:
    """Write zeros into `folder` until the filesystem says ENOSPC; returns the bytes written."""
    written = 0
    with open(folder / "filler", "wb", buffering=0) as handle:
        try:
            while True:
                written += handle.write(b"\0" * 65536)
        except OSError as error:
            assert error.errno == errno.ENOSPC, error
    return written


def _digest(path: Path) -> str:
    return hashlib.sha256((path / checkpoint.WEIGHTS).read_bytes()).hexdigest()


def test_a_full_disk_fails_the_job_clearly_and_loses_nothing(workspace, tiny_dataset, mlflow_tracking_uri, small_disk):
    uri = mlflow_tracking_uri
    disk, how = small_disk
    args = train_args(tiny_dataset, uri, disk, max_steps=60, checkpoint_every=5)
    job = jobs.start_job(*parse_train_args(args), spawn=faulty_spawn("enospc:0") if how == "injected" else subprocess.Popen)
    report = job.job_dir / jobs.REPORT_FILE
    run_dir = Path(wait_for(lambda: report.is_file() and json.loads(report.read_text()).get("run_dir"), 120,
                            "the worker's run folder"))
    wait_for(lambda: checkpoint.latest(run_dir), 120, "a first checkpoint")
    if how == "tmpfs":
        _fill(disk)
    else:
        (job.job_dir / DISK_FULL_FLAG).touch()
    before = {c.step: _digest(c.path) for c in checkpoint.complete_checkpoints(run_dir)}

    failed = jobs.wait(job.job_id, timeout_s=120)
    log = failed.log_path.read_text()
    assert failed.state == jobs.FAILED, log[-3000:]
    assert failed.error.startswith("disk full while writing checkpoint") and "are intact" in failed.error
    assert "deepsynth train: error: disk full" in log  # the CLI's message, no traceback
    assert "Traceback" not in log

    # earlier checkpoints: still complete, byte for byte, and loadable
    after = {c.step: _digest(c.path) for c in checkpoint.complete_checkpoints(run_dir)}
    assert before and all(after.get(step) == digest for step, digest in before.items())
    last = checkpoint.latest(run_dir)
    trainable, state, _ = checkpoint.load(last)
    assert trainable and state["loop"]["step"] == last.step
    assert not [p for p in checkpoint.checkpoints_dir(run_dir).iterdir() if p.name.startswith(".tmp")]

    # the MLflow store: intact, the run FAILED with the reason, every step's loss up to the failure
    database = uri.removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    run = store.client_for(uri).get_run(failed.run_id)
    assert run.info.status == "FAILED" and "disk full" in run.data.tags[store.ERROR_TAG]
    steps = sorted(m.step for m in store.client_for(uri).get_metric_history(failed.run_id, "train/loss"))
    failed_at = max(steps)
    assert steps == list(range(1, failed_at + 1)) and failed_at > last.step

    # space freed: the job resumes from the last checkpoint and finishes
    if how == "tmpfs":
        (disk / "filler").unlink()
    else:
        (job.job_dir / DISK_FULL_FLAG).unlink()
    jobs.resume(job.job_id, spawn=faulty_spawn("enospc:0") if how == "injected" else subprocess.Popen)
    finished = jobs.wait(job.job_id, timeout_s=180)
    assert finished.state == jobs.FINISHED, finished.log_path.read_text()[-3000:]
    assert f"from step {last.step}" in finished.log_path.read_text()
    assert store.run_status(failed.run_id, uri) == "FINISHED"
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()
