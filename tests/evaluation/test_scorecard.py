"""A run's scorecard: metric names, intervals, document counts, the shortfall, rouge.json."""

from deepsynth.evaluation import keys, rouge
from deepsynth.evaluation.scorecard import build_scorecard


def _card(requested=5, available=3):
    ids, refs = ["d1", "d2", "d3"], ["american film actor", "city in france", "species of plant"]
    evaluations = {"tuned": rouge.score(ids, refs, ["american actor", "city in france", "plant"]),
                   "first_clause": rouge.score(ids, refs, ["film actor", "city", "species of plant"])}
    return build_scorecard("validation", requested, available, evaluations, resamples=500, blank_pages=False)


def test_every_score_carries_its_interval_and_document_count():
    card = _card()
    metrics = card.metrics()
    assert metrics["eval/docs"] == 3 and metrics["eval/docs_requested"] == 5
    assert metrics["eval/rougeL"] == card.evaluations["tuned"].scores["rougeL"]
    for model in ("tuned", "first_clause"):
        for metric in ("rouge1", "rouge2", "rougeL"):
            low, mean, high = (metrics[keys.metric_key(model, metric, b)] for b in ("lo", "", "hi"))
            assert low <= mean <= high
    assert "eval/first_clause_rougeL_hi" in metrics
    assert card.best_baseline()[0] == "first_clause"
    table = card.table()
    assert "3 validation documents" in table.splitlines()[0]
    assert table.splitlines()[1].startswith("tuned") and table.splitlines()[1].rstrip().endswith("3")


def test_asking_for_more_documents_than_the_split_holds_is_said():
    card = _card(requested=10, available=3)
    assert card.shortfall == "asked for 10 validation documents, the validation split holds 3: scored on 3"
    assert card.tags()[keys.SHORTFALL_TAG] == card.shortfall
    assert card.tags()[keys.SPLIT_TAG] == "validation"
    assert card.tags()[keys.DOCUMENTS_TAG] == keys.documents_digest("validation", ["d3", "d1", "d2"])
    summary = card.summary()
    assert (summary["docs"], summary["docs_requested"], summary["split_size"]) == (3, 10, 3)
    assert summary["intervals"]["tuned"]["rougeL"][0] <= summary["rouge"]["tuned"]["rougeL"]
    assert _card(requested=3).shortfall is None and keys.SHORTFALL_TAG not in _card(requested=3).tags()
