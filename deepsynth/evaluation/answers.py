"""Question answering on short answers: ANLS (DocVQA's metric) and exact match, higher is better.

ANLS (Biten et al. 2019, "Scene Text Visual Question Answering", the metric of DocVQA): per
question, the best over its accepted answers of 1 - NL, where NL is the Levenshtein distance
between the normalized answer and prediction divided by the longer one's length, and 0 when
NL >= 0.5 (threshold `ANLS_THRESHOLD`): a near miss ("Jhon Smith") earns partial credit, a wrong
answer none. Normalization as in the DocVQA evaluation script: lower-case, surrounding whitespace
dropped (we also apply NFKC and collapse inner whitespace). Two empty strings match (1).

Exact match (SQuAD's normalization): lower-case, punctuation and the articles a/an/the removed,
whitespace collapsed; 100 when equal, else 0.

A reference that is a JSON array of strings (`["4", "four"]`) lists several accepted answers;
any other reference is one answer. Scores are in points (ANLS 0.83 -> 83).
"""

from __future__ import annotations

import json
import re
import string
import unicodedata
from typing import Sequence

from deepsynth.evaluation.metric import HIGHER, Metric, check_lengths

ANLS_THRESHOLD = 0.5
"""Normalized Levenshtein distance at or above which an answer earns nothing (DocVQA's tau)."""

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def accepted_answers(reference: str) -> list[str]:
    """The answers a reference accepts: the items of a JSON array of strings, else the reference."""
    text = reference.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return [reference]
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return value
    return [reference]


def _anls_text(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def squad_normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def anls_one(prediction: str, answers: Sequence[str], threshold: float = ANLS_THRESHOLD) -> float:
    """ANLS of one prediction against its accepted answers, 0..1."""
    from rapidfuzz.distance import Levenshtein

    p = _anls_text(prediction)
    best = 0.0
    for answer in answers:
        a = _anls_text(answer)
        longest = max(len(a), len(p))
        distance = Levenshtein.distance(p, a) / longest if longest else 0.0
        best = max(best, 1.0 - distance if distance < threshold else 0.0)
    return best


def answer_scores(predictions: Sequence[str], references: Sequence[str]) -> list[dict[str, float]]:
    check_lengths(predictions, references)
    rows = []
    for prediction, reference in zip(predictions, references):
        answers = accepted_answers(reference)
        normalized = squad_normalize(prediction)
        rows.append({"anls": 100.0 * anls_one(prediction, answers),
                     "exact_match": 100.0 * any(normalized == squad_normalize(a) for a in answers)})
    return rows


METRICS = (
    Metric("anls", "ANLS", HIGHER, answer_scores,
           f"average normalized Levenshtein similarity (DocVQA), threshold {ANLS_THRESHOLD}, points"),
    Metric("exact_match", "exact match", HIGHER, answer_scores,
           "share of answers equal to a reference after SQuAD normalization, %"),
)
