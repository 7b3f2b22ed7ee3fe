"""Everything a run's evaluation says, in one place: every model's ROUGE on one split with 95%
intervals and the document count, the baselines' choices, and a shortfall when the split held
fewer documents than asked for. The worker logs it (`metrics`, `tags`, `summary` -> rouge.json),
prints it (`table`), and `deepsynth demo` reads its verdict from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from deepsynth.evaluation import keys
from deepsynth.evaluation.baselines import BASELINE_NAMES, Baseline
from deepsynth.evaluation.bootstrap import CONFIDENCE, RESAMPLES, SEED, Interval, bootstrap_interval
from deepsynth.evaluation.rouge import ROUGE_KEYS, Evaluation


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
    """Model (`tuned`, `base`, baseline names) -> its predictions and ROUGE per document."""
    intervals: dict[str, dict[str, Interval]]
    """Model -> ROUGE key -> mean with its bootstrap interval."""
    baselines: tuple[Baseline, ...] = ()
    """The baselines scored, with the choices they made on train."""
    resamples: int = RESAMPLES
    """Bootstrap resamples behind each interval."""
    seed: int = SEED
    """Bootstrap seed."""
    extra: dict[str, Any] = field(default_factory=dict)
    """More facts for rouge.json (e.g. blank_pages)."""

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

    def best_baseline(self) -> tuple[str, Interval] | None:
        """The non-learned baseline with the highest mean ROUGE-L, or None if none was scored."""
        scored = [(name, self.rougeL(name)) for name in BASELINE_NAMES if name in self.intervals]
        return max(scored, key=lambda item: item[1].mean) if scored else None

    def metrics(self) -> dict[str, float]:
        """Metric key -> value, for the tracking store (see `deepsynth.evaluation.keys`)."""
        out: dict[str, float] = {keys.DOCS_METRIC: float(self.documents),
                                 keys.REQUESTED_METRIC: float(self.requested)}
        for model, by_key in self.intervals.items():
            for metric, interval in by_key.items():
                out[keys.metric_key(model, metric)] = interval.mean
                out[keys.metric_key(model, metric, keys.LOW)] = interval.low
                out[keys.metric_key(model, metric, keys.HIGH)] = interval.high
        return out

    def tags(self) -> dict[str, str]:
        tags = {keys.SPLIT_TAG: self.split, keys.DOCUMENTS_TAG: keys.documents_digest(self.split, list(self.ids))}
        if self.shortfall:
            tags[keys.SHORTFALL_TAG] = self.shortfall
        return tags

    def summary(self) -> dict[str, Any]:
        """The `eval/rouge.json` object."""
        return {
            "split": self.split, "docs": self.documents, "docs_requested": self.requested,
            "split_size": self.available, "shortfall": self.shortfall,
            "documents": keys.documents_digest(self.split, list(self.ids)),
            "rouge": {m: {k: i.mean for k, i in by_key.items()} for m, by_key in self.intervals.items()},
            "intervals": {m: {k: [i.low, i.high] for k, i in by_key.items()} for m, by_key in self.intervals.items()},
            "confidence": CONFIDENCE, "resamples": self.resamples, "bootstrap_seed": self.seed,
            "baselines": {b.name: {"choice": b.choice, "train_rougeL": round(b.train_rougeL, 2),
                                   "chosen_on": "train"} for b in self.baselines},
            **self.extra,
        }

    def table(self) -> str:
        """Plain text: one line per model, ROUGE-1/2/L, the ROUGE-L interval and the document count."""
        return score_table({keys.LABELS.get(m, m): by_key for m, by_key in self.intervals.items()},
                           f"{self.documents} {self.split} documents")


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
                    baselines: Sequence[Baseline] = (), resamples: int = RESAMPLES, seed: int = SEED,
                    **extra: Any) -> Scorecard:
    """Intervals for every model and ROUGE key; every evaluation must cover the same documents."""
    if not evaluations:
        raise ValueError("nothing was evaluated")
    first = next(iter(evaluations.values()))
    for name, evaluation in evaluations.items():
        if evaluation.ids != first.ids:
            raise ValueError(f"{name} was scored on other documents than the others")
    intervals = {name: {key: bootstrap_interval([row[key] for row in evaluation.per_document], resamples,
                                                seed=seed)
                        for key in ROUGE_KEYS}
                 for name, evaluation in evaluations.items()}
    return Scorecard(split, requested, available, dict(evaluations), intervals, tuple(baselines), resamples,
                     seed, dict(extra))
