"""Each task names its metrics and primary metric (QA by answer length, custom by the user), and
everything that says "better" reads the direction: a run with a lower CER is better, wins,
gains and the best baseline included; bootstrap and paired intervals work on CER."""

import pytest

from deepsynth.evaluation import tasks
from deepsynth.evaluation.bootstrap import bootstrap_interval
from deepsynth.evaluation.paired import BETTER, UNCLEAR, WORSE, paired_comparison


def test_each_task_names_its_primary_metric_and_direction():
    assert tasks.task_metrics("summarize").names == ("rouge1", "rouge2", "rougeL")
    assert tasks.task_metrics("summarize").primary == "rougeL"
    transcribe = tasks.task_metrics("transcribe")
    assert (transcribe.primary, transcribe.direction, transcribe.names) == ("cer", "lower", ("cer", "wer"))
    assert "lower is better" in transcribe.describe()
    assert tasks.task_metrics("extract").primary == "field_f1"
    assert tasks.task_metrics("translate").names == ("chrf", "bleu")
    with pytest.raises(ValueError, match="unknown task 'ocr'"):
        tasks.task_metrics("ocr")


def test_qa_chooses_rouge_l_for_long_answers_and_says_why():
    short = tasks.task_metrics("qa", ["1999", "Paris", "John Smith", "a very long answer of many words here"])
    assert short.primary == "anls" and short.names == ("anls", "exact_match") and "1.5 words" in short.reason
    long = tasks.task_metrics("qa", ["the paper proposes a new method for reading documents"] * 3)
    assert long.primary == "rougeL" and long.names == ("rougeL", "rouge1", "rouge2")
    assert "9 words (over 5)" in long.reason and "ANLS" in long.reason
    assert tasks.task_metrics("qa", ["one two three four five"]).primary == "anls"  # 5 is not over 5


def test_custom_takes_its_primary_metric_from_the_user():
    custom = tasks.task_metrics("custom", primary="wer")
    assert custom.primary == "wer" and custom.names == ("wer", "cer") and custom.direction == "lower"
    with pytest.raises(ValueError, match="custom task needs a primary metric: one of rouge1"):
        tasks.task_metrics("custom")
    with pytest.raises(ValueError, match="unknown metric 'accuracy'"):
        tasks.task_metrics("custom", primary="accuracy")
    with pytest.raises(ValueError, match="choose the custom task"):
        tasks.task_metrics("transcribe", primary="wer")


def test_a_lower_cer_is_better_in_a_paired_comparison():
    reference = {"d1": 20.0, "d2": 30.0, "d3": 25.0, "d4": 40.0, "d5": 10.0, "d6": 12.0}
    candidate = {k: v - 5.0 for k, v in reference.items()}
    candidate["d6"] = 14.0  # worse on one document
    paired = paired_comparison(reference, candidate, direction="lower", resamples=500)
    assert paired.delta < 0 and paired.high < 0
    assert (paired.wins, paired.losses, paired.ties) == (5, 1, 0)
    assert paired.verdict == BETTER
    backwards = paired_comparison(candidate, reference, direction="lower", resamples=500)
    assert backwards.verdict == WORSE and backwards.wins == 1
    # the same numbers read as ROUGE: the candidate is worse
    as_rouge = paired_comparison(reference, candidate, resamples=500)
    assert as_rouge.verdict == WORSE and as_rouge.wins == 1
    assert paired_comparison(reference, dict(reference), direction="lower").verdict == UNCLEAR
    with pytest.raises(ValueError, match="direction"):
        paired_comparison(reference, candidate, direction="down")


def test_bootstrap_interval_of_cer():
    from deepsynth.evaluation import metrics as registry

    predictions = ["kitten", "sitting", "", "abc", "abd", "hello world", "helo world", "x"]
    references = ["sitting", "sitting", "abc", "abc", "abc", "hello world", "hello world", "y"]
    cer = registry.get_metric("cer").per_document(predictions, references)
    interval = bootstrap_interval(cer, resamples=1000)
    assert interval.mean == pytest.approx(sum(cer) / len(cer))
    assert interval.low < interval.mean < interval.high and interval.documents == 8
    assert bootstrap_interval(cer, resamples=1000) == interval  # seeded: a pure function of the scores


def _run(ids, outputs, scores, metric="cer"):
    from deepsynth.evaluation.predictions import RunPredictions

    return RunPredictions(tuple(ids), tuple(f"ref {i}" for i in ids), {"tuned": tuple(outputs)},
                          {"tuned": tuple(scores)}, metric)


