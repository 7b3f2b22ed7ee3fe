"""Scoring summaries: ROUGE-1/2/L per document and on average, and the best constant output.

ROUGE is Google's `rouge-score` (F-measure, Porter stemming, the usual reporting choice), averaged
over documents and given in points (x100). With ~10-word references a 100-document mean is only
known to about +-6 points (95% bootstrap interval, `deepsynth.evaluation.bootstrap`): compare runs
on the same >= 100 documents, paired (`deepsynth.evaluation.paired`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Sequence

ROUGE_KEYS = ("rouge1", "rouge2", "rougeL")


@lru_cache(maxsize=1)
def _scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(list(ROUGE_KEYS), use_stemmer=True)


def tokenizer():
    """rouge-score's own tokenizer (lower-case, stemmed): for fast LCS over pre-tokenized text."""
    return _scorer()._tokenizer


def rouge_per_document(predictions: Sequence[str], references: Sequence[str]) -> list[dict[str, float]]:
    """ROUGE F-measures (points) of each prediction against its reference."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    scorer = _scorer()
    rows = []
    for prediction, reference in zip(predictions, references):
        scores = scorer.score(reference, prediction)
        rows.append({key: 100.0 * scores[key].fmeasure for key in ROUGE_KEYS})
    return rows


def rouge(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-1/2/L F-measure in points over the documents."""
    rows = rouge_per_document(predictions, references)
    if not rows:
        return {key: 0.0 for key in ROUGE_KEYS}
    return {key: sum(row[key] for row in rows) / len(rows) for key in ROUGE_KEYS}


def best_constant(train_summaries: Sequence[str], candidates: int = 150, references: int = 300,
                  seed: int = 0) -> tuple[str, float]:
    """The control "always answer the same thing": among (a sample of) the training summaries,
    the one with the highest mean ROUGE-L against (a sample of) the training summaries.

    Chosen on the train split only, then scored on held-out documents like any model. Uses
    rouge-score's own tokenizer and LCS (`_score_lcs`, what `score()` calls for rougeL) on
    pre-tokenized text, so 150 x 300 pairs take about a second."""
    from rouge_score import rouge_scorer

    pool = [s for s in dict.fromkeys(train_summaries) if s.strip()]
    if not pool:
        raise ValueError("no non-empty training summaries to choose a constant from")
    rng = random.Random(seed)
    picked = rng.sample(pool, min(candidates, len(pool)))
    targets = rng.sample(list(train_summaries), min(references, len(train_summaries)))
    tokenize = tokenizer().tokenize
    target_tokens = [tokenize(t) for t in targets]
    best_text, best_score = picked[0], -1.0
    for candidate in picked:
        tokens = tokenize(candidate)
        score = sum(rouge_scorer._score_lcs(t, tokens).fmeasure for t in target_tokens) / len(target_tokens)
        if score > best_score:
            best_text, best_score = candidate, score
    return best_text, 100.0 * best_score


@dataclass(frozen=True)
class Evaluation:
    """Generated summaries for held-out documents and their ROUGE."""

    ids: tuple[str, ...]
    """Document ids, in order."""
    references: tuple[str, ...]
    """Reference summaries."""
    predictions: tuple[str, ...]
    """What the model wrote."""
    scores: dict[str, float]
    """Mean rouge1/rouge2/rougeL (points)."""
    per_document: tuple[dict[str, float], ...]
    """ROUGE (or the task's metrics, `deepsynth.evaluation.metrics.score`) of each document."""
    corpus: dict[str, float] = field(default_factory=dict)
    """Corpus aggregates of the metrics that have their own (CER pooled over characters, corpus
    BLEU...); empty for ROUGE, whose corpus figure is the mean."""


def score(ids: Sequence[str], references: Sequence[str], predictions: Sequence[str]) -> Evaluation:
    rows = rouge_per_document(predictions, references)
    means = {key: (sum(r[key] for r in rows) / len(rows) if rows else 0.0) for key in ROUGE_KEYS}
    return Evaluation(tuple(ids), tuple(references), tuple(predictions), means, tuple(rows))


def generate_all(generate: Callable[[Sequence[Any]], list[str]], examples: Sequence[Any],
                 batch_size: int, progress: Callable[[int], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> list[str]:
    """Run `generate` over `examples` in batches (progress gets the number done)."""
    predictions: list[str] = []
    for start in range(0, len(examples), batch_size):
        if should_stop is not None and should_stop():
            raise InterruptedError("evaluation cancelled")
        predictions.extend(generate(examples[start:start + batch_size]))
        if progress is not None:
            progress(len(predictions))
    return predictions


def sample_predictions(evaluations: dict[str, Evaluation], count: int = 5, width: int = 70) -> str:
    """A few documents side by side: the reference and each model's summary."""
    names = list(evaluations)
    first = evaluations[names[0]]
    lines = []
    for index in range(min(count, len(first.ids))):
        lines.append(f"[{first.ids[index]}] reference: {first.references[index][:width]}")
        for name in names:
            lines.append(f"    {name:>8}: {evaluations[name].predictions[index][:width]!r}")
    return "\n".join(lines)


def _rouge_family(predictions: Sequence[str], references: Sequence[str]) -> list[dict[str, float]]:
    return rouge_per_document(predictions, references)


def _metrics() -> tuple:
    from deepsynth.evaluation.metric import HIGHER, Metric

    words = "F-measure of word {} (rouge-score, Porter stemming, lower-cased), points"
    return (Metric("rouge1", "ROUGE-1", HIGHER, _rouge_family, words.format("unigrams")),
            Metric("rouge2", "ROUGE-2", HIGHER, _rouge_family, words.format("bigrams")),
            Metric("rougeL", "ROUGE-L", HIGHER, _rouge_family, words.format("longest common subsequence")))


METRICS = _metrics()
