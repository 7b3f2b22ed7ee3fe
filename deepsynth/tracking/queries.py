"""Reading runs back for the dashboard: experiments, runs with filters, params, metric histories.

Built for the Compare page: a table of 200 runs is one paged `search_runs` query, and the curves
of many runs for one metric are one SQL query (`get_metric_history_bulk` on the sqlalchemy store),
falling back to one request per run on other stores (an HTTP tracking server).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterable

from deepsynth.tracking.store import client_for, with_retry

TERMINAL_STATUSES = ("FINISHED", "FAILED", "KILLED")
RUN_STATUSES = ("RUNNING", "SCHEDULED", *TERMINAL_STATUSES)
PAGE_SIZE = 1000  # mlflow's search_runs page limit (SEARCH_MAX_RESULTS_DEFAULT)


@dataclass(frozen=True)
class ExperimentInfo:
    """One MLflow experiment."""

    experiment_id: str
    """MLflow's id for the experiment."""
    name: str
    """The experiment name (`--experiment`)."""
    artifact_location: str
    """Where its runs' artifacts live."""
    lifecycle_stage: str
    """`active` or `deleted`."""


@dataclass(frozen=True)
class RunSummary:
    """One run as the dashboard shows it."""

    run_id: str
    """MLflow run id."""
    experiment_id: str
    """Id of the experiment holding the run."""
    run_name: str
    """The run's display name."""
    status: str
    """RUNNING, FINISHED, FAILED, KILLED or SCHEDULED."""
    start_time: dt.datetime | None
    """When the run started (UTC)."""
    end_time: dt.datetime | None
    """When it ended (UTC); None while running."""
    artifact_uri: str
    """Root of the run's artifacts (`adapter/`, `eval/`, ...)."""
    params: dict[str, str] = field(default_factory=dict)
    """Flat params (`flat_params(TrainConfig)`)."""
    metrics: dict[str, float] = field(default_factory=dict)
    """Latest value of each metric."""
    tags: dict[str, str] = field(default_factory=dict)
    """Run tags (mlflow.* system tags included)."""

    @property
    def duration_s(self) -> float | None:
        if self.start_time is None:
            return None
        end = self.end_time or dt.datetime.now(dt.timezone.utc)
        return (end - self.start_time).total_seconds()

    @property
    def error(self) -> str | None:
        return self.tags.get("deepsynth.error")


def _time(ms: int | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc) if ms else None


def _summary(run: Any) -> RunSummary:
    info, data = run.info, run.data
    return RunSummary(
        run_id=info.run_id, experiment_id=info.experiment_id, run_name=info.run_name or "",
        status=info.status, start_time=_time(info.start_time), end_time=_time(info.end_time),
        artifact_uri=info.artifact_uri, params=dict(data.params), metrics=dict(data.metrics),
        tags=dict(data.tags))


def list_experiments(uri: str | None = None, include_deleted: bool = False) -> list[ExperimentInfo]:
    from mlflow.entities import ViewType

    client = client_for(uri)
    view = ViewType.ALL if include_deleted else ViewType.ACTIVE_ONLY
    experiments = with_retry(client.search_experiments, view_type=view, max_results=PAGE_SIZE)
    return [ExperimentInfo(e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage)
            for e in experiments]


def _quote(value: str) -> str:
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def params_filter(params: dict[str, Any]) -> str:
    """An mlflow filter string selecting runs whose params equal `params` (values quoted safely)."""
    return " and ".join(f"params.`{key}` = {_quote(value)}" for key, value in params.items())


def _experiment_ids(experiments: Iterable[str] | None, uri: str | None) -> list[str]:
    known = list_experiments(uri)
    if experiments is None:
        return [e.experiment_id for e in known]
    by_name = {e.name: e.experiment_id for e in known}
    by_id = {e.experiment_id for e in known}
    return [by_name.get(item, item) for item in experiments if item in by_name or item in by_id]


def list_runs(experiments: Iterable[str] | None = None, status: str | Iterable[str] | None = None,
              filter_string: str = "", order_by: Iterable[str] = ("attributes.start_time DESC",),
              max_results: int = 5000, uri: str | None = None) -> list[RunSummary]:
    """Runs of the given experiments (names or ids; all when None), newest first.

    `status` narrows to one or several statuses; `filter_string` is mlflow's search syntax
    (`metrics.\\`eval/rougeL\\` > 30`, or `params_filter({...})`)."""
    statuses = [status] if isinstance(status, str) else list(status or [])
    unknown = [s for s in statuses if s not in RUN_STATUSES]
    if unknown:
        raise ValueError(f"unknown run status {unknown}; choose from {', '.join(RUN_STATUSES)}")
    experiment_ids = _experiment_ids(experiments, uri)
    if not experiment_ids:
        return []
    clauses = [filter_string] if filter_string else []
    if len(statuses) == 1:
        clauses.append(f"attributes.status = {_quote(statuses[0])}")
    client = client_for(uri)
    runs: list[RunSummary] = []
    token = None
    while len(runs) < max_results:
        page = with_retry(client.search_runs, experiment_ids, " and ".join(clauses),
                          max_results=min(PAGE_SIZE, max_results - len(runs)),
                          order_by=list(order_by), page_token=token)
        runs.extend(_summary(run) for run in page if not statuses or run.info.status in statuses)
        token = page.token
        if not token:
            break
    return runs


