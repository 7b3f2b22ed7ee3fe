"""Verdicts read the metric's direction wherever they are computed: a run with a lower CER is
"better" in `deepsynth compare`, its baseline with the lowest CER is the best one, a sweep group's
best run has the lowest CER, and moving an alias to a version with a higher CER is questioned."""

import types

import pytest

from deepsynth.evaluation.predictions import RunPredictions
from deepsynth.tracking import alias_guard
from deepsynth.tracking.compare import run_tables as compare

IDS = [f"d{i}" for i in range(8)]


def _run(run_id, metrics, tags=None, name=None):
    return types.SimpleNamespace(run_id=run_id, run_name=name or run_id, status="FINISHED", params={},
                                 metrics=metrics, tags={"deepsynth.eval_split": "test", **(tags or {})}, error=None)


CER_TAGS = {"deepsynth.task": "transcribe", "deepsynth.primary_metric": "cer"}


def _predictions(tuned, reader):
    return RunPredictions(tuple(IDS), tuple("ref" for _ in IDS), {"tuned": ("x",) * 8, "reader": ("y",) * 8},
                          {"tuned": tuple(tuned), "reader": tuple(reader)}, "cer")


def test_a_run_with_lower_cer_is_better_and_wins_its_documents():
    reference = _run("aaaaaaaa1", {"eval/cer": 20.0, "eval/docs": 8, "eval/reader_cer": 30.0}, CER_TAGS)
    lower = _run("bbbbbbbb2", {"eval/cer": 10.0, "eval/docs": 8, "eval/reader_cer": 30.0}, CER_TAGS)
    predictions = {"aaaaaaaa1": _predictions([20, 22, 18, 25, 19, 21, 17, 18], [30] * 8),
                   "bbbbbbbb2": _predictions([10, 12, 9, 14, 8, 11, 9, 7], [30] * 8)}
    table = compare.paired_table(reference, [reference, lower], predictions).set_index("run_id")
    row = table.loc["bbbbbbbb2"]
    assert row["verdict"] == "better" and row["delta"] < 0 and row["wins"] == 8 and row["losses"] == 0
    backwards = compare.paired_table(lower, [lower, reference], predictions).set_index("run_id")
    assert backwards.loc["aaaaaaaa1", "verdict"] == "worse"
    scores = compare.score_table([reference, lower], predictions).set_index("run_id")
    assert scores.loc["bbbbbbbb2", "score"] == 10.0 and scores.loc["bbbbbbbb2", "metric"] == "cer"
    assert scores.loc["bbbbbbbb2", "best baseline"] == "reader alone"
    assert scores.loc["bbbbbbbb2", "vs best baseline"] < 0 and scores.loc["bbbbbbbb2", "vs best high"] < 0


def test_runs_ranked_by_other_metrics_are_not_compared():
    cer_run = _run("aaaaaaaa1", {"eval/cer": 20.0, "eval/docs": 8}, CER_TAGS)
    rouge_run = _run("cccccccc3", {"eval/rougeL": 40.0, "eval/docs": 8})
    predictions = {"aaaaaaaa1": _predictions([20] * 8, [30] * 8),
                   "cccccccc3": RunPredictions(tuple(IDS), ("ref",) * 8, {"tuned": ("x",) * 8}, {"tuned": (40.0,) * 8})}
    row = compare.paired_table(cer_run, [cer_run, rouge_run], predictions).iloc[0]
    assert row["verdict"] == "not comparable: a summarize run ranked by ROUGE-L, the reference by CER"
    assert any("Runs of different tasks or metrics" in note for note in compare.comparability_notes([cer_run, rouge_run]))


def test_the_best_baseline_has_the_lowest_error_rate():
    run = _run("r", {"eval/cer": 5.0, "eval/reader_cer": 12.0, "eval/copy_source_cer": 40.0}, CER_TAGS)
    assert compare.best_baseline(run) == ("reader", 12.0)
    rouge_run = _run("s", {"eval/rougeL": 40.0, "eval/lead_k_rougeL": 30.0, "eval/constant_rougeL": 10.0})
    assert compare.best_baseline(rouge_run) == ("lead_k", 30.0)


