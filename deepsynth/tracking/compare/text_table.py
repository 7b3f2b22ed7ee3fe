"""Comparing evaluated runs as rows and a text table (`deepsynth compare`, the Compare page's export).

The first run is the reference. For each run: its split, document count, the task's primary
metric (ROUGE-L, CER, ANLS...) with a 95% bootstrap interval; for each other run: the difference to
the reference with a paired bootstrap interval (same documents, resampled together) and the
documents it wins, loses and ties, in the metric's direction. Runs evaluated on different documents
or ranked by another metric (another task) are refused: their means answer different questions.
"""

from __future__ import annotations

from typing import Any


def load_runs(run_ids: list[str], uri: str | None) -> tuple[list[Any], dict[str, Any]]:
    from deepsynth.errors import InputError
    from deepsynth.evaluation.keys import PREDICTIONS_FILE
    from deepsynth.tracking import queries
    from deepsynth.tracking.run_lookup import resolve_run

    runs, predictions = [], {}
    for ref in dict.fromkeys(run_ids):  # an id, a unique id prefix or a run name
        run = resolve_run(ref, uri)
        if run.run_id in predictions:
            continue  # the same run given twice (by id and by name)
        found = queries.run_predictions(run, uri)
        if found is None:
            raise InputError(f"run {ref!r} ({run.run_id}) has no {PREDICTIONS_FILE}: it was not evaluated "
                             f"(status {run.status}; eval_docs 0, or it stopped before evaluating)")
        runs.append(run)
        predictions[run.run_id] = found
    return runs, predictions


def check_same_metric(runs: list[Any]) -> None:
    """Refuse (InputError) unless every run is ranked by the reference run's metric: runs of
    different tasks are not compared on one metric."""
    from deepsynth.errors import InputError
    from deepsynth.tracking.compare.run_tables import metric_words, run_label, run_metric

    reference = runs[0]
    others = [run for run in runs[1:] if run_metric(run) != run_metric(reference)]
    if others:
        raise InputError("runs of different tasks are not compared on one metric: the reference run "
                         f"{run_label(reference)} is {metric_words(reference)}; "
                         + "; ".join(f"{run_label(run)} is {metric_words(run)}" for run in others)
                         + ". Compare each task's runs separately.")


def check_same_documents(runs: list[Any], predictions: dict[str, Any]) -> None:
    """Refuse (DocumentMismatch) unless every run scored exactly the reference run's documents."""
    from deepsynth.evaluation.keys import TUNED
    from deepsynth.evaluation.paired import check_same_documents as check
    from deepsynth.tracking.compare.run_tables import run_label

    reference = runs[0]
    for run in runs[1:]:
        check(predictions[reference.run_id].scores(TUNED), predictions[run.run_id].scores(TUNED),
              reference_name=f"reference run {run_label(reference)} ({_where(reference)})",
              candidate_name=f"run {run_label(run)} ({_where(run)})")


def _where(run: Any) -> str:
    from deepsynth.evaluation.keys import DOCS_METRIC, SPLIT_TAG

    docs = run.metrics.get(DOCS_METRIC)
    return f"{int(docs) if docs is not None else '?'} {run.tags.get(SPLIT_TAG, 'unknown split')} documents"


def _plain(value: Any) -> Any:
    """numpy scalars to Python, NaN to None, whole floats of counts to int (JSON and CSV read well)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def rows(comparison: Any) -> list[dict[str, Any]]:
    """One record per run: the compared metric (keys named by its short name: `rougeL`,
    `rougeL_low`..., `cer`...) and, for runs other than the reference, the paired difference."""
    from deepsynth.tracking.compare.run_tables import DELTA, SCORE

    metric = comparison.metric
    paired = comparison.paired.set_index("run_id")
    out = []
    for record in comparison.scores.to_dict("records"):
        row = {"run": record["run"], "run_id": record["run_id"], "split": record["split"], "docs": record["docs"],
               metric: record[SCORE], f"{metric}_low": record["low"], f"{metric}_high": record["high"],
               "reference": record["run_id"] == comparison.reference.run_id, "task": record["task"], "metric": metric}
        if record["run_id"] in paired.index:
            p = paired.loc[record["run_id"]]
            row.update({"delta": p[DELTA], "delta_low": p["low"], "delta_high": p["high"],
                        "wins": p["wins"], "losses": p["losses"], "ties": p["ties"], "verdict": p["verdict"]})
        plain = {k: _plain(v) for k, v in row.items()}
        for key in ("docs", "wins", "losses", "ties"):
            if isinstance(plain.get(key), float):
                plain[key] = int(plain[key])
        out.append(plain)
    return out


def text_table(comparison: Any) -> str:
    records = rows(comparison)
    metric = comparison.metric
    width = max(len(r["run"]) for r in records)
    score_header = f"{comparison.metric_label} [95% CI]"
    if comparison.direction == "lower":
        score_header += " (lower is better)"
    lines = [f"{'run':<{width}}  {'split':<10} {'docs':>4}  {score_header:<20} "
             f"{'delta vs ref [95% CI]':<22} {'win/loss/tie':<13} verdict"]
    for r in records:
        if r[metric] is None:
            score = "-"
        elif r[f"{metric}_low"] is None:
            score = f"{r[metric]:.1f}"
        else:
            score = f"{r[metric]:.1f} [{r[f'{metric}_low']:.1f}, {r[f'{metric}_high']:.1f}]"
        if r["reference"]:
            delta, counts, verdict = "(reference)", "", ""
        elif r["delta"] is None:
            delta, counts, verdict = "-", "", r["verdict"]
        else:
            delta = f"{r['delta']:+.1f} [{r['delta_low']:+.1f}, {r['delta_high']:+.1f}]"
            counts = f"{r['wins']}/{r['losses']}/{r['ties']}"
            verdict = r["verdict"]
        lines.append(f"{r['run']:<{width}}  {r['split'] or '?':<10} {r['docs'] or '?':>4}  {score:<20} "
                     f"{delta:<22} {counts:<13} {verdict}")
    reference_lines = comparison.reference_lines()
    if reference_lines:
        lines.append("")
        lines.append("on the same documents (reference run): " +
                     ", ".join(f"{name} {value:.1f}" for name, value in reference_lines.items()))
    return "\n".join(lines)
