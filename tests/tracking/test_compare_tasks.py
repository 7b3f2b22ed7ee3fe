"""`deepsynth compare` in the task's metric: transcription runs by CER (lower is better), QA runs by
ANLS; runs of different tasks are refused, not compared on one metric; notes about small
evaluations come from the intervals measured, never contradicting the verdict beside them."""

import json

import pytest
from evaluated_runs import log_evaluated_run

from deepsynth.cli import main

IDS = [f"page{i}" for i in range(8)]
TEXTS = ["the quick brown fox jumps", "over the lazy dog", "pack my box", "with five dozen jugs",
         "how vexingly quick", "daft zebras jump", "sphinx of black quartz", "judge my vow"]
ANSWERS = ["fox", "dog", "box", "jugs", "quick", "zebras", "quartz", "vow"]


@pytest.fixture(scope="module")
def task_runs(mlflow_tracking_uri):
    def log(name, task, references, tuned, ids=IDS, **extra):
        return log_evaluated_run(mlflow_tracking_uri, "tests-compare-tasks", name, ids, references,
                                 {"tuned": tuned, **extra}, task=task)

    noisy = ["tha quick brown fox jumps", "ovr the lazy dog", "pack my bx", "with five dozen jugs"] * 2
    clean = TEXTS[:4] * 2
    return {
        "cer_worse": log("tasks-cer-worse", "transcribe", clean, noisy, reader=noisy),
        "cer_better": log("tasks-cer-better", "transcribe", clean, clean, reader=noisy),
        "qa": log("tasks-qa", "qa", ANSWERS, ANSWERS[:4] + ["no"] * 4),
        # 3 documents, one run far worse than the other on each: a verdict the paired interval supports
        "few_a": log("tasks-few-a", None, TEXTS[:3], TEXTS[:3], ids=IDS[:3]),
        "few_b": log("tasks-few-b", None, TEXTS[:3], ["zz", "zz", "zz"], ids=IDS[:3]),
    }


def test_transcription_runs_compare_by_cer_lower_is_better(task_runs, mlflow_tracking_uri, capsys):
    capsys.readouterr()
    args = ["compare", task_runs["cer_worse"], task_runs["cer_better"], "--tracking-uri", mlflow_tracking_uri]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "CER [95% CI] (lower is better)" in out.splitlines()[0]
    better = next(line for line in out.splitlines() if line.startswith("tasks-cer-better"))
    assert better.rstrip().endswith("better") and "8/0/0" not in better  # 4 of 8 pages were already right
    assert "on the same documents (reference run): reader alone" in out
    assert main(args + ["--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["metric"] == "cer" and result["direction"] == "lower"
    rows = {row["run_id"]: row for row in result["runs"]}
    assert rows[task_runs["cer_better"]]["cer"] == 0.0 and rows[task_runs["cer_better"]]["delta"] < 0
    assert rows[task_runs["cer_better"]]["verdict"] == "better" and rows[task_runs["cer_better"]]["task"] == "transcribe"


def test_runs_of_different_tasks_are_refused(task_runs, mlflow_tracking_uri, capsys):
    capsys.readouterr()
    assert main(["compare", task_runs["cer_worse"], task_runs["qa"], "--tracking-uri", mlflow_tracking_uri]) == 2
    error = capsys.readouterr().err
    assert "runs of different tasks are not compared on one metric" in error
    assert "is a transcribe run ranked by CER" in error and "is a qa run ranked by ANLS" in error


def test_notes_come_from_the_measured_intervals(task_runs, mlflow_tracking_uri, capsys):
    capsys.readouterr()
    assert main(["compare", task_runs["few_a"], task_runs["few_b"], "--tracking-uri", mlflow_tracking_uri]) == 0
    out = capsys.readouterr().out
    verdict_line = next(line for line in out.splitlines() if line.startswith("tasks-few-b"))
    assert verdict_line.rstrip().endswith("worse")
    # never "too wide to tell runs apart" beside a verdict that told them apart
    assert "too wide to tell runs apart" not in out
    assert "Scored on very few documents" in out and "understates the uncertainty" in out
    assert "tasks-few-b (" in out.split("Scored on very few documents")[1].split("\n")[0]  # named, with its count
