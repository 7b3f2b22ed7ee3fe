"""An infinite loss in a real job stops it within `nan_patience` steps (3 by default), reported
with the step in the job, the CLI output and MLflow; no checkpoint holds a poisoned state.
(A NaN injected in-process is tests/training/test_worker.py.)"""

from __future__ import annotations

import json
import math
from pathlib import Path

from reliability_helpers import faulty_spawn, train_args

from deepsynth import jobs
from deepsynth.training.cli import parse_train_args
from deepsynth.tracking import store
from deepsynth.training import checkpoint

FIRST_BAD = 8  # the loss is multiplied by +inf from the 8th training step on
PATIENCE = 3  # TrainConfig.nan_patience default: the worker fails at step FIRST_BAD + PATIENCE - 1


def test_an_infinite_loss_fails_the_job_within_patience_naming_the_step(workspace, tiny_dataset, mlflow_tracking_uri):
    uri = mlflow_tracking_uri
    args = train_args(tiny_dataset, uri, workspace / "runs", max_steps=40, checkpoint_every=5)
    job = jobs.start_job(*parse_train_args(args), spawn=faulty_spawn(f"inf-loss:{FIRST_BAD}"))
    failed = jobs.wait(job.job_id, timeout_s=180)
    stop = FIRST_BAD + PATIENCE - 1
    log = failed.log_path.read_text()
    assert failed.state == jobs.FAILED, log[-3000:]
    assert failed.error.startswith(f"loss is not finite (inf) at step {stop} ({PATIENCE} steps in a row")
    assert f"deepsynth train: error: loss is not finite (inf) at step {stop}" in log

    run = store.client_for(uri).get_run(failed.run_id)
    assert run.info.status == "FAILED" and f"at step {stop}" in run.data.tags[store.ERROR_TAG]
    history = {m.step: m.value for m in store.client_for(uri).get_metric_history(failed.run_id, "train/loss")}
    assert max(history) <= stop  # nothing ran after it stopped
    assert all(math.isfinite(history[s]) for s in range(1, FIRST_BAD))

    run_dir = Path(json.loads((failed.job_dir / jobs.REPORT_FILE).read_text())["run_dir"])
    # step 10 was due a checkpoint but was skipped (not finite): the last healthy one is step 5
    assert [c.step for c in checkpoint.complete_checkpoints(run_dir)] == [5]
    trainable, _, _ = checkpoint.load(checkpoint.latest(run_dir))
    assert all(bool(tensor.isfinite().all()) for tensor in trainable.values())
