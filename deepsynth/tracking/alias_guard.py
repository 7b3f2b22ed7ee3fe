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

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Scored:
    """A run's or a version's main score as pages and messages word it: the metric, its mean, its
    95% interval and the documents behind it (None where not recorded)."""

    metric: str
    """Short name of the metric (`rougeL`, `cer`...)."""
    mean: float | None
    """The tuned model's mean, in points."""
    low: float | None = None
    """Lower bound of the 95% bootstrap interval."""
    high: float | None = None
    """Upper bound of the 95% bootstrap interval."""
    documents: int | None = None
    """Documents the score was computed on (`eval/docs`)."""

    @property
    def label(self) -> str:
        from deepsynth.evaluation.metrics import label

        return label(self.metric)

    @property
    def direction(self) -> str:
        from deepsynth.evaluation.metrics import direction

        return direction(self.metric)

    @property
    def interval(self) -> str:
        """`[9.0, 16.2]`, or empty when not recorded."""
        return f"[{self.low:.1f}, {self.high:.1f}]" if self.low is not None and self.high is not None else ""

    def short(self) -> str:
        """`CER 12.5`, or `no CER`."""
        return score_text(self.mean, self.metric)

    def full(self) -> str:
        """`CER 12.5 [9.0, 16.2] on 40 documents (lower is better)`."""
        from deepsynth.evaluation.metric import direction_words

        if self.mean is None:
            return self.short()
        interval = f" {self.interval}" if self.interval else ""
        documents = f" on {self.documents} documents" if self.documents is not None else ""
        return f"{self.short()}{interval}{documents} ({direction_words(self.direction)})"


def _number(values: Mapping[str, Any], key: str) -> float | None:
    try:
        value = values.get(key)
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def scored(values: Mapping[str, Any] | None, primary: str | None = None) -> Scored:
    """The main score of a run's metrics or a version's tags, with its interval and documents."""
    from deepsynth.evaluation.keys import DOCS_METRIC, HIGH, LOW, metric_key

    values = values or {}
    metric = main_metric(values, primary)
    documents = _number(values, DOCS_METRIC)
    return Scored(metric, score_of(values, primary), _number(values, metric_key("tuned", metric, LOW)),
                  _number(values, metric_key("tuned", metric, HIGH)), None if documents is None else int(documents))


def documents_sentence(current_label: str, current: Scored, candidate_label: str, candidate: Scored) -> str:
    """On how many documents the two were scored, and whether their intervals overlap (from the
    measured intervals, not a fixed rule of thumb)."""
    if current.documents is None and candidate.documents is None:
        return "Neither records on how many documents it was scored."
    counts = (f"Both were scored on {current.documents} documents" if current.documents == candidate.documents
              else f"{current_label} was scored on {_count(current.documents)}, {candidate_label} on "
                   f"{_count(candidate.documents)}")
    if current.interval and candidate.interval:
        overlap = current.low <= candidate.high and candidate.low <= current.high
        counts += (f"; their 95% intervals {current.interval} and {candidate.interval} "
                   + ("overlap, so the difference may be chance" if overlap else "do not overlap"))
    return counts + "."


def _count(documents: int | None) -> str:
    return "an unrecorded number of documents" if documents is None else f"{documents} documents"


def alias_move_warning(adapter_name: str, alias: str, current_version: str | None, current: Scored,
                       candidate_label: str, candidate: Scored) -> str | None:
    """`lower_score_warning` on the current version's metric, with the document counts (and the
    intervals) of both; a candidate ranked by another metric cannot be compared and says so."""
    if current_version is None or current.mean is None:
        return None
    if candidate.mean is not None and candidate.metric != current.metric:
        return (f"{adapter_name}@{alias} points at version {current_version} ({current.full()}); {candidate_label} "
                f"is scored by {candidate.label}, another metric, so nobody can tell whether it is better.")
    warning = lower_score_warning(adapter_name, alias, current_version, current.mean, candidate_label,
                                  candidate.mean, metric=current.metric)
    if warning is None:
        return None
    return f"{warning} {documents_sentence(f'version {current_version}', current, candidate_label, candidate)}"
