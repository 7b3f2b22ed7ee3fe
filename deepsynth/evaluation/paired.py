"""Is run B really better than run A? A paired comparison on the same documents.

Both runs scored the same held-out documents, so the question is about the per-document
differences d_i = B_i - A_i: their mean (the change in mean ROUGE-L), a paired bootstrap 95%
interval of that mean (resampling documents, each keeping both of its scores), and how often B wins,
loses or ties. Pairing removes the spread between documents (some are easy for every model), so it
detects smaller differences than two separate intervals that overlap. Runs scored on different
documents are refused: their means answer different questions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from deepsynth.errors import InputError
from deepsynth.evaluation.bootstrap import CONFIDENCE, RESAMPLES, SEED, bootstrap_interval

TIE_POINTS = 1e-9
"""Per-document differences smaller than this (in points) are ties."""


class DocumentMismatch(InputError):
    """Two runs were evaluated on different documents: no paired comparison."""


@dataclass(frozen=True)
class PairedComparison:
    """Candidate minus reference on the same documents (ROUGE points)."""

    delta: float
    """Mean of candidate - reference over the documents."""
    low: float
    """Lower bound of the paired bootstrap interval of `delta`."""
    high: float
    """Upper bound of that interval."""
    documents: int
    """Documents both runs were scored on."""
    wins: int
    """Documents where the candidate scored higher."""
    losses: int
    """Documents where the candidate scored lower."""
    ties: int
    """Documents where both scored the same."""

    @property
    def significant(self) -> bool:
        """The interval excludes 0: the difference is unlikely to be document-sampling noise."""
        return self.low > 0 or self.high < 0

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
                      candidate_name: str = "the other run") -> PairedComparison:
    """Per-document scores keyed by document id -> candidate minus reference with its interval."""
    check_same_documents(reference, candidate, reference_name, candidate_name)
    if not reference:
        raise DocumentMismatch(f"{reference_name} and {candidate_name} have no scored documents to compare")
    ids = sorted(reference)
    differences = [candidate[i] - reference[i] for i in ids]
    interval = bootstrap_interval(differences, resamples, confidence, seed)
    wins = sum(d > TIE_POINTS for d in differences)
    losses = sum(d < -TIE_POINTS for d in differences)
    return PairedComparison(interval.mean, interval.low, interval.high, len(ids), wins, losses,
                            len(ids) - wins - losses)
