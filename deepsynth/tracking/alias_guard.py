"""Guardrails for moving a registry alias: `champion` should not quietly move to a worse adapter.

Pure functions over what the registry and the runs already hold (a version's tags carry its
run's key metrics, copied at registration): the main score, and whether moving an alias to a
candidate lowers it. The caller asks the user to confirm when `lower_score_warning` says so.
"""

from __future__ import annotations

from typing import Any, Mapping

MAIN_SCORE = "eval/rougeL"
"""The score runs and adapter versions are ranked by (ROUGE-L of the tuned model, points)."""
MAIN_SCORE_LABEL = "ROUGE-L"


def score_of(values: Mapping[str, Any] | None) -> float | None:
    """The main score in a run's metrics or a version's tags (tags hold it as text)."""
    if not values or values.get(MAIN_SCORE) in (None, ""):
        return None
    try:
        return float(values[MAIN_SCORE])
    except (TypeError, ValueError):
        return None


def score_text(score: float | None) -> str:
    return f"{MAIN_SCORE_LABEL} {score:.1f}" if score is not None else f"no {MAIN_SCORE_LABEL}"


def lower_score_warning(adapter_name: str, alias: str, current_version: str | None, current_score: float | None,
                        candidate: str, candidate_score: float | None) -> str | None:
    """Why moving `alias` from `current_version` to `candidate` deserves a second look, or None:
    the candidate scored lower, or has no score while the current one has."""
    if current_version is None or current_version == candidate or current_score is None:
        return None
    where = f"{adapter_name}@{alias} points at version {current_version} ({score_text(current_score)})"
    if candidate_score is None:
        return f"{where}; {candidate} has no recorded {MAIN_SCORE_LABEL}, so nobody can tell whether it is better."
    if candidate_score < current_score:
        return (f"{where}; {candidate} scored {candidate_score:.1f}, "
                f"{current_score - candidate_score:.1f} points lower.")
    return None
