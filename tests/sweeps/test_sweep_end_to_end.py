"""A real render sweep on the tiny model, from the command line to the summary: `deepsynth sweep`
exits at once, the detached queue runner trains both points (in queue order) with no
dashboard or terminal open, and the last job's end writes the summary into the parent run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
from queue_helpers import wait_for

from deepsynth import jobs
from deepsynth.sweeps import load_record, render_sweep_table
from deepsynth.sweeps.parent_run import PARENT_RUN_TAG
from deepsynth.tracking import queries
from deepsynth.training.config import SWEEP_TAG, save_train_config


@pytest.mark.slow
def test_a_render_sweep_runs_unattended_and_summarises_itself(base_config, sweep_workspace, mlflow_tracking_uri):
    config_file = save_train_config(base_config, sweep_workspace / "base.json")
    command = [sys.executable, "-m", "deepsynth", "sweep", "--config", str(config_file),
               "--render", "font_size=12,16", "--yes"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=sweep_workspace,
                          env=dict(os.environ, DEEPSYNTH_HOME=str(sweep_workspace)))
    assert done.returncode == 0, done.stderr
    sweep_id = re.search(r"^sweep (\S+): 2 job\(s\) queued", done.stdout, re.M).group(1)

    record = wait_for(lambda: (r := load_record(sweep_id)).finished_at and r, timeout_s=600,
                      what="the sweep to finish and summarise")
    finished = [jobs.get_job(point["jobs"][-1]) for point in record.points]
    assert [job.state for job in finished] == [jobs.FINISHED, jobs.FINISHED]
    starts = [job.create_time for job in finished]
    assert starts[1] >= starts[0]  # in queue order (on 2+ cores both run at once: the auto limit)
    runs = [queries.get_run(job.run_id, mlflow_tracking_uri) for job in finished]
    for run in runs:
        assert run.tags[SWEEP_TAG] == sweep_id and run.tags[PARENT_RUN_TAG] == record.parent_run_id
        assert run.metrics["compression/ratio"] > 0 and "eval/rougeL" in run.metrics
    table = render_sweep_table(sweep_id, mlflow_tracking_uri)
    assert sorted(table["setting"]) == ["font_size=12", "font_size=16"]
    assert table["docs"].tolist() == [2.0, 2.0]
    parent = queries.get_run(record.parent_run_id, mlflow_tracking_uri)
    assert parent.status == "FINISHED" and parent.metrics["sweep/finished"] == 2
    summary = json.loads(Path(urlparse(parent.artifact_uri).path, "sweep", "summary.json").read_text())
    assert [row["render.font_size"] for row in summary["rows"]] == [12, 16]
    assert [row["run_id"] for row in summary["rows"]] == [job.run_id for job in finished]
