"""Guardrails for moving a registry alias: `champion` should not quietly move to a worse adapter.

Pure functions over what the registry and the runs already hold (a version's tags carry its
run's key metrics, copied at registration): the main score, and whether moving an alias to a
candidate makes it worse. The caller asks the user to confirm when `lower_score_warning` says so.

The main score is the run's primary metric: ROUGE-L for summaries (and every run from before
tasks existed), CER for transcriptions, ANLS for short answers... It is read from the tag
`deepsynth.primary_metric` where the values carry it (version tags copied at registration), from
`primary` where the caller knows it (`keys.primary_metric(run.tags)`), else from which task
metric the values hold (`tasks.PRIMARY_BY_PRESENCE`). "Worse" reads its direction: a higher
error rate is worse.
"""

from __future__ import annotations

from typing import Any, Mapping

MAIN_SCORE = "eval/rougeL"
"""The score of summarize runs and their adapter versions (ROUGE-L of the tuned model, points)."""
MAIN_SCORE_LABEL = "ROUGE-L"


def main_metric(values: Mapping[str, Any] | None, primary: str | None = None) -> str:
    """The short name of the metric `values` (a run's metrics or a version's tags) are ranked by."""
    from deepsynth.evaluation.keys import DEFAULT_PRIMARY, PRIMARY_METRIC_TAG, metric_key
    from deepsynth.evaluation.metrics import METRICS
    from deepsynth.evaluation.tasks import PRIMARY_BY_PRESENCE

    values = values or {}
    for named in (primary, values.get(PRIMARY_METRIC_TAG)):
        if named in METRICS:
            return str(named)
    present = [name for name in PRIMARY_BY_PRESENCE if values.get(metric_key("tuned", name)) not in (None, "")]
    return present[0] if present else DEFAULT_PRIMARY


def score_of(values: Mapping[str, Any] | None, primary: str | None = None) -> float | None:
    """The main score in a run's metrics or a version's tags (tags hold it as text)."""
    from deepsynth.evaluation.keys import metric_key

    if not values:
        return None
    key = metric_key("tuned", main_metric(values, primary))
    if values.get(key) in (None, ""):
        return None
    try:
        return float(values[key])
    except (TypeError, ValueError):
        return None


def ranking_score(values: Mapping[str, Any] | None, primary: str | None = None) -> float | None:
    """The main score oriented so that higher is better (an error rate negated): what "the best
    run" maximises whatever the task's metric."""
    from deepsynth.evaluation.metrics import direction

    score = score_of(values, primary)
    if score is None:
        return None
    return score if direction(main_metric(values, primary)) == "higher" else -score


def score_text(score: float | None, metric: str = "rougeL") -> str:
    from deepsynth.evaluation.metrics import label

    return f"{label(metric)} {score:.1f}" if score is not None else f"no {label(metric)}"


def lower_score_warning(adapter_name: str, alias: str, current_version: str | None, current_score: float | None,
                        candidate: str, candidate_score: float | None, metric: str = "rougeL") -> str | None:
    """Why moving `alias` from `current_version` to `candidate` deserves a second look, or None:
    the candidate scored worse on `metric` (lower ROUGE-L, higher CER), or has no score while the
    current one has."""
    from deepsynth.evaluation.metric import LOWER, is_better
    from deepsynth.evaluation.metrics import direction, label

    if current_version is None or current_version == candidate or current_score is None:
        return None
    where = f"{adapter_name}@{alias} points at version {current_version} ({score_text(current_score, metric)})"
    if candidate_score is None:
        return f"{where}; {candidate} has no recorded {label(metric)}, so nobody can tell whether it is better."
    if is_better(current_score, candidate_score, direction(metric)):
        side = "higher (worse: lower is better)" if direction(metric) == LOWER else "lower"
        return (f"{where}; {candidate} scored {candidate_score:.1f}, "
                f"{abs(current_score - candidate_score):.1f} points {side}.")
    return None
