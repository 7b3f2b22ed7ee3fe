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
from deepsynth.tracking import compare
from deepsynth.tracking.compare_charts import run_colors, score_chart


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
    """`compare.score_table`: one row per run."""
    paired: Any
    """`compare.paired_table`: every other run minus the reference, per document."""
    notes: tuple[str, ...]
    """Warnings a reader needs before trusting a difference."""
    colors: dict[str, str]
    """run id -> chart colour."""

    @property
    def labels(self) -> dict[str, str]:
        return {run.run_id: compare.run_label(run) for run in self.runs}

    @property
    def metric(self) -> str:
        """The reference run's primary metric (`rougeL`, `cer`...): what scores and deltas are in."""
        return compare.run_metric(self.reference)

    @property
    def metric_label(self) -> str:
        return label(self.metric)

    @property
    def direction(self) -> str:
        return direction(self.metric)

    def reference_lines(self) -> dict[str, float]:
        """The reference run's base model and baselines (label -> primary metric), scored on its documents."""
        lines = {}
        for model in (BASE, *ALL_BASELINES):
            value = self.reference.metrics.get(metric_key(model, self.metric))
            if value is not None:
                lines[LABELS[model]] = value
        return lines

    def reference_note(self) -> str:
        docs = self.scores.set_index("run_id").loc[self.reference.run_id, "docs"]
        split = self.reference.tags.get(SPLIT_TAG, "")
        if docs is None or docs != docs:
            return "reference run's base & baselines (documents not recorded)"
        return f"reference run's base & baselines ({int(docs)} {split} docs)".replace("  ", " ")

    def score_figure(self) -> Any:
        return score_chart(self.scores, self.colors, self.reference_lines(), self.reference_note(),
                           self.metric_label, self.direction)

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


def compare_runs(runs: Sequence[Any], reference_id: str, predictions: Mapping[str, Any]) -> RunComparison:
    """The comparison of `runs` against the run with id `reference_id` (one of them)."""
    by_id = {run.run_id: run for run in runs}
    if reference_id not in by_id:
        raise ValueError(f"reference run {reference_id} is not among the runs compared")
    reference = by_id[reference_id]
    kept = {run.run_id: predictions.get(run.run_id) for run in runs}
    scores = compare.score_table(runs, kept)
    paired = compare.paired_table(reference, runs, kept)
    notes = compare.comparability_notes(runs)
    return RunComparison(tuple(runs), reference, kept, scores, paired, tuple(notes),
                         run_colors([run.run_id for run in runs]))