def get_run(run_id: str, uri: str | None = None) -> RunSummary:
    return _summary(with_retry(client_for(uri).get_run, run_id))


def metric_keys(runs: Iterable[RunSummary], include_system: bool = False) -> list[str]:
    keys = {key for run in runs for key in run.metrics}
    return sorted(k for k in keys if include_system or not k.startswith("system/"))


def metric_histories(run_ids: Iterable[str], keys: Iterable[str], uri: str | None = None) -> "Any":
    """Every logged value of `keys` for `run_ids` as a DataFrame with columns
    `run_id, key, step, value, timestamp`, sorted by run, key, step."""
    import pandas as pd

    run_ids = list(dict.fromkeys(run_ids))
    client = client_for(uri)
    store = getattr(getattr(client, "_tracking_client", None), "store", None)
    rows: list[tuple[str, str, int, float, int]] = []
    for key in dict.fromkeys(keys):
        if hasattr(store, "get_metric_history_bulk"):  # sqlalchemy store: one query per key
            for start in range(0, len(run_ids), 500):  # stay below sqlite's bound-variable limit
                found = with_retry(store.get_metric_history_bulk, run_ids[start:start + 500], key,
                                   max_results=10_000_000)
                rows.extend((m.run_id, key, m.step, m.value, m.timestamp)
                            for m in found)
        else:
            for run_id in run_ids:
                rows.extend((run_id, key, m.step, m.value, m.timestamp)
                            for m in with_retry(client.get_metric_history, run_id, key))
    frame = pd.DataFrame(rows, columns=["run_id", "key", "step", "value", "timestamp"])
    return frame.sort_values(["run_id", "key", "step", "timestamp"], kind="stable").reset_index(drop=True)


def _local_artifact_file(artifact_uri: str | None, path: str) -> "Any":
    """The file behind `<artifact_uri>/<path>` when the artifacts are on this machine's disk."""
    from pathlib import Path
    from urllib.parse import unquote, urlparse

    if not artifact_uri:
        return None
    parsed = urlparse(artifact_uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path)) / path
    if not parsed.scheme and artifact_uri.startswith("/"):
        return Path(artifact_uri) / path
    return None


def run_artifact_text(run_id: str, path: str, uri: str | None = None, artifact_uri: str | None = None) -> str | None:
    """The text of artifact file `path` (e.g. `eval/predictions.csv`) of a run, or None when the run
    has no such file. Read straight from disk for a local store (~1 ms), else downloaded (~50 ms)."""
    import tempfile

    from mlflow.exceptions import MlflowException

    local = _local_artifact_file(artifact_uri, path)
    if local is not None:
        return local.read_text(encoding="utf-8") if local.is_file() else None
    client = client_for(uri)
    with tempfile.TemporaryDirectory(prefix="deepsynth-artifact-") as folder:
        try:
            downloaded = with_retry(client.download_artifacts, run_id, path, folder)
        except (MlflowException, OSError):
            return None
        with open(downloaded, encoding="utf-8") as handle:
            return handle.read()


def run_predictions(run: RunSummary, uri: str | None = None) -> "Any":
    """A run's per-document outputs (`deepsynth.evaluation.predictions.RunPredictions`), or None
    when the run logged no `eval/predictions.csv`."""
    from deepsynth.evaluation.keys import PREDICTIONS_FILE
    from deepsynth.evaluation.predictions import read_predictions_csv

    text = run_artifact_text(run.run_id, PREDICTIONS_FILE, uri, run.artifact_uri)
    return None if text is None else read_predictions_csv(text, f"run {run.run_id}: {PREDICTIONS_FILE}")


def run_rouge_summary(run: RunSummary, uri: str | None = None) -> dict[str, Any] | None:
    """A run's `eval/rouge.json` (split, documents, scores, intervals, baseline choices), or None."""
    import json

    from deepsynth.evaluation.keys import ROUGE_FILE

    text = run_artifact_text(run.run_id, ROUGE_FILE, uri, run.artifact_uri)
    return None if text is None else json.loads(text)