def test_per_document_gains_read_the_direction():
    from deepsynth.evaluation import per_document

    a = _run(["d1", "d2", "d3"], ["a1", "a2", "a3"], [10.0, 50.0, 90.0])
    b = _run(["d1", "d2", "d3"], ["b1", "b2", "b3"], [40.0, 20.0, 90.0])
    joined = per_document.join_documents({"A": a, "B": b}, reference="A")
    table = joined.table.set_index("id")
    assert joined.score_label == "CER" and joined.direction == "lower"
    assert table.loc["d1", "B · CER"] == 40.0
    assert table.loc["d2", "best gain"] == 30.0 and table.loc["d1", "worst loss"] == -30.0  # lower CER: a gain
    assert list(per_document.sort_documents(joined.table, per_document.GAIN)["id"])[0] == "d2"
    assert list(per_document.sort_documents(joined.table, per_document.LOSS)["id"])[0] == "d1"
    rouge_run = _run(["d1", "d2", "d3"], ["r1", "r2", "r3"], [1.0, 2.0, 3.0], metric="rougeL")
    mixed = per_document.join_documents({"A": a, "R": rouge_run}, reference="A")
    assert mixed.labels == ("A",) and mixed.left_out == {"R": 3}  # another metric is not comparable


def test_predictions_round_trip_keeps_every_metric_primary_first():
    from deepsynth.evaluation import metrics as registry
    from deepsynth.evaluation.predictions import predictions_csv, read_predictions_csv

    ids, refs = ["d1", "d2"], ["abcd", "x y"]
    evaluations = {"tuned": registry.score(ids, refs, ["abce", "x y"], ("cer", "wer")),
                   "reader": registry.score(ids, refs, ["abcd", "x"], ("cer", "wer"))}
    text = predictions_csv(evaluations, ("cer", "wer"))
    assert text.splitlines()[0] == ("id,reference,tuned_prediction,tuned_cer,tuned_wer,"
                                    "reader_prediction,reader_cer,reader_wer")
    back = read_predictions_csv(text)
    assert back.metric == "cer" and back.direction == "lower"
    assert back.scores("tuned") == {"d1": 25.0, "d2": 0.0}
    assert back.scores("reader", "wer") == {"d1": 0.0, "d2": 50.0}
    old = read_predictions_csv("id,reference,tuned_prediction,tuned_rougeL,lead_k_prediction,lead_k_rougeL\n"
                               "d1,r,a,10.00,b,20.00\n")
    assert old.metric == "rougeL" and old.scores("lead_k") == {"d1": 20.0} and old.other_scores == {}


def test_scorecard_of_a_transcription_ranks_by_lowest_cer():
    from deepsynth.evaluation import keys
    from deepsynth.evaluation import metrics as registry
    from deepsynth.evaluation.scorecard import build_scorecard
    from deepsynth.evaluation.task_baselines import TaskBaseline

    ids, refs = [f"d{i}" for i in range(6)], ["the quick brown fox"] * 6
    transcribe = tasks.task_metrics("transcribe")
    evaluations = {"tuned": registry.score(ids, refs, ["the quick brown fox"] * 5 + ["the quick"], transcribe.names),
                   "reader": registry.score(ids, refs, ["tha quick brovn fox"] * 6, transcribe.names)}
    reader = TaskBaseline("reader", {}, "cer", None, "the page reader's raw reading")
    card = build_scorecard("test", 6, 6, evaluations, [reader], resamples=200, tasks=transcribe)
    assert card.best_baseline()[0] == "reader" and card.primary == "cer"
    metrics = card.metrics()
    assert metrics["eval/cer"] < metrics["eval/reader_cer"]
    assert {"eval/cer_lo", "eval/cer_hi", "eval/wer", "eval/cer_corpus", "eval/reader_wer_corpus"} <= set(metrics)
    assert "eval/rougeL" not in metrics
    assert card.tags()[keys.PRIMARY_METRIC_TAG] == "cer" and card.tags()[keys.TASK_TAG] == "transcribe"
    summary = card.summary()
    assert summary["direction"] == "lower" and summary["metrics"]["cer"]["label"] == "CER"
    assert summary["baselines"]["reader"] == {"choice": {}, "train_cer": None, "chosen_on": "train",
                                              "description": "the page reader's raw reading"}
    assert "95% CI of CER (lower is better)" in card.table()


def test_a_summarize_scorecard_logs_what_it_always_did():
    from deepsynth.evaluation import rouge
    from deepsynth.evaluation.scorecard import build_scorecard

    ids = ["d1", "d2", "d3"]
    evaluations = {"tuned": rouge.score(ids, ["a b c", "d e", "f"], ["a b", "d e", "g"]),
                   "lead_k": rouge.score(ids, ["a b c", "d e", "f"], ["a", "d", "f"])}
    card = build_scorecard("test", 3, 3, evaluations, resamples=100)
    expected = {"eval/docs", "eval/docs_requested"} | {
        f"eval/{prefix}{key}{bound}" for prefix in ("", "lead_k_") for key in ("rouge1", "rouge2", "rougeL")
        for bound in ("", "_lo", "_hi")}
    assert set(card.metrics()) == expected
    assert set(card.tags()) == {"deepsynth.eval_split", "deepsynth.eval_documents"}
    assert "task" not in card.summary() and card.best_baseline()[0] == "lead_k"
    assert card.table().splitlines()[0].split()[:4] == ["model", "R-1", "R-2", "R-L"]
