"""One comparison of chosen runs against a reference run, as the Compare page, its export and
`deepsynth compare` all show it: scores with intervals and document counts, paired differences
against the reference, what makes scores incomparable, the per-document join, the charts.

Built from `RunSummary` objects and their per-document predictions (`queries.run_predictions`);
no mlflow and no streamlit here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from deepsynth.evaluation import per_document
from deepsynth.evaluation.keys import ALL_BASELINES, BASE, LABELS, SPLIT_TAG, metric_key
from deepsynth.evaluation.metrics import direction, label
from deepsynth.tracking.compare import run_tables
from deepsynth.tracking.compare.charts import run_colors, score_chart


@dataclass(frozen=True)
class RunComparison:
    """Chosen runs, one of them the reference, and every table about them."""

    runs: tuple[Any, ...]
    """The runs (`RunSummary`), in the order chosen."""
    reference: Any
    """The run the others are measured against."""
    predictions: dict[str, Any]
    """run id -> `RunPredictions` (None for a run that logged none)."""
    scores: Any
    """`run_tables.score_table`: one row per run."""
    paired: Any
    """`run_tables.paired_table`: every other run minus the reference, per document."""
    notes: tuple[str, ...]
    """Warnings a reader needs before trusting a difference."""
    colors: dict[str, str]
    """run id -> chart colour."""

    @property
    def labels(self) -> dict[str, str]:
        return {run.run_id: run_tables.run_label(run) for run in self.runs}

    @property
    def metric(self) -> str:
        """The reference run's primary metric (`rougeL`, `cer`...): what scores and deltas are in."""
        return run_tables.run_metric(self.reference)

    @property
    def metric_label(self) -> str:
        return label(self.metric)

    @property
    def direction(self) -> str:
        return direction(self.metric)

    def reference_lines(self) -> dict[str, float]:
        """The reference run's base model and baselines (label -> primary metric), scored on its documents."""
        return baselines_of(self.reference, self.metric)

    def reference_note(self) -> str:
        docs = self.scores.set_index("run_id").loc[self.reference.run_id, "docs"]
        split = self.reference.tags.get(SPLIT_TAG, "")
        if docs is None or docs != docs:
            return "reference run's base & baselines (documents not recorded)"
        return f"reference run's base & baselines ({int(docs)} {split} docs)".replace("  ", " ")

    @property
    def all_on_reference_documents(self) -> bool:
        """Every run scored in this metric was scored on the reference run's documents."""
        return all(run_tables.same_documents(run, self.reference) for run in self.runs
                   if run_tables.run_metric(run) == self.metric)

    def run_baselines(self) -> dict[str, dict[str, float]]:
        """run id -> its own base & baselines (label -> score), each scored on that run's documents."""
        return {run.run_id: baselines_of(run, self.metric) for run in self.runs
                if run_tables.run_metric(run) == self.metric}

    def score_figure(self) -> Any:
        """Scores with intervals; the baselines as lines across the chart when every run was scored
        on the reference run's documents, else as marks on each run's own row (from its documents)."""
        if self.all_on_reference_documents:
            return score_chart(self.scores, self.colors, self.reference_lines(), self.reference_note(),
                               self.metric_label, self.direction)
        return score_chart(self.scores, self.colors, {}, "base & baselines, each on its run's documents",
                           self.metric_label, self.direction, run_baselines=self.run_baselines())

    def tables(self) -> dict[str, Any]:
        """The tables as exported (CSV, HTML report): score columns under the metric's label
        (`ROUGE-L`, `CER`, `Δ CER`), the params that differ one row per run."""
        label = self.metric_label
        return {"scores": self.scores.rename(columns={run_tables.SCORE: label}),
                "paired": self.paired.rename(columns={run_tables.DELTA: f"Δ {label}"}),
                "params": run_tables.differing_params(self.runs).T.rename_axis("run").reset_index()}

    def documents(self, order: str = per_document.DISAGREEMENT,
                  extra_models: tuple[str, ...] = ()) -> per_document.DocumentTable | None:
        """The per-document join of the runs scored on the reference run's documents (None when the
        reference logged no predictions); `left_out` names the other runs."""
        labels = self.labels
        base = self.predictions.get(self.reference.run_id)
        if base is None:
            return None
        same = {labels[run_id]: p for run_id, p in self.predictions.items()
                if p is not None and set(p.ids) == set(base.ids)}
        joined = per_document.join_documents(same, labels[self.reference.run_id], extra_models=extra_models)
        left_out = {labels[run_id]: len(p.ids) for run_id, p in self.predictions.items()
                    if p is not None and labels[run_id] not in same}
        return dataclasses.replace(joined, table=per_document.sort_documents(joined.table, order), left_out=left_out)


def baselines_of(run: Any, metric: str) -> dict[str, float]:
    """The base model and baselines `run` scored (label -> mean `metric`), on its own documents."""
    lines = {}
    for model in (BASE, *ALL_BASELINES):
        value = run.metrics.get(metric_key(model, metric))
        if value is not None:
            lines[LABELS[model]] = value
    return lines


def compare_runs(runs: Sequence[Any], reference_id: str, predictions: Mapping[str, Any]) -> RunComparison:
    """The comparison of `runs` against the run with id `reference_id` (one of them)."""
    by_id = {run.run_id: run for run in runs}
    if reference_id not in by_id:
        raise ValueError(f"reference run {reference_id} is not among the runs compared")
    reference = by_id[reference_id]
    kept = {run.run_id: predictions.get(run.run_id) for run in runs}
    metric = run_tables.run_metric(reference)
    scores = run_tables.score_table(runs, kept, metric)
    paired = run_tables.paired_table(reference, runs, kept)
    notes = run_tables.comparability_notes(runs, metric)
    return RunComparison(tuple(runs), reference, kept, scores, paired, tuple(notes),
                         run_colors([run.run_id for run in runs]))
