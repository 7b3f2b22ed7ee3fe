"""Extraction: is the output valid JSON, and how many fields did it get right? Higher is better.

`json_valid`: 100 when the prediction parses as JSON (after surrounding whitespace and one
Markdown code fence, ```json ... ```, are removed: models add them), else 0.

`field_f1`: both the prediction and the reference are flattened into (field path, value) pairs:
nested objects give dotted paths (`address.city`), list items repeat their path (`items[]`), and
values compare as text after Unicode NFKC and whitespace collapsing (case kept; numbers as JSON
writes them, so 3 and 3.0 differ). Per document, F1 = 2 * matched / (predicted pairs + reference
pairs), a pair matched at most once; 100 when both have no pairs; 0 for a prediction that is not
JSON. Corpus (`eval/field_f1_corpus`): micro F1, the matches of every document over all pairs.
A reference that is not JSON is the dataset's error and is raised naming its position.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from typing import Any, Sequence

from deepsynth.evaluation.metric import HIGHER, BadReference, Metric, check_lengths

_FENCE = re.compile(r"^```[A-Za-z0-9_-]*\s*\n?(.*?)\n?\s*```$", re.DOTALL)


def parse_json(text: str) -> tuple[bool, Any]:
    """(True, value) when `text` is JSON (a code fence around it allowed), else (False, None)."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1).strip()
    try:
        return True, json.loads(stripped)
    except (json.JSONDecodeError, RecursionError):
        return False, None


def _value_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return " ".join(unicodedata.normalize("NFKC", text).split())


def field_pairs(value: Any, path: str = "") -> Counter:
    """The (path, value) pairs of a JSON value, as a multiset."""
    pairs: Counter = Counter()
    if isinstance(value, dict):
        for key, item in value.items():
            pairs += field_pairs(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for item in value:
            pairs += field_pairs(item, f"{path}[]")
    else:
        pairs[(path, _value_text(value))] += 1
    return pairs


def _counts(predictions: Sequence[str], references: Sequence[str]) -> list[tuple[bool, int, int, int]]:
    """(valid, matched, predicted pairs, reference pairs) per document."""
    check_lengths(predictions, references)
    rows = []
    for index, (prediction, reference) in enumerate(zip(predictions, references)):
        ok_reference, expected = parse_json(reference)
        if not ok_reference:
            raise BadReference(index, f"the reference is not valid JSON: {reference[:60]!r}")
        valid, found = parse_json(prediction)
        want = field_pairs(expected)
        got = field_pairs(found) if valid else Counter()
        rows.append((valid, sum((want & got).values()), sum(got.values()), sum(want.values())))
    return rows


def _f1(matched: int, predicted: int, expected: int) -> float:
    return 100.0 if predicted + expected == 0 else 200.0 * matched / (predicted + expected)


def field_scores(predictions: Sequence[str], references: Sequence[str]) -> list[dict[str, float]]:
    return [{"json_valid": 100.0 * valid, "field_f1": _f1(m, p, e) if valid else 0.0}
            for valid, m, p, e in _counts(predictions, references)]


def corpus_field_f1(predictions: Sequence[str], references: Sequence[str]) -> float:
    rows = _counts(predictions, references)
    if not rows:
        return 0.0
    return _f1(sum(r[1] for r in rows), sum(r[2] for r in rows), sum(r[3] for r in rows))


METRICS = (
    Metric("json_valid", "valid JSON", HIGHER, field_scores,
           "share of outputs that parse as JSON (one code fence allowed), %"),
    Metric("field_f1", "field F1", HIGHER, field_scores,
           "F1 of (field path, value) pairs against the reference JSON, points", corpus_field_f1),
)
