"""Everything a run's evaluation says, in one place: every model's scores on one split (ROUGE for
summaries, the task's metrics otherwise: `deepsynth.evaluation.tasks`) with 95% intervals and the
document count, the baselines' choices, and a shortfall when the split held fewer documents than
asked for. The worker logs it (`metrics`, `tags`, `summary` -> rouge.json), prints it (`table`),
and `deepsynth demo` reads its verdict from it. "Best" reads the primary metric's direction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from deepsynth.evaluation import keys
from deepsynth.evaluation import metrics as registry
from deepsynth.evaluation.baselines import Baseline
from deepsynth.evaluation.bootstrap import CONFIDENCE, RESAMPLES, SEED, Interval, bootstrap_interval
from deepsynth.evaluation.metric import best_of, direction_words
from deepsynth.evaluation.rouge import ROUGE_KEYS, Evaluation
from deepsynth.evaluation.tasks import SUMMARIZE, TaskMetrics, task_metrics


def _summarize() -> TaskMetrics:
    return task_metrics(SUMMARIZE)


def shortfall_message(requested: int, available: int, split: str) -> str | None:
    """What to tell the user when `requested` documents were asked of a split holding `available`."""
    if requested <= available:
        return None
    return (f"asked for {requested} {split} documents, the {split} split holds {available}: "
            f"scored on {available}")


@dataclass(frozen=True)
class Scorecard:
    """Every model scored on the same documents of one split."""

    split: str
    """The split the documents came from (test, validation or train)."""
    requested: int
    """Documents asked for (`eval_docs`)."""
    available: int
    """Documents the split holds."""
    evaluations: dict[str, Evaluation]
    """Model (`tuned`, `base`, baseline names) -> its predictions and scores per document."""
    intervals: dict[str, dict[str, Interval]]
    """Model -> metric short name -> mean with its bootstrap interval."""
    baselines: tuple[Any, ...] = ()
    """The baselines scored, with the choices they made on train."""
    resamples: int = RESAMPLES
    """Bootstrap resamples behind each interval."""
    seed: int = SEED
    """Bootstrap seed."""
    extra: dict[str, Any] = field(default_factory=dict)
    """More facts for rouge.json (e.g. blank_pages)."""
    tasks: TaskMetrics = field(default_factory=_summarize)
    """The task, its metrics and the primary metric (summarize: ROUGE, as always)."""

    @property
    def primary(self) -> str:
        return self.tasks.primary

    @property
    def direction(self) -> str:
        return self.tasks.direction

    @property
    def is_summarize_default(self) -> bool:
        """Scored exactly as before tasks existed: ROUGE-1/2/L, ranked by ROUGE-L."""
        return self.tasks.task == SUMMARIZE

    @property
    def documents(self) -> int:
        return len(next(iter(self.evaluations.values())).ids)

    @property
    def ids(self) -> tuple[str, ...]:
        return next(iter(self.evaluations.values())).ids

    @property
    def shortfall(self) -> str | None:
        return shortfall_message(self.requested, self.available, self.split)

    def rougeL(self, model: str) -> Interval:
        return self.intervals[model]["rougeL"]

    def primary_interval(self, model: str) -> Interval:
        return self.intervals[model][self.primary]

    def best_baseline(self) -> tuple[str, Interval] | None:
        """The non-learned baseline with the best mean primary metric (highest ROUGE-L, lowest
        CER...), or None if none was scored."""
        scored = {name: self.primary_interval(name).mean for name in keys.ALL_BASELINES if name in self.intervals}
        if not scored:
            return None
        best = best_of(scored, self.direction)
        return best, self.primary_interval(best)

    def metrics(self) -> dict[str, float]:
        """Metric key -> value, for the tracking store (see `deepsynth.evaluation.keys`)."""
        out: dict[str, float] = {keys.DOCS_METRIC: float(self.documents),
                                 keys.REQUESTED_METRIC: float(self.requested)}
        for model, by_key in self.intervals.items():
            for metric, interval in by_key.items():
                out[keys.metric_key(model, metric)] = interval.mean
                out[keys.metric_key(model, metric, keys.LOW)] = interval.low
                out[keys.metric_key(model, metric, keys.HIGH)] = interval.high
        for model, evaluation in self.evaluations.items():
            for metric, value in evaluation.corpus.items():
                out[keys.metric_key(model, metric, keys.CORPUS)] = value
        return out

    def tags(self) -> dict[str, str]:
        tags = {keys.SPLIT_TAG: self.split, keys.DOCUMENTS_TAG: keys.documents_digest(self.split, list(self.ids))}
        if self.shortfall:
            tags[keys.SHORTFALL_TAG] = self.shortfall
        if not self.is_summarize_default:  # a summarize run logs what it always did
            tags.update({keys.TASK_TAG: self.tasks.task, keys.PRIMARY_METRIC_TAG: self.primary,
                         keys.PRIMARY_REASON_TAG: self.tasks.reason})
        return tags

    def task_summary(self) -> dict[str, Any]:
        """The task, its primary metric, why, and every metric's direction (for reports and pages)."""
        return {"task": self.tasks.task, "primary_metric": self.primary, "primary_reason": self.tasks.reason,
                "direction": self.direction,
                "metrics": {name: {"label": registry.label(name), "direction": registry.direction(name),
                                   "description": registry.get_metric(name).description}
                            for name in self.tasks.names}}

    def summary(self) -> dict[str, Any]:
        """The `eval/rouge.json` object."""
        return {
            "split": self.split, "docs": self.documents, "docs_requested": self.requested,
            "split_size": self.available, "shortfall": self.shortfall,
            "documents": keys.documents_digest(self.split, list(self.ids)),
            "rouge": {m: {k: i.mean for k, i in by_key.items()} for m, by_key in self.intervals.items()},
            "intervals": {m: {k: [i.low, i.high] for k, i in by_key.items()} for m, by_key in self.intervals.items()},
            "confidence": CONFIDENCE, "resamples": self.resamples, "bootstrap_seed": self.seed,
            "baselines": {b.name: _baseline_summary(b) for b in self.baselines},
            **({} if self.is_summarize_default else {
                **self.task_summary(),
                "corpus": {m: e.corpus for m, e in self.evaluations.items() if e.corpus}}),
            **self.extra,
        }

    def table(self) -> str:
        """Plain text: one line per model, its scores, the primary metric's interval and the
        document count (summarize: ROUGE-1/2/L and the ROUGE-L interval, as always)."""
        results = {keys.LABELS.get(m, m): by_key for m, by_key in self.intervals.items()}
        where = f"{self.documents} {self.split} documents"
        if self.is_summarize_default:
            return score_table(results, where)
        return metric_table(results, self.tasks.names, self.primary, f"{where}; {self.tasks.describe()}")


