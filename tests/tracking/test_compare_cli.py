"""`deepsynth compare`: scores with intervals, paired differences, refusal of runs on other documents."""

import json

import pytest
from evaluated_runs import log_evaluated_run

from deepsynth.cli import main

KINDS = ["city in france", "american film actor", "species of plant"]
REFERENCES = [f"{kind} number {i}" for i, kind in enumerate(KINDS * 10)]
IDS = [f"doc{i}" for i in range(30)]


@pytest.fixture(scope="module")
def runs(mlflow_tracking_uri):
    def log(name, outputs, ids=IDS, references=REFERENCES):
        return log_evaluated_run(mlflow_tracking_uri, "tests-compare-cli", name, ids, references, outputs)

    half = [r if i % 2 else r.split()[0] for i, r in enumerate(REFERENCES)]  # every other summary right
    first_clause = [r.split()[0] for r in REFERENCES]
    reference = log("reference", {"tuned": half, "base": [""] * 30, "first_clause": first_clause})
    better = log("better", {"tuned": REFERENCES, "first_clause": first_clause})  # every summary right
    same = log("same", {"tuned": half})
    other = log("other-docs", {"tuned": half[:20]}, IDS[:20], REFERENCES[:20])
    return {"reference": reference, "better": better, "same": same, "other": other}


def test_compare_prints_intervals_paired_differences_and_wins(runs, mlflow_tracking_uri, capsys):
    args = ["compare", runs["reference"], runs["better"], runs["same"], "--tracking-uri", mlflow_tracking_uri]
    assert main(args) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.split()}
    assert "(reference)" in lines["reference"] and " test " in lines["reference"] and " 30 " in lines["reference"]
    assert "better" in lines["better"].split("  ")[-1] and "15/0/15" in lines["better"]
    assert "+0.0 [+0.0, +0.0]" in lines["same"] and "no clear difference" in lines["same"]
    assert "on the same documents (reference run): base (untouched) 0.0, first-clause" in out

    assert main(args + ["--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    rows = {row["run_id"]: row for row in result["runs"]}
    assert result["reference"] == runs["reference"]
    same = rows[runs["same"]]
    assert same["delta"] == 0.0 and same["delta_low"] <= 0 <= same["delta_high"]
    better = rows[runs["better"]]
    assert better["delta"] == pytest.approx(better["rougeL"] - rows[runs["reference"]]["rougeL"], abs=0.01)
    assert better["delta_low"] > 0 and (better["wins"], better["losses"], better["docs"]) == (15, 0, 30)
    reference = rows[runs["reference"]]
    assert reference["rougeL_low"] < reference["rougeL"] < reference["rougeL_high"]

    assert main(args + ["--csv"]) == 0
    header = capsys.readouterr().out.splitlines()[0].split(",")
    assert header[:6] == ["run", "run_id", "split", "docs", "rougeL", "rougeL_low"] and "delta_low" in header


def test_compare_refuses_runs_evaluated_on_different_documents(runs, mlflow_tracking_uri, capsys):
    assert main(["compare", runs["reference"], runs["other"], "--tracking-uri", mlflow_tracking_uri]) == 2
    error = capsys.readouterr().err
    assert "deepsynth compare: error:" in error
    assert "(20 test documents) was evaluated on 20 documents" in error and "(30 test documents) on 30" in error
    assert "20 of them in common" in error and "a paired comparison needs the same documents" in error
    assert main(["compare", runs["reference"], "no-such-run", "--tracking-uri", mlflow_tracking_uri]) == 2
    assert "run 'no-such-run' not found" in capsys.readouterr().err
