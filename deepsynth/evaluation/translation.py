"""Translation: chrF and BLEU from `sacrebleu` (its default settings, the ones papers report with
its signature: chrF with character 6-grams and beta 2; BLEU with the 13a tokenizer), higher is
better.

Per document: `sentence_chrf` / `sentence_bleu` (BLEU with sacrebleu's exponential smoothing and
effective order, as its sentence scorer does); a document whose prediction and reference are both
empty scores 100 (sacrebleu gives 0). Corpus (`eval/chrf_corpus`, `eval/bleu_corpus`): sacrebleu's
corpus scores, which pool n-gram statistics over all documents: the figure to quote.
"""

from __future__ import annotations

from typing import Sequence

from deepsynth.evaluation.metric import HIGHER, Metric, check_lengths


def _clip(value: float) -> float:
    return min(100.0, max(0.0, float(value)))


def translation_scores(predictions: Sequence[str], references: Sequence[str]) -> list[dict[str, float]]:
    import sacrebleu

    check_lengths(predictions, references)
    rows = []
    for prediction, reference in zip(predictions, references):
        if not prediction.strip() and not reference.strip():
            rows.append({"chrf": 100.0, "bleu": 100.0})
            continue
        rows.append({"chrf": _clip(sacrebleu.sentence_chrf(prediction, [reference]).score),
                     "bleu": _clip(sacrebleu.sentence_bleu(prediction, [reference]).score)})
    return rows


def corpus_chrf(predictions: Sequence[str], references: Sequence[str]) -> float:
    import sacrebleu

    return _clip(sacrebleu.corpus_chrf(list(predictions), [list(references)]).score) if predictions else 0.0


def corpus_bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    import sacrebleu

    return _clip(sacrebleu.corpus_bleu(list(predictions), [list(references)]).score) if predictions else 0.0


METRICS = (
    Metric("chrf", "chrF", HIGHER, translation_scores, "character n-gram F-score (sacrebleu chrF), points",
           corpus_chrf),
    Metric("bleu", "BLEU", HIGHER, translation_scores, "BLEU (sacrebleu, 13a tokens), points", corpus_bleu),
)
