"""`deepsynth demo`'s verdict: the tuned model against the best non-learned baseline (+5 ROUGE-L),
the base and the blank-page control (+10), read back from the runs as logged, with intervals and
document counts; the paired difference to the best baseline on the same documents."""

import pytest
from evaluated_runs import log_evaluated_run

from deepsynth.demo import main_job as demo
from deepsynth.tracking import queries

KINDS = ["city in france", "american film actor", "species of plant"]
REFS = [f"{kind} number {i}" for i, kind in enumerate(KINDS * 8)]
IDS = [f"doc{i}" for i in range(24)]


def _runs(uri, tuned_outputs):
    first_words = [" ".join(r.split()[:2]) for r in REFS]  # the best baseline: two of four or five words
    tuned = log_evaluated_run(uri, "tests-demo", "tuned", IDS, REFS, {
        "tuned": tuned_outputs, "base": [""] * 24, "lead_k": first_words, "first_clause": [r.split()[0] for r in REFS],
        "constant": ["city in france"] * 24})
    blank = log_evaluated_run(uri, "tests-demo", "blank", IDS, REFS, {"tuned": ["city"] * 24})
    return queries.get_run(tuned, uri), queries.get_run(blank, uri)


@pytest.mark.parametrize("right", [24, 1])
def test_the_demo_passes_only_when_tuned_beats_the_best_baseline_by_five(mlflow_tracking_uri, right):
    outputs = [r if i < right else " ".join(r.split()[:2]) for i, r in enumerate(REFS)]
    tuned, blank = _runs(mlflow_tracking_uri, outputs)
    checks, paired, best = demo.verdict(tuned, blank, total_s=300, uri=mlflow_tracking_uri)
    assert best == "lead-k"
    baseline_check = next(name for name in checks if name.startswith("tuned >= best baseline (lead-k "))
    tuned_rl, lead_rl = tuned.metrics["eval/rougeL"], tuned.metrics["eval/lead_k_rougeL"]
    assert checks[baseline_check] == (tuned_rl >= lead_rl + 5)
    assert checks[baseline_check] is (right == 24)
    assert paired.wins == right and paired.losses == 0 and paired.documents == 24
    assert paired.delta == pytest.approx(tuned_rl - lead_rl, abs=0.01)
    assert checks["total <= 10 min"]

    rows = demo.results_table(tuned, blank, queries.run_rouge_summary(tuned, mlflow_tracking_uri))
    assert list(rows)[:3] == ["base (untouched)", "tuned (LoRA)", "control: blank pages"]
    assert all(interval.documents == 24 for by_key in rows.values() for interval in by_key.values())
    assert rows["tuned (LoRA)"]["rougeL"].low <= tuned_rl <= rows["tuned (LoRA)"]["rougeL"].high
    assert {"baseline: lead-k", "baseline: first-clause", "baseline: constant"} <= set(rows)


def test_the_demo_writes_its_table_to_a_results_file(mlflow_tracking_uri, tmp_path):
    import argparse
    import json

    from deepsynth.results_file import start_measuring

    tuned, blank = _runs(mlflow_tracking_uri, REFS)
    checks, paired, best = demo.verdict(tuned, blank, total_s=300, uri=mlflow_tracking_uri)
    rows = demo.results_table(tuned, blank, queries.run_rouge_summary(tuned, mlflow_tracking_uri))
    record = {"interface": "ocr_text", "split": "test", "docs": 24, "steps": 90, "threads": "2", "seconds": 300.0,
              "timings_s": {"dataset": 4.0}, "rouge": {}, "tuned_vs_best_baseline": {}, "checks": checks}
    out = demo.write_demo_results(str(tmp_path / "demo.json"), start_measuring(), record, rows, paired, best,
                                  argparse.Namespace(max_steps=90))
    written = json.loads(out.read_text())
    assert written["name"] == "demo" and written["figures"]["checks"] == checks
    table = written["tables"]["scores"]
    assert table["columns"] == ["model", "R-1", "R-2", "R-L", "95% interval of R-L"]
    tuned_row = next(row for row in table["rows"] if row[0] == "tuned (LoRA)")
    assert tuned_row[3] == f"{tuned.metrics['eval/rougeL']:.1f}"
    assert any(f"paired on the same {paired.documents} documents" in note for note in written["notes"])
