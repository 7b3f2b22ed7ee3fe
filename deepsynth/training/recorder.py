"""Where a training run's record goes: its MLflow run and, under a job, the job's report.json.

The worker says what happened once (`recorder.step_done(...)`, `recorder.finished()`) instead of
talking to MLflow and to the job report separately and checking its rank each time: on ranks
other than 0 of a data-parallel run every call records nothing (rank 0 records the run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deepsynth.training.report import FINISHED, QUEUED, RUNNING, write_report

RENDER_TAG = "deepsynth.render"
"""MLflow tag: the run's dataset `RenderConfig` as compact JSON (`Recorder.compression`)."""


class _Nothing:
    """Stands in for the MLflow logger on ranks other than 0."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


class Recorder:
    """One run's MLflow logger + its job report (both silent off the main rank)."""

    def __init__(self, logger: Any, job_dir: str | Path | None, is_main: bool = True) -> None:
        self.logger = logger if is_main else _Nothing(logger.run_id if logger is not None else "")
        self.job_dir = job_dir if is_main else None
        self.is_main = is_main

    @classmethod
    def silent(cls, run_id: str) -> "Recorder":
        """A rank other than 0: knows the run id, records nothing."""
        return cls(_Nothing(run_id), None, is_main=False)

    @property
    def run_id(self) -> str:
        return self.logger.run_id

    # -- the job report -------------------------------------------------------------------------
    def report(self, **fields: Any) -> None:
        write_report(self.job_dir, **fields)

    def started(self, tracking_uri: str | None, run_dir: Path) -> None:
        self.report(run_id=self.run_id, tracking_uri=tracking_uri, run_dir=str(run_dir), state=RUNNING)

    def queued(self, reason: str | None) -> None:
        """Waiting (for GPU memory) with `reason`, or running again when `reason` is None."""
        self.report(state=QUEUED if reason else RUNNING, queued=reason)

    def plan(self, step: int, total_steps: int) -> None:
        self.report(step=step, total_steps=total_steps)

    def checkpointed(self, step: int) -> None:
        self.report(step=step, checkpoint_step=step)

    def finished(self) -> None:
        self.logger.finish()
        self.report(state=FINISHED, error=None)

    def ended(self, status: str, message: str) -> None:
        """The run stopped early (FAILED or KILLED): close the MLflow run and say why; a store that
        cannot be written (a full disk) must not hide the original error."""
        import sys

        try:
            self.logger.finish(status, error=message)
        except Exception as tracking_error:
            print(f"deepsynth train: could not close MLflow run {self.run_id}: {tracking_error}", file=sys.stderr)
        try:
            self.report(state=status, error=message)
        except OSError:
            pass

    # -- MLflow ---------------------------------------------------------------------------------
    def metrics(self, metrics: dict[str, float], step: int, flush: bool = False) -> None:
        self.logger.log_metrics(metrics, step, flush=flush)

    def tags(self, tags: dict[str, Any]) -> None:
        self.logger.set_tags(tags)

    def params(self, params: dict[str, Any]) -> None:
        self.logger.log_params(params)

    def compression(self, metrics: dict[str, float], render: dict[str, Any]) -> None:
        """What the decoder reads per page (`deepsynth.training.compression`), at step 0, with the
        render settings that produced the pages as the tag `deepsynth.render` (JSON), so runs of a
        render sweep can be told apart and labelled by their setting."""
        import json

        self.tags({RENDER_TAG: json.dumps(render, sort_keys=True, separators=(",", ":"))})
        if metrics:
            self.metrics(metrics, 0)

    def json_artifact(self, data: dict[str, Any], name: str) -> None:
        self.logger.log_dict(data, name)

    def text_artifact(self, text: str, name: str) -> None:
        self.logger.log_text(text, name)

    def artifacts(self, folder: Path, name: str) -> None:
        self.logger.log_artifacts(folder, name)

    def dataset(self, name: str, path: str, digest: str, profile: dict[str, Any]) -> None:
        self.logger.log_dataset(name, path, digest, profile)

    def system_metrics(self, resume: bool) -> None:
        self.logger.start_system_metrics(resume=resume)

    def flush(self) -> None:
        self.logger.flush()
