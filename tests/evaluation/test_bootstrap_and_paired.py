"""Confidence intervals over documents and paired comparisons of two runs on the same documents."""

import random

import pytest

from deepsynth.errors import InputError
from deepsynth.evaluation.bootstrap import bootstrap_interval
from deepsynth.evaluation.paired import DocumentMismatch, paired_comparison


def _scores(n, seed=0):
    rng = random.Random(seed)
    return [min(100.0, max(0.0, rng.gauss(45, 25))) for _ in range(n)]


def test_a_bootstrap_interval_shrinks_as_documents_grow_and_is_seeded():
    widths = {}
    for n in (25, 100, 400):
        interval = bootstrap_interval(_scores(n), resamples=1000)
        assert interval.low < interval.mean < interval.high and interval.documents == n
        widths[n] = interval.high - interval.low
    # the width of a mean's interval falls like 1/sqrt(n): 4x the documents, about half the width
    assert widths[100] < 0.7 * widths[25] and widths[400] < 0.7 * widths[100]
    assert 0.35 < widths[400] / widths[100] < 0.65
    assert bootstrap_interval(_scores(100)) == bootstrap_interval(_scores(100))  # same scores, same interval
    assert bootstrap_interval([40.0] * 10).low == bootstrap_interval([40.0] * 10).high == 40.0
    with pytest.raises(ValueError):
        bootstrap_interval([])


def test_identical_runs_differ_by_zero_with_an_interval_containing_zero():
    scores = dict(zip([f"doc{i}" for i in range(50)], _scores(50)))
    same = paired_comparison(scores, dict(reversed(list(scores.items()))))  # order does not matter, ids do
    assert same.delta == 0.0 and same.low <= 0.0 <= same.high and not same.significant
    assert (same.wins, same.losses, same.ties, same.documents) == (0, 0, 50, 50)


def test_a_consistent_gain_is_significant_and_wins_are_counted():
    reference = dict(zip([f"doc{i}" for i in range(80)], _scores(80, seed=1)))
    noise = random.Random(2)
    better = {doc: score + 3.0 + noise.gauss(0, 4) for doc, score in reference.items()}
    result = paired_comparison(reference, better)
    assert result.delta == pytest.approx(sum(better[d] - reference[d] for d in reference) / 80)
    assert result.significant and result.low > 0
    assert result.wins + result.losses + result.ties == 80 and result.wins > result.losses
    # two separate intervals overlap although the paired one excludes 0: pairing is what detects it
    a, b = bootstrap_interval(list(reference.values())), bootstrap_interval(list(better.values()))
    assert a.high > b.low


def test_runs_on_different_documents_are_refused_with_what_differs():
    a = {"doc1": 10.0, "doc2": 20.0, "doc3": 30.0}
    b = {"doc1": 10.0, "doc2": 25.0, "doc9": 30.0}
    with pytest.raises(DocumentMismatch) as caught:
        paired_comparison(a, b, reference_name="run A", candidate_name="run B")
    message = str(caught.value)
    assert isinstance(caught.value, InputError)
    assert "run B was evaluated on 3 documents and run A on 3, 2 of them in common" in message
    assert "'doc3'" in message and "'doc9'" in message
