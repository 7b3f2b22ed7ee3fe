"""Comparing training runs: the params that differ, final metrics, estimated vs measured memory.

Pure functions over `deepsynth.tracking.queries.RunSummary` objects (anything with `run_id`,
`run_name`, `status`, `params`, `metrics`, `tags`), returning pandas tables; no mlflow here, so the
Compare page and the CLI can share them and tests need no store.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

# Metrics worth a column in the comparison, in this order (docs/ARCHITECTURE.md, "Adapter on disk").
FINAL_METRICS = ("eval/rougeL", "eval/docs", "eval/rouge1", "eval/rouge2", "eval/base_rougeL",
                 *[f"eval/{name}" for name in ("cer", "wer", "anls", "exact_match", "field_f1", "json_valid", "chrf",
                                               "bleu")],
                 "train/loss", "train/samples_per_s", "train/tokens_per_s")
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
# ANLS...); "better", "best" and wins read that metric's direction (a lower CER is better). A
# comparison is in ONE metric, the reference run's: runs ranked by another (another task) get no
# score, no baseline and no verdict in it, and a note that says so.
SCORE, DELTA = "score", "delta"
"""Columns holding the compared metric and the paired difference (shown under the metric's label:
`ROUGE-L`, `CER`, `Δ CER`)."""
WIDE_INTERVAL_POINTS = 5.0
"""A score interval whose half-width exceeds this (in the metric's points) is named as wide."""
MIN_BOOTSTRAP_DOCS = 10
"""Below this many documents a bootstrap interval understates the uncertainty (resampling 3
documents can only reproduce those 3): such runs are named."""


def _score(run: Any, model: str, bound: str = "", metric: str | None = None) -> float | None:
    from deepsynth.evaluation.keys import metric_key

    return run.metrics.get(metric_key(model, metric or run_metric(run), bound))


def run_metric(run: Any) -> str:
    """The short name of the metric `run` is ranked by (`rougeL`, `cer`...)."""
    from deepsynth.evaluation.keys import primary_metric

    return primary_metric(run.tags)


def run_task(run: Any) -> str:
    """The run's task (`summarize` for a run that names none: every run before tasks existed)."""
    from deepsynth.evaluation.keys import TASK_TAG
    from deepsynth.evaluation.tasks import DEFAULT_TASK

    return run.tags.get(TASK_TAG) or DEFAULT_TASK


def metric_words(run: Any) -> str:
    """`a qa run ranked by ANLS`: what a run is scored by, in words."""
    from deepsynth.evaluation.metrics import label

    return f"a {run_task(run)} run ranked by {label(run_metric(run))}"


def secondary_metrics(metric: str) -> tuple[str, ...]:
    """The metrics logged beside `metric` by its family (rougeL: rouge1, rouge2; cer: wer; anls:
    exact_match...), shown as extra columns."""
    from deepsynth.evaluation.metrics import METRICS

    primary = METRICS.get(metric)
    if primary is None:
        return ()
    return tuple(m.name for m in METRICS.values() if m.family is primary.family and m.name != metric)


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


def baseline_columns(runs: Sequence[Any], metric: str) -> list[str]:
    """Labels of the base model and the baselines that at least one run logged in `metric`."""
    from deepsynth.evaluation.keys import ALL_BASELINES, BASE, LABELS

    return [LABELS[name] for name in (BASE, *ALL_BASELINES)
            if any(run_metric(r) == metric and _score(r, name, metric=metric) is not None for r in runs)]


def score_table(runs: Sequence[Any], predictions: Mapping[str, Any] | None = None, metric: str | None = None) -> Any:
    """One row per run: the split and document count next to the score (`SCORE`: `metric`, by
    default the first run's primary metric) and its 95% interval, the base model and each baseline
    someone logged, the best baseline and the tuned model's margin over it (with a paired interval
    when the run's per-document predictions are given: run_id -> RunPredictions), then the
    metric's siblings (ROUGE-1/2, WER...). A run ranked by another metric keeps its row with blank
    scores and a note. Blank (NaN) where a run did not log a value."""
    import pandas as pd

    from deepsynth.evaluation.keys import ALL_BASELINES, BASE, LABELS, SHORTFALL_TAG, SPLIT_TAG, TUNED
    from deepsynth.evaluation.metrics import direction, label
    from deepsynth.evaluation.paired import paired_comparison

    metric = metric or (run_metric(runs[0]) if runs else "rougeL")
    shown = baseline_columns(runs, metric)
    siblings = [name for name in secondary_metrics(metric) if any(f"eval/{name}" in r.metrics for r in runs)]
    rows = []
    for run in runs:
        same = run_metric(run) == metric
        best = best_baseline(run) if same else None
        notes = [run.tags.get(SHORTFALL_TAG, ""), run.error or ""]
        if not same:
            notes.insert(0, f"{metric_words(run)}: not compared on {label(metric)}")
        row: dict[str, Any] = {
            "run": run_label(run), "run_id": run.run_id, "status": run.status,
            "split": run.tags.get(SPLIT_TAG, ""), "docs": _docs(run),
            SCORE: _score(run, TUNED, metric=metric) if same else None,
            "low": _score(run, TUNED, "lo", metric) if same else None,
            "high": _score(run, TUNED, "hi", metric) if same else None,
            **{LABELS[name]: (_score(run, name, metric=metric) if same else None) for name in (BASE, *ALL_BASELINES)
               if LABELS[name] in shown},
            "best baseline": LABELS[best[0]] if best else "",
            "vs best baseline": None, "vs best low": None, "vs best high": None,
            **{label(name): (run.metrics.get(f"eval/{name}") if same else None) for name in siblings},
            "note": "; ".join(n for n in notes if n), "metric": run_metric(run), "task": run_task(run),
        }
        if best and row[SCORE] is not None:
            row["vs best baseline"] = row[SCORE] - best[1]
            found = (predictions or {}).get(run.run_id)
            if found is not None and best[0] in found.primary_scores and TUNED in found.primary_scores:
                paired = paired_comparison(found.scores(best[0]), found.scores(TUNED), direction=direction(metric))
                row.update({"vs best baseline": paired.delta, "vs best low": paired.low, "vs best high": paired.high})
        rows.append(row)
    numbers = [SCORE, "low", "high", *shown, "vs best baseline", "vs best low", "vs best high",
               *[label(n) for n in siblings]]
    columns = ["run", "run_id", "status", "split", "docs", SCORE, "low", "high", *shown, "best baseline",
               "vs best baseline", "vs best low", "vs best high", *[label(n) for n in siblings], "note", "metric",
               "task"]
    frame = pd.DataFrame(rows, columns=columns)
    frame[["docs", *numbers]] = frame[["docs", *numbers]].astype(float)  # None -> NaN: a blank cell, not "None"
    return frame


def _half_width(run: Any, metric: str) -> float | None:
    low, high = _score(run, "tuned", "lo", metric), _score(run, "tuned", "hi", metric)
    return None if low is None or high is None else (high - low) / 2


def comparability_notes(runs: Sequence[Any], metric: str | None = None) -> list[str]:
    """What a reader must know before comparing these runs' scores, one line per kind of problem
    (never one per run): other tasks or metrics, different documents, wide intervals (from the
    intervals measured), runs that got fewer documents than asked, no document count recorded."""
    from deepsynth.evaluation.keys import DOCUMENTS_TAG, SHORTFALL_TAG, SPLIT_TAG
    from deepsynth.evaluation.metrics import label

    metric = metric or (run_metric(runs[0]) if runs else "rougeL")
    notes = []
    by_metric: dict[tuple[str, str], list[str]] = {}
    for run in runs:
        if _score(run, "tuned") is not None:
            by_metric.setdefault((run_task(run), run_metric(run)), []).append(run_label(run))
    if len(by_metric) > 1:
        groups = "; ".join(f"{task} runs ranked by {label(name)} ({', '.join(labels)})"
                           for (task, name), labels in by_metric.items())
        notes.append(f"Runs of different tasks or metrics: {groups}. Each is scored by its own metric, so they are "
                     f"not compared on one: the tables and charts compare the runs ranked by {label(metric)} (the "
                     "reference run's); choose a reference run of another task to compare those.")
    scored = [run for run in runs if run_metric(run) == metric and _score(run, "tuned") is not None]
    unknown = [run_label(r) for r in scored if _docs(r) is None]
    if unknown:
        notes.append(f"No document count recorded for {', '.join(unknown)} (evaluated before DeepSynth logged it): "
                     "those scores cannot be weighed.")
    by_docs: dict[str, list[str]] = {}
    for run in scored:
        if _docs(run) is None:
            continue
        key = run.tags.get(DOCUMENTS_TAG) or f"{run.tags.get(SPLIT_TAG, '?')}:{_docs(run)}:?"
        by_docs.setdefault(key, []).append(run_label(run))
    if len(by_docs) > 1:
        groups = "; ".join(f"{len(labels)} on {key.split(':')[1]} {key.split(':')[0]} documents ({_names(labels)})"
                           for key, labels in by_docs.items())
        notes.append(f"Scored on different documents: {groups}. Scores on other documents are not comparable; "
                     "paired differences and baselines are shown only beside runs scored on the same documents.")
    wide = [(run, _half_width(run, metric)) for run in scored]
    wide = [(run, width) for run, width in wide if width is not None and width > WIDE_INTERVAL_POINTS]
    if wide:
        parts = [f"{run_label(run)} ±{width:.1f} on {_docs(run) if _docs(run) is not None else '?'} documents"
                 for run, width in sorted(wide, key=lambda item: -item[1])]
        notes.append(f"Wide intervals: {_names(parts)}. Two runs' separate scores closer than about that cannot be "
                     f"told apart; the paired differences (same documents) are narrower, and their verdict says "
                     "whether theirs excludes 0.")
    very_few = [f"{run_label(r)} ({_docs(r)})" for r in scored if _docs(r) is not None and _docs(r) < MIN_BOOTSTRAP_DOCS]
    if very_few:
        notes.append(f"Scored on very few documents: {_names(very_few)}. A bootstrap interval from under "
                     f"{MIN_BOOTSTRAP_DOCS} documents understates the uncertainty (it can only resample those few).")
    shortfalls: dict[str, list[str]] = {}
    for run in runs:
        if run.tags.get(SHORTFALL_TAG):
            shortfalls.setdefault(run.tags[SHORTFALL_TAG], []).append(run_label(run))
    for text, labels in shortfalls.items():
        who = f"{len(labels)} runs" if len(labels) > 1 else labels[0]
        notes.append(f"Fewer documents than asked: {who} {text.rstrip('.')}" + (f" ({_names(labels)})" if len(labels) > 1
                                                                            else "") + ".")
    return notes


def _names(labels: Sequence[str], limit: int = 4) -> str:
    """`a, b, c, d and 4 more`: a list that stays one line."""
    shown = list(labels[:limit])
    return ", ".join(shown) + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


def default_reference(runs: Sequence[Any]) -> Any:
    """The run the others are best measured against: among the runs scored on the documents most
    runs share (by the documents digest tag), the one with the best primary score (a control or
    an unevaluated run is rarely what a user wants the others measured against); the first such in
    `runs` on a tie or without scores."""
    from deepsynth.evaluation.keys import DOCUMENTS_TAG, TUNED
    from deepsynth.evaluation.metrics import direction

    digests = [run.tags.get(DOCUMENTS_TAG) for run in runs]
    counts = {d: digests.count(d) for d in digests if d}
    shared = max(counts.values(), default=0)
    group = [run for run in runs if counts.get(run.tags.get(DOCUMENTS_TAG), 0) == shared] if counts else list(runs)
    metric = run_metric(group[0])
    scored = [run for run in group if run_metric(run) == metric and _score(run, TUNED, metric=metric) is not None]
    if not scored:
        return group[0]
    sign = -1.0 if direction(metric) == "lower" else 1.0
    return max(scored, key=lambda run: sign * _score(run, TUNED, metric=metric))


def same_documents(run: Any, reference: Any) -> bool:
    """Both runs were scored on the same documents (equal digests; without digests: the same split
    and count)."""
    from deepsynth.evaluation.keys import DOCUMENTS_TAG, SPLIT_TAG

    mine, theirs = run.tags.get(DOCUMENTS_TAG), reference.tags.get(DOCUMENTS_TAG)
    if mine and theirs:
        return mine == theirs
    return (run.tags.get(SPLIT_TAG), _docs(run)) == (reference.tags.get(SPLIT_TAG), _docs(reference))


def paired_table(reference: Any, runs: Sequence[Any], predictions: Mapping[str, Any]) -> Any:
    """Each run against `reference` on the same documents: the difference in the reference run's
    metric (`DELTA`) with its paired 95% interval, wins / losses / ties, and a verdict; a run
    scored on other documents, by another metric or without predictions gets a note instead."""
    import pandas as pd

    from deepsynth.evaluation.keys import SPLIT_TAG, TUNED
    from deepsynth.evaluation.metrics import direction, label
    from deepsynth.evaluation.paired import DocumentMismatch, paired_comparison

    rows = []
    base = predictions.get(reference.run_id)
    metric = run_metric(reference)
    for run in runs:
        if run.run_id == reference.run_id:
            continue
        row: dict[str, Any] = {"run": run_label(run), "run_id": run.run_id, "docs": None, DELTA: None,
                               "low": None, "high": None, "wins": None, "losses": None, "ties": None, "verdict": ""}
        found = predictions.get(run.run_id)
        if run_metric(run) != metric:
            row["verdict"] = f"not comparable: {metric_words(run)}, the reference by {label(metric)}"
        elif base is None or found is None or TUNED not in found.primary_scores or TUNED not in base.primary_scores:
            missing = run_label(reference) if base is None else run_label(run)
            row["verdict"] = f"no per-document predictions for {missing}"
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
                row.update({"docs": paired.documents, DELTA: paired.delta, "low": paired.low,
                            "high": paired.high, "wins": paired.wins, "losses": paired.losses, "ties": paired.ties,
                            "verdict": paired.verdict})
        rows.append(row)
    frame = pd.DataFrame(rows, columns=["run", "run_id", "docs", DELTA, "low", "high", "wins", "losses", "ties",
                                        "verdict"])
    numbers = ["docs", DELTA, "low", "high", "wins", "losses", "ties"]
    frame[numbers] = frame[numbers].astype(float)  # None -> NaN: a blank cell, never the text "None"
    return frame


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


def primary_key(runs: Sequence[Any]) -> str:
    """`eval/<metric>` of the primary metric most of `runs` are ranked by (`eval/rougeL` for none)."""
    from collections import Counter

    counts = Counter(run_metric(run) for run in runs if f"eval/{run_metric(run)}" in run.metrics)
    return f"eval/{counts.most_common(1)[0][0] if counts else 'rougeL'}"


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
