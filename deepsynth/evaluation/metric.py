"""What a metric is: a short name, which way is better, a score per document and a corpus aggregate.

Every score is in points (0-100, error rates may exceed 100 when a prediction is much longer than
its reference). The DIRECTION is part of the metric, not of the reader: ROUGE, ANLS, chrF are
better when higher, character and word error rates when lower. Everything that says "better",
counts wins, sorts runs or warns about a worse adapter asks the metric (`is_better`, `gain`,
`best_of`) instead of comparing with `>`.

A metric's mean over documents (what `eval/<name>` holds, what bootstrap intervals and paired
differences are about) is the mean of its per-document scores; its corpus aggregate
(`eval/<name>_corpus`, for metrics whose standard figure is not that mean: CER and WER pool the
edits of every document over all reference characters, BLEU and chrF pool n-gram statistics) is
the number papers quote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

HIGHER, LOWER = "higher", "lower"
DIRECTIONS = (HIGHER, LOWER)

FamilyScores = Callable[[Sequence[str], Sequence[str]], list[dict[str, float]]]
"""(predictions, references) -> per document, {metric name: points} for every metric of a family."""
Corpus = Callable[[Sequence[str], Sequence[str]], float]


@dataclass(frozen=True)
class Metric:
    """One score users search for (`cer`, `anls`, `rougeL`...)."""

    name: str
    """The short name: the metric key is `eval/<name>` (tuned) or `eval/<model>_<name>`."""
    label: str
    """How tables and charts name it (`CER`, `ROUGE-L`)."""
    direction: str
    """`higher` or `lower`: which way is better."""
    family: FamilyScores
    """Scores a batch of documents for this metric and its siblings (computed once per family)."""
    description: str
    """One line: what it measures and how text is normalized."""
    corpus: Corpus | None = None
    """The corpus aggregate when it is not the mean of the per-document scores."""

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"{self.name}: direction must be one of {DIRECTIONS}, got {self.direction!r}")

    def per_document(self, predictions: Sequence[str], references: Sequence[str]) -> list[float]:
        check_lengths(predictions, references)
        return [row[self.name] for row in self.family(predictions, references)]

    def aggregate(self, predictions: Sequence[str], references: Sequence[str]) -> float:
        """The corpus figure: `corpus` if the metric has one, else the mean per document (0 for none)."""
        check_lengths(predictions, references)
        if self.corpus is not None:
            return self.corpus(predictions, references)
        scores = self.per_document(predictions, references)
        return sum(scores) / len(scores) if scores else 0.0


class BadReference(ValueError):
    """A reference a metric cannot score (extraction: not JSON): the dataset's error, at `index`."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


def check_lengths(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")


def gain(delta: float, direction: str) -> float:
    """A difference (candidate - reference) turned into an improvement: positive means better."""
    return -delta if direction == LOWER else delta


def is_better(candidate: float, reference: float, direction: str) -> bool:
    """Strictly better in the metric's direction."""
    return gain(candidate - reference, direction) > 0


def best_of(values: Mapping[str, float], direction: str) -> str:
    """The name with the best value (the first of equals, in mapping order)."""
    if not values:
        raise ValueError("nothing to choose the best of")
    names = list(values)
    best = names[0]
    for name in names[1:]:
        if is_better(values[name], values[best], direction):
            best = name
    return best


def sort_best_first(values: Iterable[float], direction: str) -> list[float]:
    return sorted(values, reverse=direction == HIGHER)


def direction_words(direction: str) -> str:
    return "higher is better" if direction == HIGHER else "lower is better"
