"""Recording a training run in MLflow: params, step metrics, system metrics, the dataset, artifacts.

The training worker talks to `RunLogger` only; this module (with `queries` and `registry`) is the
only place that imports mlflow. Decisions:
- The default store is the workspace's sqlite database (`deepsynth.paths.default_tracking_uri()`);
  for any sqlite database the experiment's artifacts go to `mlruns/` beside the database file, so a
  project folder holds everything (mlflow would otherwise use `./mlruns` of whatever cwd).
- Several jobs may write one sqlite file at once; sqlite then answers "database is locked". Every
  write goes through `with_retry` (exponential backoff) so no metric is lost.
- Step metrics are buffered and written in one `log_batch` every `flush_interval_s`: one sqlite
  transaction per step would cost more than a tiny model's step (see bench/train_throughput.py).
  The worker flushes before each checkpoint, so a kill loses nothing that resume will not redo.
- Adapters are logged as plain artifact folders, never with `mlflow.transformers.log_model` (with a
  local base it reloads with re-initialised attention weights: docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, TypeVar
from urllib.parse import unquote

from mlflow.entities import Dataset as DatasetEntity
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from deepsynth import paths

_logger = logging.getLogger(__name__)
T = TypeVar("T")

LOCKED_MESSAGES = ("database is locked", "database table is locked", "database schema is locked")
MAX_PARAM_LENGTH = 6000  # mlflow.utils.validation.MAX_PARAM_VAL_LENGTH
MAX_TAG_LENGTH = 8000
PARAMS_PER_BATCH = 100  # MAX_PARAMS_TAGS_PER_BATCH
METRICS_PER_BATCH = 1000  # MAX_METRICS_PER_BATCH

ERROR_TAG = "deepsynth.error"
"""Why a run FAILED (only while it is FAILED: a resume moves it into the history)."""
STOP_TAG = "deepsynth.stopped"
"""Why a run was stopped on request (KILLED: cancelled); not an error."""
HISTORY_TAG = "deepsynth.history"
"""JSON list of what happened to a run before it was resumed: `{"event": "stopped" | "failed" |
"resumed", "step", "reason", "at"}` (neutral information; the run's status says how it ended)."""
RUN_DIR_TAG = "deepsynth.run_dir"
FINISHED, FAILED, KILLED, RUNNING = "FINISHED", "FAILED", "KILLED", "RUNNING"


def is_locked_error(error: BaseException) -> bool:
    text = str(error).lower()
    return any(message in text for message in LOCKED_MESSAGES)


def with_retry(call: Callable[..., T], *args: Any, attempts: int = 10, first_delay_s: float = 0.05,
               **kwargs: Any) -> T:
    """Run a store call, retrying with jittered exponential backoff while sqlite is locked.

    10 attempts from 50 ms doubling (capped at 5 s) wait up to ~25 s in all, on top of sqlite's own
    5 s busy timeout per attempt: long enough for another job's checkpoint-time flush."""
    delay = first_delay_s
    for attempt in range(attempts):
        try:
            return call(*args, **kwargs)
        except Exception as error:  # sqlalchemy/mlflow wrap the sqlite error differently by call
            if not is_locked_error(error) or attempt == attempts - 1:
                raise
            _logger.info("tracking store locked, retry %d/%d in %.2fs", attempt + 1, attempts, delay)
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")


def resolve_tracking_uri(uri: str | None = None) -> str:
    """The given URI, else `MLFLOW_TRACKING_URI`, else the workspace's sqlite database."""
    return uri or paths.default_tracking_uri()


def artifact_root_for(uri: str) -> str | None:
    """Where a new experiment keeps artifacts: `mlruns/` beside a sqlite file, else the server's."""
    if uri == paths.default_tracking_uri() and uri.startswith("sqlite:"):
        return paths.default_artifact_root()
    if uri.startswith("sqlite:///"):
        database = Path(unquote(uri.removeprefix("sqlite:///").split("?")[0]))
        return (database.parent / "mlruns").resolve().as_uri()
    return None


@lru_cache(maxsize=8)
def client_for(uri: str | None = None) -> MlflowClient:
    """One client per store (mlflow caches the sqlalchemy engine per URI behind it)."""
    resolved = resolve_tracking_uri(uri)
    return MlflowClient(tracking_uri=resolved, registry_uri=resolved)


def ensure_experiment(name: str, uri: str | None = None) -> str:
    """The id of experiment `name`, creating it (race-safe between two jobs) if needed."""
    client = client_for(uri)
    existing = with_retry(client.get_experiment_by_name, name)
    if existing is not None:
        if existing.lifecycle_stage == "deleted":
            with_retry(client.restore_experiment, existing.experiment_id)
        return existing.experiment_id
    try:
        return with_retry(client.create_experiment, name,
                          artifact_location=artifact_root_for(resolve_tracking_uri(uri)))
    except MlflowException as error:
        if "already exists" not in str(error).lower():
            raise
        return with_retry(client.get_experiment_by_name, name).experiment_id  # the other job won


def _truncate(value: Any, limit: int) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class RunLogger:
    """Everything the worker records about one MLflow run."""

    def __init__(self, run_id: str, uri: str | None = None, flush_interval_s: float = 2.0) -> None:
        self.uri = resolve_tracking_uri(uri)
        self.client = client_for(self.uri)
        self.run_id = run_id
        self.flush_interval_s = flush_interval_s
        self._pending: list[Metric] = []
        self._last_flush = time.monotonic()
        self._system_monitor = None
        # periodic metric writes run on a background thread so a training step never waits for
        # the database (a sqlite write took ~0.2 s, 12% of a tiny model's training time)
        self._writer: threading.Thread | None = None
        self._writer_error: BaseException | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    @classmethod
    def start(cls, experiment: str, run_name: str = "", params: dict[str, Any] | None = None,
              tags: dict[str, str] | None = None, uri: str | None = None) -> "RunLogger":
        experiment_id = ensure_experiment(experiment, uri)
        client = client_for(uri)
        run = with_retry(client.create_run, experiment_id, run_name=run_name or None,
                         tags={k: _truncate(v, MAX_TAG_LENGTH) for k, v in (tags or {}).items()})
        logger = cls(run.info.run_id, uri)
        if params:
            logger.log_params(params)
        return logger

    @classmethod
    def attach(cls, run_id: str, uri: str | None = None) -> "RunLogger":
        """Continue an existing run (resume): it goes back to RUNNING, its metric history is kept,
        and why it stopped (the error or stop tag) moves into `HISTORY_TAG`, so a resumed run
        that then finishes is FINISHED with no error left on it in any view."""
        logger = cls(run_id, uri)
        run = with_retry(logger.client.get_run, run_id)
        tags = dict(run.data.tags)
        events = read_history(tags)
        if run.info.status in (FAILED, KILLED):
            events.append({"event": "failed" if run.info.status == FAILED else "stopped",
                           "step": _last_step(logger.client, run_id),
                           "reason": _truncate(tags.get(ERROR_TAG) or tags.get(STOP_TAG) or "", 300),
                           "at": _iso(run.info.end_time)})
        events.append({"event": "resumed", "at": _iso(int(time.time() * 1000))})
        logger.set_tags({HISTORY_TAG: json.dumps(events[-HISTORY_EVENTS:])})
        for stale in (ERROR_TAG, STOP_TAG):
            if stale in tags:
                with_retry(logger.client.delete_tag, run_id, stale)
        with_retry(logger.client.update_run, run_id, status=RUNNING)
        return logger

    def finish(self, status: str = FINISHED, error: str | None = None) -> None:
        """Flush, stop system metrics, record why it ended (if it did not finish) and close the
        run with `status`: the reason of a FAILED run is its error (`ERROR_TAG`), that of a
        KILLED one (a cancel) a stop reason (`STOP_TAG`), which no view shows as a failure."""
        try:
            self.flush()
        finally:
            self.stop_system_metrics()
            if error and status != FINISHED:
                self.set_tags({reason_tag(status): error})
            with_retry(self.client.set_terminated, self.run_id, status=status)

    # -- params, tags, metrics -------------------------------------------------------------------
    def log_params(self, params: dict[str, Any]) -> None:
        items = [Param(key, _truncate("" if value is None else value, MAX_PARAM_LENGTH))
                 for key, value in params.items()]
        for start in range(0, len(items), PARAMS_PER_BATCH):
            with_retry(self.client.log_batch, self.run_id, params=items[start:start + PARAMS_PER_BATCH])

    def set_tags(self, tags: dict[str, Any]) -> None:
        items = [RunTag(key, _truncate(value, MAX_TAG_LENGTH)) for key, value in tags.items()]
        with_retry(self.client.log_batch, self.run_id, tags=items)

    def log_metrics(self, metrics: dict[str, float], step: int, flush: bool = False) -> None:
        """Buffer numeric metrics at `step` (timestamped now); written every `flush_interval_s` by a
        background thread (`flush()` writes and waits; `finish()` flushes)."""
        self._raise_writer_error()  # a failed background write fails the caller's next step
        now_ms = int(time.time() * 1000)
        self._pending.extend(Metric(key, float(value), now_ms, int(step)) for key, value in metrics.items())
        if flush or self.flush_interval_s <= 0:  # interval 0: write-through, as before
            self.flush()
        elif time.monotonic() - self._last_flush >= self.flush_interval_s:
            self._write_in_background()

    def flush(self) -> None:
        """Write every buffered metric now and wait for it (before a checkpoint, at the end):
        after `flush` returns, the store holds every metric logged so far."""
        self._wait_for_writer()
        pending, self._pending = self._pending, []
        self._last_flush = time.monotonic()
        self._write_metrics(pending)

    def _write_in_background(self) -> None:
        self._raise_writer_error()
        if self._writer is not None and self._writer.is_alive():
            return  # the previous batch is still being written: these go with the next one
        pending, self._pending = self._pending, []
        self._last_flush = time.monotonic()
        self._writer = threading.Thread(target=self._write_recording_errors, args=(pending,),
                                        name="deepsynth-metrics", daemon=True)
        self._writer.start()

    def _write_recording_errors(self, pending: list[Metric]) -> None:
        try:
            self._write_metrics(pending)
        except BaseException as error:  # handed to the training thread at its next log or flush
            self._writer_error = error

    def _wait_for_writer(self) -> None:
        if self._writer is not None:
            self._writer.join()
            self._writer = None
        self._raise_writer_error()

    def _raise_writer_error(self) -> None:
        error, self._writer_error = self._writer_error, None
        if error is not None:
            raise error

    def _write_metrics(self, pending: list[Metric]) -> None:
        for start in range(0, len(pending), METRICS_PER_BATCH):
            with_retry(self.client.log_batch, self.run_id, metrics=pending[start:start + METRICS_PER_BATCH])

    # -- system metrics (mlflow's own sampler thread: cpu, memory, disk, network, gpu) -------------
    def start_system_metrics(self, resume: bool = False, sampling_interval_s: float = 10.0) -> None:
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        self._system_monitor = SystemMetricsMonitor(
            self.run_id, sampling_interval=sampling_interval_s, resume_logging=resume,
            tracking_uri=self.uri)
        self._system_monitor.start()

    def stop_system_metrics(self) -> None:
        if self._system_monitor is not None:
            self._system_monitor.finish()
            self._system_monitor = None

    # -- inputs and artifacts --------------------------------------------------------------------
    def log_dataset(self, name: str, path: str | Path, digest: str, profile: dict[str, Any],
                    context: str = "train", schema: dict[str, Any] | None = None) -> None:
        """Record the dataset as a run input (what `mlflow.log_input` does), render settings in
        its profile so the Compare page can tell runs on differently rendered pages apart."""
        entity = DatasetEntity(
            name=name, digest=digest[:36], source_type="local",
            source=json.dumps({"uri": Path(path).resolve().as_uri()}),
            schema=json.dumps(schema) if schema else None,
            profile=json.dumps(profile, default=str))
        inputs = [DatasetInput(entity, tags=[InputTag("mlflow.data.context", context)])]
        with_retry(self.client.log_inputs, self.run_id, datasets=inputs)

    def log_artifacts(self, local_dir: str | Path, artifact_path: str | None = None) -> None:
        with_retry(self.client.log_artifacts, self.run_id, str(local_dir), artifact_path)

    def log_artifact(self, local_file: str | Path, artifact_path: str | None = None) -> None:
        with_retry(self.client.log_artifact, self.run_id, str(local_file), artifact_path)

    def log_dict(self, data: dict[str, Any], artifact_file: str) -> None:
        with_retry(self.client.log_dict, self.run_id, data, artifact_file)

    def log_text(self, text: str, artifact_file: str) -> None:
        with_retry(self.client.log_text, self.run_id, text, artifact_file)

    def artifact_uri(self) -> str:
        return with_retry(self.client.get_run, self.run_id).info.artifact_uri


# -- why a run ended, and what happened before a resume ---------------------------------------------
HISTORY_EVENTS = 40  # a tag holds at most 8000 characters: keep the latest events


def reason_tag(status: str) -> str:
    """The tag holding why a run ended with `status`: a failure's error, or a cancel's reason."""
    return STOP_TAG if status == KILLED else ERROR_TAG


def read_history(tags: dict[str, str]) -> list[dict[str, Any]]:
    """The events of `HISTORY_TAG` (oldest first); [] when there are none or the tag is unreadable."""
    try:
        events = json.loads(tags.get(HISTORY_TAG) or "[]")
    except json.JSONDecodeError:
        return []
    return [event for event in events if isinstance(event, dict)] if isinstance(events, list) else []


def describe_event(event: dict[str, Any]) -> str:
    """One history event for people: `stopped at step 5 (cancelled by SIGTERM) · 2026-11-28 17:40`."""
    when = str(event.get("at", ""))[:16].replace("T", " ")
    step = event.get("step")
    kind = {"stopped": "cancelled", "failed": "failed", "resumed": "resumed"}.get(event.get("event"), str(event.get("event")))
    text = kind + (f" at step {step}" if step is not None and kind != "resumed" else "")
    reason = str(event.get("reason") or "")
    if reason and kind == "failed":
        text += f" ({reason})"
    return f"{text} · {when}" if when else text


def _last_step(client: MlflowClient, run_id: str) -> int | None:
    """The last training step the run logged (where it stopped), None if it logged none."""
    try:
        history = with_retry(client.get_metric_history, run_id, "train/loss")
    except MlflowException:
        return None
    return max((metric.step for metric in history), default=None)


def _iso(ms: int | None) -> str:
    seconds = (ms or 0) / 1000 or time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(seconds))


