"""Bad input through `deepsynth train` (bad-input catalogue): out-of-range LoRA values, target
modules the model lacks, and run names with path, control or shell characters."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deepsynth import jobs
from deepsynth.training.cli import parse_train_args
from deepsynth.cli import main
from deepsynth.tracking import store
from deepsynth.training import checkpoint


def _base(tiny_dataset, uri, out) -> list[str]:
    return ["train", "--dataset", tiny_dataset, "--preset", "minimal", "--model", "tiny", "--max-steps", "2",
            "--batch-size", "4", "--eval-docs", "0", "--threads", "1", "--no-system-metrics",
            "--tracking-uri", uri, "--output-dir", str(out), "--experiment", "tests-bad-training-inputs"]


def _runs(uri) -> int:
    experiment = store.client_for(uri).get_experiment_by_name("tests-bad-training-inputs")
    return 0 if experiment is None else len(store.client_for(uri).search_runs([experiment.experiment_id]))


def test_out_of_range_lora_values_name_every_flag_and_start_nothing(tiny_dataset, mlflow_tracking_uri, tmp_path, capsys):
    before = _runs(mlflow_tracking_uri)
    code = main([*_base(tiny_dataset, mlflow_tracking_uri, tmp_path / "runs"), "--rank", "0", "--alpha", "-2",
                 "--dropout", "1.5", "--targets", "q_proj;rm"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    for flag, message in [("--rank", "must be an integer >= 1, got 0"), ("--alpha", "must be > 0, got -2.0"),
                          ("--dropout", "must be in [0, 1), got 1.5"), ("--targets", "invalid module names: ['q_proj;rm']")]:
        assert f"  - {flag}: {message}" in err
    assert not (tmp_path / "runs").exists() and _runs(mlflow_tracking_uri) == before


def test_target_modules_the_model_lacks_fail_the_run_clearly(tiny_dataset, mlflow_tracking_uri, tmp_path, capsys):
    code = main([*_base(tiny_dataset, mlflow_tracking_uri, tmp_path / "runs"), "--targets", "q_proj,qkv_proj",
                 "--rank", "65"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "target_modules: no linear layer of this model matches qkv_proj (its layers include" in err
    assert "rank: rank 65 exceeds the smallest targeted dimension (64)" in err
    [run_dir] = list((tmp_path / "runs").iterdir())  # the run is recorded, as FAILED with the reason
    run = store.client_for(mlflow_tracking_uri).get_run(run_dir.name)
    assert run.info.status == "FAILED" and "qkv_proj" in run.data.tags[store.ERROR_TAG]
    assert checkpoint.latest(run_dir) is None and not (run_dir / "adapter").exists()


@pytest.mark.parametrize("name, shown", [("../../etc/cron.d/x", "'../../etc/cron.d/x'"), ("a\\b", r"'a\\b'"),
                                         ("run\x1b[2Jname", r"'run\x1b[2Jname'"), ("two\nlines", r"'two\nlines'")])
def test_run_names_with_path_or_control_characters_are_refused(name, shown, tiny_dataset, mlflow_tracking_uri,
                                                                tmp_path, capsys):
    code = main([*_base(tiny_dataset, mlflow_tracking_uri, tmp_path / "runs"), "--run-name", name])
    err = capsys.readouterr().err
    assert code == 2
    assert f"  - --run-name: must be printable text of <= 250 characters without '/' or '\\', got {shown}" in err
    assert not (tmp_path / "runs").exists()


def test_shell_metacharacters_in_a_run_name_are_only_text(tiny_dataset, mlflow_tracking_uri, tmp_path, monkeypatch):
    """A run name is MLflow display text: it is never a path or a shell word (jobs start argv
    lists), so `lr=1e-3; r=8` style names stay allowed, and an injection attempt does nothing."""
    monkeypatch.setenv("DEEPSYNTH_HOME", str(tmp_path))
    marker = tmp_path / "PWNED"  # the job's working directory is the workspace
    name = "lr=1e-3; touch PWNED $(touch PWNED) `touch PWNED` | & > PWNED"
    job = jobs.start_job(*parse_train_args([*_base(tiny_dataset, mlflow_tracking_uri, tmp_path / "runs")[1:], "--run-name", name]))
    finished = jobs.wait(job.job_id, timeout_s=180)
    assert finished.state == jobs.FINISHED, finished.log_path.read_text()[-2000:]
    assert store.client_for(mlflow_tracking_uri).get_run(finished.run_id).info.run_name == name
    time.sleep(0.2)
    assert not marker.exists() and not Path("PWNED").exists()
    listing = subprocess.run([sys.executable, "-m", "deepsynth", "jobs", "status", job.job_id], capture_output=True,
                             text=True, timeout=120, env={**os.environ, "DEEPSYNTH_HOME": str(tmp_path)})
    assert listing.returncode == 0 and not marker.exists()


def test_a_prompt_longer_than_the_models_context_names_the_row_and_the_limit(mlflow_tracking_uri, tmp_path,
                                                                              capsys):
    """Issue 19's bad input: the tiny model attends over 1024 tokens (its byte tokenizer: one per
    character); a 3,000-character question in one row stops the run before any page is read or
    step taken, naming that row, its length and the limit. No traceback, no checkpoint, no adapter."""
    import csv

    from deepsynth.data import DatasetConfig, build_dataset

    source = tmp_path / "questions.csv"
    with open(source, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "target", "prompt"])
        for row in range(12):
            question = "Why? " * 600 if row == 7 else f"What is document {row} about?"
            writer.writerow([f"q{row}", f"Document {row} tells a short story about a river.", "a river", question])
    dataset = build_dataset(DatasetConfig(source=str(source), prompt_column="prompt", task="qa",
                                          validation_fraction=0.0, test_fraction=0.0, workers=1),
                            tmp_path / "qa")
    runs = tmp_path / "runs"
    code = main(["train", "--dataset", str(dataset), "--preset", "minimal", "--model", "tiny", "--max-steps", "2",
                 "--batch-size", "4", "--eval-docs", "0", "--threads", "1", "--no-system-metrics",
                 "--max-source-tokens", "64", "--max-target-tokens", "16", "--tracking-uri", mlflow_tracking_uri,
                 "--output-dir", str(runs), "--experiment", "tests-bad-training-inputs"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert "train split: 1 prompt(s) longer than the model allows" in err
    assert "(id 'q7'): 3000 tokens" in err or "(id 'q7'): 2999 tokens" in err
    assert "the model's context is 1024 tokens" in err.replace("The model's", "the model's")
    assert "a prompt may be at most" in err
    [run_dir] = list(runs.iterdir())  # the run is recorded as FAILED with the reason; nothing else is left
    run = store.client_for(mlflow_tracking_uri).get_run(run_dir.name)
    assert run.info.status == "FAILED" and "q7" in run.data.tags[store.ERROR_TAG]
    assert checkpoint.latest(run_dir) is None and not (run_dir / "adapter").exists()
    assert store.client_for(mlflow_tracking_uri).get_metric_history(run_dir.name, "train/loss") == []
