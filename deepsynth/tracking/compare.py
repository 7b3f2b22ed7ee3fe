"""Comparing training runs: the params that differ, final metrics, estimated vs measured memory.

Pure functions over `deepsynth.tracking.queries.RunSummary` objects (anything with `run_id`,
`run_name`, `status`, `params`, `metrics`, `tags`), returning pandas tables; no mlflow here, so the
Compare page and the CLI can share them and tests need no store.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

# Metrics worth a column in the comparison, in this order (docs/ARCHITECTURE.md, "Adapter on disk").
FINAL_METRICS = ("eval/rougeL", "eval/docs", "eval/rouge1", "eval/rouge2", "eval/base_rougeL", "train/loss",
                 "train/samples_per_s", "train/tokens_per_s")
ESTIMATED, MEASURED = "memory/estimated_bytes", "memory/measured_peak_bytes"
MISSING = ""


def run_label(run: Any) -> str:
    """A short unique column name: the run name (or "run") and the first 8 characters of its id."""
    return f"{run.run_name or 'run'} ({run.run_id[:8]})"


def differing_params(runs: Sequence[Any], ignore: Iterable[str] = ()) -> Any:
    """A DataFrame with one row per param whose value is not the same in every run (a param a run
    lacks counts as ""), one column per run; empty when the runs agree on everything."""
    import pandas as pd

    ignored = set(ignore)
    keys = sorted({key for run in runs for key in run.params} - ignored)
    rows = {}
    for key in keys:
        values = [str(run.params.get(key, MISSING)) for run in runs]
        if len(set(values)) > 1:
            rows[key] = values
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=[run_label(r) for r in runs])
    frame.index.name = "param"
    return frame


def final_metrics(runs: Sequence[Any], keys: Sequence[str] = FINAL_METRICS) -> Any:
    """One row per run: name, status, id, then the latest value of each metric in `keys` that at
    least one run has (a column of blanks says nothing)."""
    import pandas as pd

    present = [key for key in keys if any(key in run.metrics for run in runs)]
    rows = []
    for run in runs:
        row: dict[str, Any] = {"run": run_label(run), "status": run.status, "run_id": run.run_id}
        row.update({key: run.metrics.get(key) for key in present})
        rows.append(row)
    return pd.DataFrame(rows, columns=["run", "status", "run_id", *present])


def memory_comparison(runs: Sequence[Any]) -> Any:
    """Estimated vs measured peak training memory per run (bytes), with the estimate's error in
    percent of the measurement: (estimated - measured) / measured * 100."""
    import pandas as pd

    rows = []
    for run in runs:
        estimated, measured = run.metrics.get(ESTIMATED), run.metrics.get(MEASURED)
        error = None
        if estimated is not None and measured:
            error = (estimated - measured) / measured * 100.0
        rows.append({"run": run_label(run), "estimated_bytes": estimated, "measured_bytes": measured,
                     "error_percent": error})
    return pd.DataFrame(rows, columns=["run", "estimated_bytes", "measured_bytes", "error_percent"])


def _quote(value: str) -> str:
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def tags_filter(tags: Mapping[str, str]) -> str:
    """An MLflow search filter selecting runs whose tags equal `tags` (keys back-quoted, values
    quoted, so user text cannot change the query's shape)."""
    clauses = []
    for key, value in tags.items():
        if "`" in key:
            raise ValueError(f"tag name {key!r} may not contain a back-quote")
        clauses.append(f"tags.`{key}` = {_quote(value)}")
    return " and ".join(clauses)


def parse_tag_filter(text: str) -> dict[str, str]:
    """`key=value, key2=value2` -> dict; raises ValueError naming the piece without '='."""
    tags = {}
    for piece in (p.strip() for p in text.split(",")):
        if not piece:
            continue
        key, sep, value = piece.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{piece!r}: write tag filters as key=value, separated by commas")
        tags[key.strip()] = value.strip()
    return tags


# -- scores with their uncertainty ----------------------------------------------------------------
# A run's score is its primary metric (`keys.primary_metric`: ROUGE-L unless its task says CER,
# ANLS...); "better", "best" and wins read that metric's direction (a lower CER is better).
def _score(run: Any, model: str, bound: str = "") -> float | None:
    from deepsynth.evaluation.keys import metric_key, primary_metric

    return run.metrics.get(metric_key(model, primary_metric(run.tags), bound))


def run_metric(run: Any) -> str:
    """The short name of the metric `run` is ranked by (`rougeL`, `cer`...)."""
    from deepsynth.evaluation.keys import primary_metric

    return primary_metric(run.tags)


def _docs(run: Any) -> int | None:
    from deepsynth.evaluation.keys import DOCS_METRIC

    value = run.metrics.get(DOCS_METRIC)
    return int(value) if value is not None else None


def best_baseline(run: Any) -> tuple[str, float] | None:
    """(name, mean primary metric) of the run's best non-learned baseline (the lowest error rate
    for CER), or None if it logged none."""
    from deepsynth.evaluation.keys import ALL_BASELINES
    from deepsynth.evaluation.metric import best_of
    from deepsynth.evaluation.metrics import direction

    scored = {name: _score(run, name) for name in ALL_BASELINES if _score(run, name) is not None}
    if not scored:
        return None
    best = best_of(scored, direction(run_metric(run)))
    return best, scored[best]


def score_table(runs: Sequence[Any], predictions: Mapping[str, Any] | None = None) -> Any:
    """One row per run: the split and document count next to ROUGE-L and its 95% interval, the
    base model, every baseline, the best baseline and the tuned model's margin over it (with a
    paired interval when the run's per-document predictions are given: run_id -> RunPredictions).
    Blank where a run did not log it (runs evaluated before intervals were recorded)."""
    import pandas as pd

    from deepsynth.evaluation.baselines import BASELINE_NAMES
    from deepsynth.evaluation.keys import BASE, LABELS, SHORTFALL_TAG, SPLIT_TAG, TUNED
    from deepsynth.evaluation.metrics import direction
    from deepsynth.evaluation.paired import paired_comparison
    from deepsynth.evaluation.task_baselines import TASK_BASELINE_NAMES

    shown = [*BASELINE_NAMES, *[n for n in TASK_BASELINE_NAMES if any(_score(r, n) is not None for r in runs)]]
    rows = []
    for run in runs:
        best = best_baseline(run)
        row: dict[str, Any] = {
            "run": run_label(run), "run_id": run.run_id, "status": run.status,
            "split": run.tags.get(SPLIT_TAG, ""), "docs": _docs(run),
            "ROUGE-L": _score(run, TUNED), "low": _score(run, TUNED, "lo"), "high": _score(run, TUNED, "hi"),
            "base": _score(run, BASE),
            **{LABELS[name]: _score(run, name) for name in shown},
            "best baseline": LABELS[best[0]] if best else "",
            "vs best baseline": None, "vs best low": None, "vs best high": None,
            "ROUGE-1": run.metrics.get("eval/rouge1"), "ROUGE-2": run.metrics.get("eval/rouge2"),
            "note": run.tags.get(SHORTFALL_TAG, "") or (run.error or ""), "metric": run_metric(run),
        }
        if best and row["ROUGE-L"] is not None:
            row["vs best baseline"] = row["ROUGE-L"] - best[1]
            found = (predictions or {}).get(run.run_id)
            if found is not None and best[0] in found.primary_scores and TUNED in found.primary_scores:
                paired = paired_comparison(found.scores(best[0]), found.scores(TUNED),
                                           direction=direction(run_metric(run)))
                row.update({"vs best baseline": paired.delta, "vs best low": paired.low, "vs best high": paired.high})
        rows.append(row)
    columns = ["run", "run_id", "status", "split", "docs", "ROUGE-L", "low", "high", "base",
               *[LABELS[n] for n in shown], "best baseline", "vs best baseline", "vs best low",
               "vs best high", "ROUGE-1", "ROUGE-2", "note", "metric"]
    return pd.DataFrame(rows, columns=columns)


def comparability_notes(runs: Sequence[Any]) -> list[str]:
    """What a reader must know before comparing these runs' scores: different splits or documents,
    too few documents, a shortfall, no document count recorded."""
    from deepsynth.evaluation.keys import DOCUMENTS_TAG, SHORTFALL_TAG, SPLIT_TAG

    scored = [run for run in runs if _score(run, "tuned") is not None]
    notes = []
    unknown = [run_label(r) for r in scored if _docs(r) is None]
    if unknown:
        notes.append(f"{', '.join(unknown)}: no document count recorded (evaluated before DeepSynth logged "
                     "it): the score cannot be weighed.")
    by_docs: dict[str, list[str]] = {}
    for run in scored:
        if _docs(run) is None:
            continue
        key = run.tags.get(DOCUMENTS_TAG) or f"{run.tags.get(SPLIT_TAG, '?')}:{_docs(run)}:?"
        by_docs.setdefault(key, []).append(run_label(run))
    if len(by_docs) > 1:
        groups = "; ".join(f"{len(labels)} on {key.split(':')[1]} {key.split(':')[0]} documents ({', '.join(labels)})"
                           for key, labels in by_docs.items())
        notes.append(f"Scored on different documents: {groups}. Their scores are not comparable; "
                     "paired differences are shown only for runs on the reference run's documents.")
    few = [f"{run_label(r)} ({_docs(r)})" for r in scored if _docs(r) is not None and _docs(r) < SMALL_EVALUATION]
    if few:
        notes.append(f"Few documents: {', '.join(few)}. With under {SMALL_EVALUATION} documents an interval "
                     "is too wide to tell runs apart.")
    notes.extend(f"{run_label(r)}: {r.tags[SHORTFALL_TAG]}." for r in runs if r.tags.get(SHORTFALL_TAG))
    by_metric: dict[str, list[str]] = {}
    for run in scored:
        by_metric.setdefault(run_metric(run), []).append(run_label(run))
    if len(by_metric) > 1:
        notes.append("Ranked by different metrics: " + "; ".join(f"{metric} ({', '.join(labels)})"
                                                            for metric, labels in by_metric.items())
                     + ". Their scores are not comparable.")
    return notes


def default_reference(runs: Sequence[Any]) -> Any:
    """The run most of the others can be compared with: among the evaluated runs, one scored on the
    documents most runs share (by the documents digest tag); the first such in `runs`."""
    from deepsynth.evaluation.keys import DOCUMENTS_TAG

    digests = [run.tags.get(DOCUMENTS_TAG) for run in runs]
    counts = {d: digests.count(d) for d in digests if d}
    if not counts:
        return runs[0]
    return max(runs, key=lambda run: counts.get(run.tags.get(DOCUMENTS_TAG), 0))


SMALL_EVALUATION = 30
"""Below this many documents the Compare page warns that the scores are too noisy to compare."""


def paired_table(reference: Any, runs: Sequence[Any], predictions: Mapping[str, Any]) -> Any:
    """Each run against `reference` on the same documents: ROUGE-L difference with its paired 95%
    interval, wins / losses / ties, and a verdict; a run scored on other documents (or without
    predictions) gets a note instead of numbers."""
    import pandas as pd

    from deepsynth.evaluation.keys import SPLIT_TAG, TUNED
    from deepsynth.evaluation.metrics import direction
    from deepsynth.evaluation.paired import DocumentMismatch, paired_comparison

    rows = []
    base = predictions.get(reference.run_id)
    metric = run_metric(reference)
    for run in runs:
        if run.run_id == reference.run_id:
            continue
        row: dict[str, Any] = {"run": run_label(run), "run_id": run.run_id, "docs": None, "delta ROUGE-L": None,
                               "low": None, "high": None, "wins": None, "losses": None, "ties": None, "verdict": ""}
        found = predictions.get(run.run_id)
        if base is None or found is None or TUNED not in found.primary_scores or TUNED not in base.primary_scores:
            missing = run_label(reference) if base is None else run_label(run)
            row["verdict"] = f"no per-document predictions for {missing}"
        elif run_metric(run) != metric:
            row["verdict"] = f"not comparable: scored by {run_metric(run)}, the reference by {metric}"
        else:
            try:
                paired = paired_comparison(base.scores(TUNED), found.scores(TUNED),
                                           reference_name=run_label(reference), candidate_name=run_label(run),
                                           direction=direction(metric))
            except DocumentMismatch:
                common = len(set(base.ids) & set(found.ids))
                row["verdict"] = (f"not comparable: other documents ({len(found.ids)} {run.tags.get(SPLIT_TAG, '')} "
                                  f"vs {len(base.ids)} {reference.tags.get(SPLIT_TAG, '')}, {common} shared)"
                                  ).replace("  ", " ")
            else:
                row.update({"docs": paired.documents, "delta ROUGE-L": paired.delta, "low": paired.low,
                            "high": paired.high, "wins": paired.wins, "losses": paired.losses, "ties": paired.ties,
                            "verdict": paired.verdict})
        rows.append(row)
    return pd.DataFrame(rows, columns=["run", "run_id", "docs", "delta ROUGE-L", "low", "high", "wins", "losses",
                                       "ties", "verdict"])


# -- many runs: sweeps ------------------------------------------------------------------------------
SWEEP_MIN_RUNS = 10
"""From this many runs on, the Compare page offers the sweep views (parallel coordinates, groups)."""
SWEEP_TAG = "deepsynth.sweep"
"""Tag naming the sweep a run belongs to (set by the sweep launcher); the default grouping."""


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def sweep_frame(runs: Sequence[Any], metric: str, max_params: int = 8) -> Any:
    """One row per run that logged `metric`: run, run_id, the params that differ (numbers where
    every value is one; text params whose every value is distinct, like a run name or an output
    folder, are left out: they say nothing across runs), then `metric`."""
    import pandas as pd

    scored = [run for run in runs if metric in run.metrics]
    differing = differing_params(scored)
    columns: dict[str, list[Any]] = {}
    for param, values in differing.iterrows():
        values = list(values)
        numbers = [_number(v) for v in values]
        if all(n is not None for n in numbers):
            columns[param] = numbers
        elif len(set(values)) < len(values):
            columns[param] = values
    kept = sorted(columns, key=lambda p: -len(set(map(str, columns[p]))))[:max_params]
    frame = pd.DataFrame({"run": [run_label(r) for r in scored], "run_id": [r.run_id for r in scored],
                          **{p: columns[p] for p in sorted(kept)}})
    frame[metric] = [run.metrics[metric] for run in scored]
    return frame


def tag_keys(runs: Sequence[Any]) -> list[str]:
    """Tags worth grouping by (system tags out): the sweep tag, and tags with at least two values
    shared by several runs; the sweep tag first."""
    values: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for run in runs:
        for key, value in run.tags.items():
            if key.startswith("mlflow."):
                continue
            values.setdefault(key, set()).add(value)
            counts[key] = counts.get(key, 0) + 1
    # a tag with one value says nothing; one with a different value on every run groups nothing
    keys = [k for k in values if k == SWEEP_TAG or (1 < len(values[k]) < counts[k] and len(values[k]) <= 50)]
    return sorted(keys, key=lambda k: (k != SWEEP_TAG, k))


def group_frame(runs: Sequence[Any], tag: str, metric: str) -> Any:
    """One row per run that logged `metric`: run, the run's value of tag `tag` ("(none)" if unset), metric."""
    import pandas as pd

    scored = [run for run in runs if metric in run.metrics]
    return pd.DataFrame({"run": [run_label(r) for r in scored], tag: [r.tags.get(tag, "(none)") for r in scored],
                         metric: [r.metrics[metric] for r in scored]})


def group_summary(frame: Any, tag: str, metric: str) -> Any:
    """Per value of `tag`: runs, mean, best and worst `metric` (lowest is best for an error rate,
    `keys.direction_of_key`), and the best run; best groups first."""
    from deepsynth.evaluation.keys import direction_of_key

    higher = direction_of_key(metric) == "higher"
    grouped = frame.groupby(tag, sort=True)
    summary = grouped[metric].agg(runs="count", mean="mean", best="max" if higher else "min",
                                  worst="min" if higher else "max").reset_index()
    best_index = grouped[metric].idxmax() if higher else grouped[metric].idxmin()
    best_runs = frame.loc[best_index, [tag, "run"]].rename(columns={"run": "best run"})
    return summary.merge(best_runs, on=tag).sort_values("best", ascending=not higher, kind="stable")
