"""ROUGE scoring, the best-constant control and the predictions table (written and read back)."""

import csv
import io

import pytest

from deepsynth.evaluation import rouge as evaluate
from deepsynth.evaluation.predictions import predictions_csv, read_predictions_csv


def test_rouge_values_match_hand_computation():
    # reference "american film actor" vs prediction "american actor": unigram P=1, R=2/3 -> F=0.8;
    # bigrams: none shared -> 0; LCS = 2 -> F=0.8
    scores = evaluate.rouge(["American actor"], ["American film actor"])
    assert scores["rouge1"] == pytest.approx(80.0)
    assert scores["rouge2"] == pytest.approx(0.0)
    assert scores["rougeL"] == pytest.approx(80.0)
    assert evaluate.rouge(["x", "American film actor"], ["American film actor"] * 2)["rougeL"] == pytest.approx(50.0)
    with pytest.raises(ValueError):
        evaluate.rouge(["a"], ["a", "b"])


def test_best_constant_is_the_most_typical_training_summary():
    summaries = ["American actor"] * 5 + ["American film actor", "British actor", "species of plant",
                                          "city in France"]
    text, score = evaluate.best_constant(summaries, seed=1)
    assert text == "American actor"
    expected = evaluate.rouge([text] * len(summaries), summaries)["rougeL"]
    assert score == pytest.approx(expected)  # the fast LCS path agrees with rouge-score's score()
    with pytest.raises(ValueError):
        evaluate.best_constant(["", "  "])


def test_predictions_table_round_trips():
    tuned = evaluate.score(["d1", "d2"], ["American actor", "city in France"], ["American actor", "a town"])
    base = evaluate.score(["d1", "d2"], ["American actor", "city in France"], ["", "city"])
    text = predictions_csv({"tuned": tuned, "base": base})
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["id", "reference", "tuned_prediction", "tuned_rougeL", "base_prediction", "base_rougeL"]
    assert rows[1] == ["d1", "American actor", "American actor", "100.00", "", "0.00"]
    back = read_predictions_csv(text)
    assert back.ids == ("d1", "d2") and back.models == ("tuned", "base")
    assert back.scores("tuned") == {"d1": 100.0, "d2": 0.0}
    assert back.outputs["base"] == ("", "city")
    assert evaluate.generate_all(lambda xs: [str(x) for x in xs], [1, 2, 3], batch_size=2) == ["1", "2", "3"]
