"""The registry of metrics, by the short name users search for, and scoring documents with any of them.

    summarize   rouge1 rouge2 rougeL            (`rouge`)         higher is better
    transcribe  cer wer                          (`error_rates`)   LOWER is better
    qa          anls exact_match (+ rougeL)      (`answers`)       higher is better
    extract     json_valid field_f1              (`fields`)        higher is better
    translate   chrf bleu                        (`translation`)   higher is better

Which of them a task logs and ranks by is `deepsynth.evaluation.tasks`.
"""

from __future__ import annotations

from typing import Sequence

from deepsynth.evaluation import answers, error_rates, fields, rouge, translation
from deepsynth.errors import InputError
from deepsynth.evaluation.metric import HIGHER, BadReference, Metric

METRICS: dict[str, Metric] = {m.name: m for family in (rouge, error_rates, answers, fields, translation)
                              for m in family.METRICS}
"""Short name -> metric, in family order."""
METRIC_NAMES = tuple(METRICS)


def get_metric(name: str) -> Metric:
    """The metric called `name`; ValueError listing the names otherwise."""
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; one of {', '.join(METRIC_NAMES)}") from None


def direction(name: str) -> str:
    """`higher` or `lower`; `higher` for a name outside the registry (train/loss is not a score here)."""
    return METRICS[name].direction if name in METRICS else HIGHER


def label(name: str) -> str:
    return METRICS[name].label if name in METRICS else name


def per_document(names: Sequence[str], predictions: Sequence[str], references: Sequence[str]) -> list[dict[str, float]]:
    """Per document, {name: points} for each metric in `names`; each family is computed once."""
    metrics = [get_metric(name) for name in names]
    rows: list[dict[str, float]] = [{} for _ in predictions]
    done: dict[int, list[dict[str, float]]] = {}
    for metric in metrics:
        key = id(metric.family)
        if key not in done:
            done[key] = metric.family(predictions, references)
        for row, scores in zip(rows, done[key]):
            row[metric.name] = scores[metric.name]
    return rows


def corpus(names: Sequence[str], predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """name -> corpus aggregate, for the metrics in `names` that have one of their own."""
    return {name: METRICS[name].corpus(predictions, references) for name in names
            if get_metric(name).corpus is not None}


def score(ids: Sequence[str], references: Sequence[str], predictions: Sequence[str],
          names: Sequence[str] = rouge.ROUGE_KEYS) -> rouge.Evaluation:
    """`rouge.score` for any metrics: per-document scores and their means (the corpus figures in
    `Evaluation.corpus`). With the ROUGE keys it is `rouge.score` itself (the summarize path)."""
    if tuple(names) == rouge.ROUGE_KEYS:
        return rouge.score(ids, references, predictions)
    try:
        rows = per_document(names, predictions, references)
    except BadReference as error:  # the dataset's row, named: no traceback for bad input
        raise InputError(f"document {ids[error.index]!r}: {error}") from None
    means = {name: (sum(r[name] for r in rows) / len(rows) if rows else 0.0) for name in names}
    return rouge.Evaluation(tuple(ids), tuple(references), tuple(predictions), means, tuple(rows),
                            corpus(names, predictions, references) if rows else {})