# -- run-level helpers used by the worker and the job layer -----------------------------------------
def run_status(run_id: str, uri: str | None = None) -> str:
    return with_retry(client_for(uri).get_run, run_id).info.status


def run_tags(run_id: str, uri: str | None = None) -> dict[str, str]:
    return dict(with_retry(client_for(uri).get_run, run_id).data.tags)


def run_metric(run_id: str, key: str, uri: str | None = None) -> float | None:
    return with_retry(client_for(uri).get_run, run_id).data.metrics.get(key)


def terminate_if_running(run_id: str, status: str, error: str | None = None,
                         uri: str | None = None) -> bool:
    """Close a run that its (dead) worker left RUNNING; returns whether it changed anything."""
    if status not in (FINISHED, FAILED, KILLED):
        raise ValueError(f"not a terminal run status: {status!r}")
    if run_status(run_id, uri) != RUNNING:
        return False
    logger = RunLogger(run_id, uri)
    if error and status != FINISHED:
        logger.set_tags({reason_tag(status): error})
    with_retry(logger.client.set_terminated, run_id, status=status)
    return True


def download_artifacts(run_id: str, artifact_path: str, dst: str | Path, uri: str | None = None) -> Path:
    return Path(with_retry(client_for(uri).download_artifacts, run_id, artifact_path, str(dst)))


__all__ = [
    "RunLogger", "with_retry", "is_locked_error", "ensure_experiment", "client_for", "run_status",
    "run_tags", "run_metric", "terminate_if_running", "download_artifacts", "resolve_tracking_uri",
    "artifact_root_for", "FINISHED", "FAILED", "KILLED", "RUNNING", "ERROR_TAG", "STOP_TAG", "HISTORY_TAG",
    "RUN_DIR_TAG", "read_history", "reason_tag", "describe_event",
]
