"""Is run B really better than run A? A paired comparison on the same documents.

Both runs scored the same held-out documents, so the question is about the per-document
differences d_i = B_i - A_i: their mean (the change in mean ROUGE-L, CER...), a paired bootstrap
95% interval of that mean (resampling documents, each keeping both of its scores), and how often B
wins, loses or ties. "Wins" and the verdict read the metric's direction: with an error rate, a
negative difference is an improvement. Pairing removes the spread between documents (some are
easy for every model), so it detects smaller differences than two separate intervals that overlap. Runs scored on different
documents are refused: their means answer different questions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from deepsynth.errors import InputError
from deepsynth.evaluation.bootstrap import CONFIDENCE, RESAMPLES, SEED, bootstrap_interval
from deepsynth.evaluation.metric import HIGHER, LOWER, gain

TIE_POINTS = 1e-9
"""Per-document differences smaller than this (in points) are ties."""
BETTER, WORSE, UNCLEAR = "better", "worse", "no clear difference"
"""Verdicts on a candidate against the reference."""


class DocumentMismatch(InputError):
    """Two runs were evaluated on different documents: no paired comparison."""


@dataclass(frozen=True)
class PairedComparison:
    """Candidate minus reference on the same documents (points of the metric compared)."""

    delta: float
    """Mean of candidate - reference over the documents."""
    low: float
    """Lower bound of the paired bootstrap interval of `delta`."""
    high: float
    """Upper bound of that interval."""
    documents: int
    """Documents both runs were scored on."""
    wins: int
    """Documents where the candidate scored better (higher; lower for an error rate)."""
    losses: int
    """Documents where the candidate scored worse."""
    ties: int
    """Documents where both scored the same."""
    direction: str = HIGHER
    """Which way the metric compared is better (`higher`, or `lower` for error rates)."""

    @property
    def significant(self) -> bool:
        """The interval excludes 0: the difference is unlikely to be document-sampling noise."""
        return self.low > 0 or self.high < 0

    @property
    def verdict(self) -> str:
        """`better` when the whole interval is on the improving side of 0, `worse` when it is
        on the other, else `no clear difference`."""
        improving_low, improving_high = sorted((gain(self.low, self.direction), gain(self.high, self.direction)))
        if improving_low > 0:
            return BETTER
        if improving_high < 0:
            return WORSE
        return UNCLEAR

    @property
    def win_share(self) -> float:
        return self.wins / self.documents if self.documents else 0.0

    @property
    def loss_share(self) -> float:
        return self.losses / self.documents if self.documents else 0.0


def check_same_documents(reference: Mapping[str, float], candidate: Mapping[str, float],
                         reference_name: str = "the reference run", candidate_name: str = "the other run") -> None:
    """Raise `DocumentMismatch`, saying how the document sets differ, unless they are equal."""
    if set(reference) == set(candidate):
        return
    common = len(set(reference) & set(candidate))
    only_ref = sorted(set(reference) - set(candidate))
    only_cand = sorted(set(candidate) - set(reference))
    sample = ", ".join(repr(i) for i in (only_ref + only_cand)[:3])
    raise DocumentMismatch(
        f"{candidate_name} was evaluated on {len(candidate)} documents and {reference_name} on "
        f"{len(reference)}, {common} of them in common (e.g. not shared: {sample}); a paired "
        "comparison needs the same documents: evaluate both on the same split and --eval-docs")


def paired_comparison(reference: Mapping[str, float], candidate: Mapping[str, float],
                      resamples: int = RESAMPLES, confidence: float = CONFIDENCE, seed: int = SEED,
                      reference_name: str = "the reference run",
                      candidate_name: str = "the other run", direction: str = HIGHER) -> PairedComparison:
    """Per-document scores keyed by document id -> candidate minus reference with its interval;
    `direction` (the metric's: `higher` or `lower` is better) decides what a win is."""
    check_same_documents(reference, candidate, reference_name, candidate_name)
    if not reference:
        raise DocumentMismatch(f"{reference_name} and {candidate_name} have no scored documents to compare")
    ids = sorted(reference)
    differences = [candidate[i] - reference[i] for i in ids]
    interval = bootstrap_interval(differences, resamples, confidence, seed)
    if direction not in (HIGHER, LOWER):
        raise ValueError(f"direction must be {HIGHER!r} or {LOWER!r}, got {direction!r}")
    wins = sum(gain(d, direction) > TIE_POINTS for d in differences)
    losses = sum(gain(d, direction) < -TIE_POINTS for d in differences)
    return PairedComparison(interval.mean, interval.low, interval.high, len(ids), wins, losses,
                            len(ids) - wins - losses, direction)
