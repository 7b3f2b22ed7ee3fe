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