def _baseline_summary(baseline: Any) -> dict[str, Any]:
    if isinstance(baseline, Baseline):
        return {"choice": baseline.choice, "train_rougeL": round(baseline.train_rougeL, 2), "chosen_on": "train"}
    return baseline.summary()


def metric_table(results: Mapping[str, Mapping[str, Interval]], names: Sequence[str], primary: str,
                 where: str = "") -> str:
    """A plain-text table of named results over any metrics, the primary's interval and n beside them."""
    width = max([len(name) for name in results] + [5])
    columns = [(n, max(7, len(registry.label(n)))) for n in names]
    ci = f"95% CI of {registry.label(primary)} ({direction_words(registry.direction(primary))})"
    header = f"{'model':<{width}}  " + " ".join(f"{registry.label(n):>{w}}" for n, w in columns)
    lines = [header + f"  {ci:<22} {'docs':>5}" + (f"   ({where})" if where else "")]
    for name, by_key in results.items():
        main = by_key[primary]
        cells = " ".join(f"{by_key[n].mean:>{w}.1f}" for n, w in columns)
        lines.append(f"{name:<{width}}  {cells}  {f'[{main.low:.1f}, {main.high:.1f}]':<{len(ci)}} "
                     f"{main.documents:>5d}")
    return "\n".join(lines)


def score_table(results: Mapping[str, Mapping[str, Interval]], where: str = "") -> str:
    """A plain-text table of named results (ROUGE key -> Interval), the interval and n beside R-L."""
    width = max([len(name) for name in results] + [5])
    header = f"{'model':<{width}}  {'R-1':>5} {'R-2':>5} {'R-L':>5}  {'95% CI of R-L':<15} {'docs':>5}"
    lines = [header + (f"   ({where})" if where else "")]
    for name, by_key in results.items():
        rl = by_key["rougeL"]
        lines.append(f"{name:<{width}}  {by_key['rouge1'].mean:>5.1f} {by_key['rouge2'].mean:>5.1f} {rl.mean:>5.1f}"
                     f"  [{rl.low:>5.1f}, {rl.high:>5.1f}]  {rl.documents:>5d}")
    return "\n".join(lines)


def build_scorecard(split: str, requested: int, available: int, evaluations: Mapping[str, Evaluation],
                    baselines: Sequence[Any] = (), resamples: int = RESAMPLES, seed: int = SEED,
                    tasks: TaskMetrics | None = None, **extra: Any) -> Scorecard:
    """Intervals for every model and metric of the task (summarize when `tasks` is None: the ROUGE
    keys); every evaluation must cover the same documents."""
    tasks = tasks or _summarize()
    if not evaluations:
        raise ValueError("nothing was evaluated")
    first = next(iter(evaluations.values()))
    for name, evaluation in evaluations.items():
        if evaluation.ids != first.ids:
            raise ValueError(f"{name} was scored on other documents than the others")
    intervals = {name: {key: bootstrap_interval([row[key] for row in evaluation.per_document], resamples,
                                                seed=seed)
                        for key in (ROUGE_KEYS if tasks.task == SUMMARIZE else tasks.names)}
                 for name, evaluation in evaluations.items()}
    return Scorecard(split, requested, available, dict(evaluations), intervals, tuple(baselines), resamples,
                     seed, dict(extra), tasks)