def test_sweep_groups_rank_error_rates_lowest_first():
    import pandas as pd

    frame = pd.DataFrame({"run": ["a", "b", "c", "d"], "lr": ["1", "1", "2", "2"],
                          "eval/cer": [10.0, 30.0, 5.0, 8.0]})
    summary = compare.group_summary(frame, "lr", "eval/cer")
    assert list(summary["lr"]) == ["2", "1"] and list(summary["best"]) == [5.0, 10.0]
    assert list(summary["best run"]) == ["c", "a"] and list(summary["worst"]) == [8.0, 30.0]
    frame = frame.rename(columns={"eval/cer": "eval/rougeL"})
    assert list(compare.group_summary(frame, "lr", "eval/rougeL")["best run"]) == ["b", "d"]


def test_alias_guard_reads_the_primary_metric_and_its_direction():
    version_tags = {"eval/cer": "12.5", "eval/wer": "30", "deepsynth.primary_metric": "cer"}
    assert alias_guard.main_metric(version_tags) == "cer" and alias_guard.score_of(version_tags) == 12.5
    assert alias_guard.main_metric({"eval/cer": 3.0, "eval/wer": 9.0}) == "cer"  # no tag: what it logged
    assert alias_guard.main_metric({"eval/anls": 70.0, "eval/exact_match": 50.0}) == "anls"
    assert alias_guard.score_of({"eval/wer": 9.0, "eval/cer": 3.0}, primary="wer") == 9.0  # custom: told
    assert alias_guard.main_metric({"eval/rougeL": 40.0}) == "rougeL"
    worse = alias_guard.lower_score_warning("ocr", "champion", "1", 12.5, "version 2", 20.0, metric="cer")
    assert worse == ("ocr@champion points at version 1 (CER 12.5); version 2 scored 20.0, "
                     "7.5 points higher (worse: lower is better).")
    assert alias_guard.lower_score_warning("ocr", "champion", "1", 12.5, "version 2", 8.0, metric="cer") is None
    assert "no recorded CER" in alias_guard.lower_score_warning("ocr", "champion", "1", 12.5, "version 2", None,
                                                                metric="cer")


def test_demo_verdict_margins_read_the_direction(monkeypatch):
    from deepsynth.demo import main_job
    from deepsynth.tracking import queries

    tuned = _run("t", {"eval/cer": 10.0, "eval/base_cer": 40.0, "eval/reader_cer": 16.0, "eval/docs": 8}, CER_TAGS)
    blank = _run("b", {"eval/cer": 90.0}, CER_TAGS)
    monkeypatch.setattr(queries, "run_predictions",
                        lambda run, uri=None: _predictions([10, 11, 9, 10, 12, 8, 10, 10], [16] * 8))
    checks, paired, label = main_job.verdict(tuned, blank, total_s=100)
    assert label == "reader alone" and paired.verdict == "better" and paired.wins == 8
    assert checks == {"tuned <= best baseline (reader alone 16.0) - 5": True, "tuned <= base - 10": True,
                      "tuned <= blank control - 10": True, "total <= 10 min": True}
    tuned.metrics["eval/reader_cer"] = 12.0  # only 2 points better than the reader: not enough
    checks, _, _ = main_job.verdict(tuned, blank, total_s=100)
    assert checks["tuned <= best baseline (reader alone 12.0) - 5"] is False


@pytest.mark.parametrize("key, expected", [("eval/cer", "lower"), ("eval/base_wer_lo", "lower"),
                                           ("eval/reader_cer_corpus", "lower"), ("eval/rougeL", "higher"),
                                           ("eval/exact_match", "higher")])
def test_direction_of_a_tracked_key(key, expected):
    from deepsynth.evaluation.keys import direction_of_key

    assert direction_of_key(key) == expected


