"""The sweep's parent MLflow run: its definition at the start, its summary table at the end.

The parent run is tagged `deepsynth.sweep_parent=<id>` (the points carry `deepsynth.sweep=<id>`,
so a filter on that tag selects exactly the points); its params are the axes and the count, its
artifact `sweep/definition.json` the whole record. When the last point ends, `write_summary`
links every point to it (`mlflow.parentRunId`, so the MLflow UI nests them), logs
`sweep/summary.csv` and `.json` (one row per point: values, state, run, ROUGE-L with its interval
when logged, compression ratio), the counts as metrics, and closes it FINISHED.
"""

from __future__ import annotations

from typing import Any

from deepsynth.sweeps.record import FINISHED, SweepRecord, point_statuses, progress_counts

PARENT_TAG = "deepsynth.sweep_parent"
"""Tag of a sweep's parent run (its value: the sweep id)."""
PARENT_RUN_TAG = "mlflow.parentRunId"
"""MLflow's own nesting tag, set on each point's run."""
SUMMARY_METRICS = ("eval/rougeL", "eval/rougeL_lo", "eval/rougeL_hi", "eval/docs", "compression/ratio",
                   "compression/chars_per_page", "train/loss")


def trained_runs(runs: list[Any]) -> list[Any]:
    """`runs` without sweep parent runs (they hold a sweep's definition and summary, no adapter)."""
    return [run for run in runs if PARENT_TAG not in (getattr(run, "tags", None) or {})]


def _params(record: SweepRecord) -> dict[str, Any]:
    from deepsynth.sweeps.grid import LIST_JOIN

    def shown(value: Any) -> str:
        return LIST_JOIN.join(map(str, value)) if isinstance(value, list) else str(value)

    params = {f"sweep.axis.{axis['path']}": ",".join(shown(v) for v in axis["values"]) for axis in record.axes}
    params.update({"sweep.points": len(record.points), "sweep.random_draws": record.random_draws,
                   "sweep.seed": record.seed, "sweep.base_dataset": record.base.get("dataset", "")})
    return params


def create_parent(record: SweepRecord) -> str:
    """Start the parent run (left RUNNING while the points run); returns its id."""
    from deepsynth.tracking.store import RunLogger

    logger = RunLogger.start(record.base.get("experiment") or "deepsynth", f"sweep {record.sweep_id}",
                             params=_params(record), tags={PARENT_TAG: record.sweep_id},
                             uri=record.tracking_uri or None)
    logger.log_dict(record.__dict__, "sweep/definition.json")
    return logger.run_id


def reopen_parent(record: SweepRecord) -> None:
    """A resumed sweep's parent runs again until its summary is rewritten."""
    from deepsynth.tracking.store import RunLogger

    if record.parent_run_id:
        RunLogger.attach(record.parent_run_id, record.tracking_uri or None)


def summary_rows(record: SweepRecord, statuses: list[Any], metrics_by_run: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """One row per point: number, values, state, run id, then `SUMMARY_METRICS` (None if not logged)."""
    rows = []
    for status in statuses:
        metrics = metrics_by_run.get(status.run_id or "", {})
        row: dict[str, Any] = {"point": status.index + 1, **status.values, "state": status.state,
                               "run_id": status.run_id or ""}
        row.update({key: metrics.get(key) for key in SUMMARY_METRICS})
        rows.append(row)
    return rows


def write_summary(record: SweepRecord) -> list[dict[str, Any]]:
    """Link the points to the parent run, log the summary table and close the parent."""
    import csv
    import io

    from deepsynth.tracking import queries
    from deepsynth.tracking.store import FAILED, RunLogger

    uri = record.tracking_uri or None
    statuses = point_statuses(record)
    metrics_by_run = {}
    for status in statuses:
        if status.run_id:
            metrics_by_run[status.run_id] = queries.get_run(status.run_id, uri).metrics
            RunLogger(status.run_id, uri).set_tags({PARENT_RUN_TAG: record.parent_run_id})
    rows = summary_rows(record, statuses, metrics_by_run)
    counts = progress_counts(statuses)
    if record.parent_run_id:
        parent = RunLogger(record.parent_run_id, uri)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["point"])
        writer.writeheader()
        writer.writerows([{k: ("" if v is None else v) for k, v in row.items()} for row in rows])
        parent.log_text(buffer.getvalue(), "sweep/summary.csv")
        parent.log_dict({"sweep_id": record.sweep_id, "counts": counts, "rows": rows}, "sweep/summary.json")
        scores = [row["eval/rougeL"] for row in rows if row.get("eval/rougeL") is not None]
        parent.log_metrics({f"sweep/{state.lower()}": float(n) for state, n in counts.items()}
                           | ({"sweep/best_rougeL": max(scores)} if scores else {}), step=0)
        parent.finish("FINISHED" if counts[FINISHED] else FAILED)
    return rows
