"""A sweep on disk and how far it has got.

`<workspace>/workspace/sweeps/<sweep id>/sweep.json` (written atomically): the base `TrainConfig`,
the axes, the random draw (count, seed), the parent MLflow run, and per point its values, its
dataset and the jobs that ran it (a resumed point gets another job). A point's state is read
from the queue and the job folders, never stored, so it is right after any crash:
QUEUED (waiting, with its position), RUNNING (its job is alive), FINISHED, FAILED (failed, killed,
or could not start) or NEW (never queued: the sweep was interrupted while queueing).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepsynth import paths
from deepsynth.atomic_files import write_json_atomic
from deepsynth.errors import InputError
from deepsynth.names import check_sweep_id

SWEEP_FILE = "sweep.json"
QUEUED, RUNNING, FINISHED, FAILED, NEW = "QUEUED", "RUNNING", "FINISHED", "FAILED", "NEW"
POINT_STATES = (FINISHED, RUNNING, QUEUED, FAILED, NEW)


def sweep_dir(sweep_id: str) -> Path:
    return paths.sweeps_dir() / check_sweep_id(sweep_id)


def new_sweep_id() -> str:
    return f"sweep-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


@dataclass
class SweepRecord:
    """What sweep.json holds."""

    sweep_id: str
    """The id (`TrainConfig.sweep_id` of every point, MLflow tag `deepsynth.sweep`)."""
    base: dict[str, Any]
    """The base `TrainConfig` as a dict; every point is it plus the point's values."""
    axes: list[dict[str, Any]]
    """[{"path", "values"}] in the order given."""
    points: list[dict[str, Any]]
    """[{"index", "values", "dataset", "jobs": [job ids, latest last]}]."""
    random_draws: int = 0
    """0: the whole grid; else this many points drawn at random."""
    seed: int = 0
    """Seed of the random draw."""
    tracking_uri: str = ""
    """Where the runs and the parent run are recorded."""
    parent_run_id: str = ""
    """The parent MLflow run (the definition, then the summary)."""
    created: float = field(default_factory=time.time)
    """When the sweep was queued (epoch seconds)."""
    finished_at: float | None = None
    """When the summary was written to the parent run; None before (or after a resume)."""

    @property
    def folder(self) -> Path:
        return sweep_dir(self.sweep_id)

    @property
    def render_paths(self) -> list[str]:
        from deepsynth.sweeps.grid import RENDER

        return [axis["path"] for axis in self.axes if axis["path"].startswith(RENDER)]

    def save(self) -> Path:
        return write_json_atomic(self.folder / SWEEP_FILE, self.__dict__)


def load_record(sweep_id: str) -> SweepRecord:
    path = sweep_dir(sweep_id) / SWEEP_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"no sweep {sweep_id!r} in {paths.sweeps_dir()}") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: unreadable sweep record ({error})") from None
    return SweepRecord(**data)


def list_sweeps() -> list[SweepRecord]:
    """Every sweep in the workspace, newest first."""
    root = paths.sweeps_dir()
    if not root.is_dir():
        return []
    found = []
    for folder in root.iterdir():
        if (folder / SWEEP_FILE).is_file():
            try:
                found.append(load_record(folder.name))
            except (InputError, TypeError):
                continue
    return sorted(found, key=lambda record: record.created, reverse=True)


@dataclass(frozen=True)
class PointStatus:
    """One point of a sweep as it stands."""

    index: int
    """0-based point number."""
    values: dict[str, Any]
    """Its field values."""
    state: str
    """QUEUED, RUNNING, FINISHED, FAILED or NEW."""
    job_id: str | None
    """Its latest job."""
    run_id: str | None
    """Its MLflow run, once the job created it."""
    detail: str = ""
    """Queue position, or why it failed."""


def point_statuses(record: SweepRecord) -> list[PointStatus]:
    """Every point's state, from the queue and the job folders."""
    from deepsynth import jobs
    from deepsynth.jobs import queue

    state = queue.snapshot()
    positions = {entry["job_id"]: position for position, entry in enumerate(state.entries, start=1)}
    failed = {entry["job_id"]: entry["error"] for entry in state.failed}
    statuses = []
    for point in record.points:
        job_id = point["jobs"][-1] if point["jobs"] else None
        run_id, detail = None, ""
        if job_id is None:
            status = NEW
        elif job_id in positions:
            status, detail = QUEUED, f"position {positions[job_id]}"
        elif job_id in failed:
            status, detail = FAILED, f"could not start: {failed[job_id]}"
        elif (paths.jobs_dir() / job_id / jobs.JOB_FILE).is_file():
            job = jobs.get_job(job_id)
            run_id = job.run_id
            status = RUNNING if job.alive else FINISHED if job.state == jobs.FINISHED else FAILED
            detail = job.error or ""
        else:
            status = NEW  # queued, then taken out of the queue (cancelled) before it started
        statuses.append(PointStatus(point["index"], point["values"], status, job_id, run_id, detail))
    return statuses


def progress_counts(statuses: list[PointStatus]) -> dict[str, int]:
    """{state: points} for every state, zeros included (done = FINISHED)."""
    return {name: sum(1 for s in statuses if s.state == name) for name in POINT_STATES}
