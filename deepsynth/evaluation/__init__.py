"""Scoring summaries, independent of how they were produced (no torch, no mlflow): ROUGE per
document (`rouge`), confidence intervals (`bootstrap`), paired comparisons (`paired`), baselines
that need no training (`baselines`), what a run records (`scorecard`, `predictions`, `keys`) and
runs side by side per document (`per_document`)."""
