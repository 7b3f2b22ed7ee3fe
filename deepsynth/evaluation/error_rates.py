"""Transcription: character and word error rates (CER, WER), lower is better.

Normalization, the same for prediction and reference: Unicode NFKC (so a ligature "ﬁ" and "fi",
a full-width "Ａ" and "A", are the same characters), every run of whitespace (line breaks
included) becomes one space, leading and trailing whitespace is dropped. Case and punctuation are
KEPT: a page transcribed in the wrong case or without its commas is not a correct transcription.

Per document: Levenshtein edits (insertions, deletions, substitutions; `rapidfuzz`) between the
normalized texts, in characters for CER and in space-separated words for WER, divided by the
reference's length, in percent. It is not capped: a prediction that repeats itself can score over
100. An empty reference scores 0 against an empty prediction and 100 against anything else (every
character is an insertion; a rate over zero reference characters is otherwise undefined).

Corpus (`eval/cer_corpus`): all edits over all reference characters (words), as `jiwer` reports
it: long pages weigh more than short ones.
"""

from __future__ import annotations

import unicodedata
from typing import Sequence

from deepsynth.evaluation.metric import LOWER, Metric, check_lengths


def normalize(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def _edits(prediction: Sequence[str], reference: Sequence[str]) -> int:
    from rapidfuzz.distance import Levenshtein

    return Levenshtein.distance(prediction, reference)


def _units(text: str, unit: str) -> Sequence[str]:
    normalized = normalize(text)
    return normalized if unit == "char" else normalized.split()


def _counts(predictions: Sequence[str], references: Sequence[str], unit: str) -> list[tuple[int, int]]:
    """(edits, reference length) per document, in `unit`s (char or word)."""
    check_lengths(predictions, references)
    rows = []
    for prediction, reference in zip(predictions, references):
        p, r = _units(prediction, unit), _units(reference, unit)
        rows.append((_edits(p, r), len(r)) if r else (len(p), 0))  # no reference: all insertions
    return rows


def _rate(edits: int, length: int) -> float:
    if length == 0:
        return 100.0 if edits else 0.0
    return 100.0 * edits / length


def error_rates(predictions: Sequence[str], references: Sequence[str]) -> list[dict[str, float]]:
    chars, words = _counts(predictions, references, "char"), _counts(predictions, references, "word")
    return [{"cer": _rate(*c), "wer": _rate(*w)} for c, w in zip(chars, words)]


def _corpus(unit: str):
    def corpus(predictions: Sequence[str], references: Sequence[str]) -> float:
        rows = _counts(predictions, references, unit)
        length = sum(n for _, n in rows)
        if length == 0:
            return sum(_rate(e, n) for e, n in rows) / len(rows) if rows else 0.0
        return 100.0 * sum(e for e, _ in rows) / length
    return corpus


METRICS = (
    Metric("cer", "CER", LOWER, error_rates,
           "character error rate, % (NFKC, whitespace collapsed, case kept)", _corpus("char")),
    Metric("wer", "WER", LOWER, error_rates,
           "word error rate, % (NFKC, whitespace collapsed, case kept)", _corpus("word")),
)
