"""Scoring model outputs, independent of how they were produced (no torch, no mlflow).

What a score is: `metric` (a short name, a direction, per-document scores, a corpus aggregate);
the registry of metrics by name (`metrics`), one module per family (`rouge`, `error_rates`,
`answers`, `fields`, `translation`); which metrics each task logs and ranks by (`tasks`).
How sure and how different: confidence intervals (`bootstrap`), paired comparisons that read the
direction (`paired`). Baselines that need no training (`baselines` for summaries,
`task_baselines` for the other tasks). What a run records (`scorecard`, `predictions`, `keys`)
and runs side by side per document (`per_document`)."""