def test_recorded_transcription_runs_compare_through_their_predictions_file():
    """Two runs recorded as the worker records them (`record_scorecard`), read back from their
    predictions.csv and tags as `deepsynth compare` does: the one with the lower CER is better."""
    from deepsynth.evaluation import metrics as registry
    from deepsynth.evaluation.predictions import read_predictions_csv
    from deepsynth.evaluation.scorecard import build_scorecard
    from deepsynth.evaluation.tasks import task_metrics
    from deepsynth.training.evaluate import record_scorecard

    class Recorded:
        def __init__(self):
            self.metrics_logged, self.tags_logged, self.files = {}, {}, {}

        def metrics(self, metrics, step, flush=False):
            self.metrics_logged.update(metrics)

        def tags(self, tags):
            self.tags_logged.update(tags)

        def text_artifact(self, text, name):
            self.files[name] = text

        def json_artifact(self, data, name):
            self.files[name] = data

    transcribe = task_metrics("transcribe")
    references = ["the quick brown fox jumps", "over the lazy dog", "pack my box", "with five dozen jugs"] * 2
    noisy = ["tha quick brown fox jumps", "ovr the lazy dog", "pack my bx", "with five dozen jugs"] * 2
    worse = ["tha quikc brovn fox jump", "ovr teh lazy dg", "pak my bx", "wth fiv dozen jgs"] * 2
    runs, predictions = [], {}
    for run_id, outputs in (("aaaaaaaa1", worse), ("bbbbbbbb2", noisy)):
        card = build_scorecard("test", 8, 8, {"tuned": registry.score(IDS, references, outputs, transcribe.names)},
                               resamples=300, tasks=transcribe)
        recorded = Recorded()
        record_scorecard(recorded, card, step=1, samples=0)
        runs.append(_run(run_id, recorded.metrics_logged, recorded.tags_logged))
        predictions[run_id] = read_predictions_csv(recorded.files["eval/predictions.csv"])
    assert predictions["bbbbbbbb2"].metric == "cer"
    row = compare.paired_table(runs[0], runs, predictions).iloc[0]
    assert row["verdict"] == "better" and row["wins"] == 8 and row["delta"] < 0
    assert compare.score_table(runs, predictions).set_index("run_id").loc["bbbbbbbb2", "score"] == \
        pytest.approx(runs[1].metrics["eval/cer"])


def test_the_best_run_is_the_lowest_error_rate_and_the_highest_rouge():
    """`ranking_score` orients every metric so that the playground's "best run" maximises it."""
    from deepsynth.tracking.alias_guard import ranking_score

    low_cer, high_cer = {"eval/cer": 5.0}, {"eval/cer": 40.0}
    assert ranking_score(low_cer) > ranking_score(high_cer)
    assert ranking_score({"eval/rougeL": 30.0}) > ranking_score({"eval/rougeL": 20.0})
    assert ranking_score({}) is None


def test_the_default_reference_is_the_best_run_on_the_most_shared_documents():
    from deepsynth.evaluation.keys import DOCUMENTS_TAG

    shared = {DOCUMENTS_TAG: "digest-a"}
    control = _run("control01", {"eval/rougeL": 8.0}, shared, name="demo-control-blank")
    tuned = _run("tuned0001", {"eval/rougeL": 31.0}, shared, name="demo-tuned")
    other = _run("other0001", {"eval/rougeL": 60.0}, {DOCUMENTS_TAG: "digest-b"})  # better, but alone
    unscored = _run("pending01", {}, shared)
    assert compare.default_reference([control, unscored, other, tuned]).run_id == "tuned0001"
    cer = {**CER_TAGS, DOCUMENTS_TAG: "digest-c"}
    worse = _run("worse0001", {"eval/cer": 20.0}, cer)
    better = _run("better001", {"eval/cer": 9.0}, cer)
    assert compare.default_reference([worse, better]).run_id == "better001"  # a lower CER is better
    assert compare.default_reference([unscored]).run_id == "pending01"
