"""Comparing training runs: the params that differ, final metrics, estimated vs measured memory.

Pure functions over `deepsynth.tracking.queries.RunSummary` objects (anything with `run_id`,
`run_name`, `status`, `params`, `metrics`, `tags`), returning pandas tables; no mlflow here, so the
Compare page and the CLI can share them and tests need no store.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

# Metrics worth a column in the comparison, in this order (docs/ARCHITECTURE.md, "Adapter on disk").
FINAL_METRICS = ("eval/rougeL", "eval/rouge1", "eval/rouge2", "eval/base_rougeL", "train/loss",
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
