"""The job queue on disk: training jobs that wait for a free slot and start in order.

`<workspace>/workspace/queue/`:
- `queue.json`: `{"version", "max_concurrent", "entries", "started", "failed"}`. `entries` are the
  waiting jobs in the order they will start (each: `job_id`, `config` = the `TrainConfig` as a
  dict, `nproc`, `sweep_id`, `queued_at`); `started` the jobs the runner started and still follows
  (`job_id`, `sweep_id`, `gpu`, `started_at`); `failed` the jobs that could not start, with why.
  `max_concurrent` null: one per GPU on CUDA, two on a CPU with 2+ cores (`deepsynth.jobs.queue_runner`).
- `queue.lock`: an exclusive `flock` held by whoever reads, changes and rewrites queue.json (the
  CLI, the dashboard, the runner), so concurrent writers never lose an update; the kernel drops it
  when its holder dies. queue.json itself is replaced atomically (temporary file + rename), so a
  kill -9 at any moment leaves the old queue or the new one.

A queued job has its id from the start (a sweep records it); its folder under workspace/jobs/
appears when it starts (`jobs.start_job(config, job_id=...)`), and `jobs.list_jobs()` shows it from
then on. Nothing here starts processes: `queue_runner` does.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from deepsynth import paths
from deepsynth.atomic_files import write_json_atomic
from deepsynth.errors import DeepSynthError, InputError
from deepsynth.file_locks import try_lock
from deepsynth.names import check_job_id

QUEUE_FILE, QUEUE_LOCK = "queue.json", "queue.lock"
QUEUE_VERSION = 1
LOCK_TIMEOUT_S = 60.0
"""How long a writer waits for the queue lock before giving up with an error (holders keep it
for milliseconds: a read, a few job starts, a write)."""
FAILED_KEPT = 500
"""Jobs that could not start, kept for `jobs list` and sweep progress (oldest dropped first)."""

_held = threading.local()  # the lock is re-entrant within a thread: flock on a 2nd fd would deadlock


def queue_dir() -> Path:
    return paths.home() / "workspace" / "queue"


def new_job_id() -> str:
    """A fresh job id, in the format `jobs.start_job` uses (sortable by time)."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class QueuedJob:
    """A job waiting in the queue."""

    job_id: str
    """The id its job folder will have once it starts."""
    position: int
    """1 for the next job to start."""
    config: dict[str, Any]
    """The `TrainConfig` as a dict (`to_dict`), rebuilt when it starts."""
    nproc: int
    """Data-parallel processes (`deepsynth train --nproc`)."""
    sweep_id: str
    """The sweep that queued it, or ""."""
    queued_at: float
    """When it was queued (epoch seconds)."""

    @property
    def label(self) -> str:
        return self.config.get("run_name") or self.config.get("dataset", "")


class QueueState:
    """queue.json as read under the lock; change it in place, it is written when the block ends."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @property
    def entries(self) -> list[dict[str, Any]]:
        return self.data["entries"]

    @property
    def started(self) -> list[dict[str, Any]]:
        return self.data["started"]

    @property
    def failed(self) -> list[dict[str, Any]]:
        return self.data["failed"]

    @property
    def max_concurrent(self) -> int | None:
        return self.data.get("max_concurrent")

    def index_of(self, job_id: str) -> int | None:
        return next((i for i, entry in enumerate(self.entries) if entry["job_id"] == job_id), None)

    def fail(self, entry: dict[str, Any], error: str) -> None:
        self.failed.append({"job_id": entry["job_id"], "sweep_id": entry.get("sweep_id", ""),
                            "error": error, "failed_at": time.time()})
        del self.failed[:-FAILED_KEPT]


def _empty() -> dict[str, Any]:
    return {"version": QUEUE_VERSION, "max_concurrent": None, "entries": [], "started": [], "failed": []}


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return _empty()
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        # Never start over silently: that would drop every queued job. (Writes are atomic, so
        # only a hand edit gets here.)
        raise DeepSynthError(f"{path}: unreadable job queue ({error}); fix or remove the file") from None
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise DeepSynthError(f"{path}: not a DeepSynth job queue")
    return {**_empty(), **data}


def _acquire(lock_path: Path, timeout_s: float) -> Any:
    handle = try_lock(lock_path, timeout_s)
    if handle is None:
        raise DeepSynthError(f"the job queue stayed locked for {timeout_s:.0f} s ({lock_path})")
    return handle


@contextlib.contextmanager
def locked(timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[QueueState]:
    """The queue, held exclusively for the block; written back (atomically) if the block changed
    it and raised nothing. Re-entrant within a thread (the inner block sees the same state)."""
    current = getattr(_held, "state", None)
    if current is not None:
        yield current
        return
    folder = queue_dir()
    handle = _acquire(folder / QUEUE_LOCK, timeout_s)
    try:
        path = folder / QUEUE_FILE
        data = _read(path)
        before = json.dumps(data, sort_keys=True)
        state = QueueState(data)
        _held.state = state
        try:
            yield state
        finally:
            _held.state = None
        if json.dumps(state.data, sort_keys=True) != before:
            write_json_atomic(path, state.data)
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def snapshot() -> QueueState:
    """The queue as it is now (read under the lock, not held afterwards): for listings."""
    with locked() as state:
        return QueueState(json.loads(json.dumps(state.data)))


def _queued(entries: list[dict[str, Any]]) -> list[QueuedJob]:
    return [QueuedJob(entry["job_id"], position, entry["config"], int(entry.get("nproc", 1)),
                      entry.get("sweep_id", ""), float(entry.get("queued_at", 0.0)))
            for position, entry in enumerate(entries, start=1)]


def entry_for(config: Any, nproc: int = 1, job_id: str | None = None) -> dict[str, Any]:
    """A queue entry for a `TrainConfig` (the config travels whole, as `start_job` writes it).
    A queued job starts later, when nobody is there to choose: what a queue entry may not carry
    (remote code, folders outside the workspace, tracking stores not allowed:
    `deepsynth.settings.sources`) is refused now, with what to do instead."""
    from deepsynth.configuration import ConfigError, to_dict
    from deepsynth.settings import QUEUE
    from deepsynth.settings.sources import source_problems

    if nproc < 1:
        raise InputError(f"nproc must be >= 1, got {nproc}")
    data = to_dict(config)
    problems = source_problems(type(config), data, QUEUE)
    if problems:
        raise ConfigError(problems + [("queue", "start this job now instead (`deepsynth train` or `deepsynth jobs "
                                                "start` without --queue), where your own flags count")],
                          "queued job")
    return {"job_id": check_job_id(job_id or new_job_id()), "config": data, "nproc": int(nproc),
            "sweep_id": getattr(config, "sweep_id", ""), "queued_at": time.time()}


def entry_config(entry: dict[str, Any]) -> Any:
    """The `TrainConfig` a queue entry starts, checked as a queue entry's values are: queue.json
    is a file anyone with the workspace can edit, so it never turns remote code on, writes outside
    the workspace or names a tracking store the user did not allow. `ConfigError` otherwise."""
    from deepsynth.configuration import from_dict
    from deepsynth.settings import QUEUE
    from deepsynth.training.config import TrainConfig

    return from_dict(TrainConfig, entry["config"], source=QUEUE)


def add(entries: list[dict[str, Any]]) -> list[QueuedJob]:
    """Append entries (from `entry_for`) at the end of the queue, all in one write; returns them
    as queued. A job id already queued, started or present under workspace/jobs/ is refused."""
    with locked() as state:
        taken = {e["job_id"] for e in state.entries} | {e["job_id"] for e in state.started}
        for entry in entries:
            if entry["job_id"] in taken or (paths.jobs_dir() / entry["job_id"]).exists():
                raise InputError(f"job id {entry['job_id']!r} is already in use")
            taken.add(entry["job_id"])
        state.entries.extend(entries)
        ids = {entry["job_id"] for entry in entries}
        return [job for job in _queued(state.entries) if job.job_id in ids]


def list_queued() -> list[QueuedJob]:
    """Waiting jobs, next to start first."""
    return _queued(snapshot().entries)


def failed_to_start() -> list[dict[str, Any]]:
    """Jobs the runner could not start (`job_id`, `sweep_id`, `error`, `failed_at`), oldest first."""
    return snapshot().failed


def cancel_queued(job_id: str) -> bool:
    """Take a waiting job out of the queue; False when it is not waiting (started, or unknown)."""
    with locked() as state:
        index = state.index_of(job_id)
        if index is None:
            return False
        del state.entries[index]
        return True


def move(job_id: str, position: int) -> list[QueuedJob]:
    """Put a waiting job at `position` (1 = next to start; beyond the end = last); returns the queue."""
    with locked() as state:
        index = state.index_of(job_id)
        if index is None:
            raise InputError(f"job {job_id!r} is not waiting in the queue")
        entry = state.entries.pop(index)
        state.entries.insert(max(0, min(int(position) - 1, len(state.entries))), entry)
        return _queued(state.entries)


def parse_max_concurrent(text: str) -> int | None:
    """`auto` -> None, else a number >= 1 (`--max-concurrent`); `InputError` otherwise."""
    if text.strip() == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise InputError(f"max concurrent jobs: expected a number >= 1 or 'auto', got {text!r}")
    return value


def set_max_concurrent(value: int | None) -> None:
    """Jobs running at once (None: one per GPU on CUDA, two on a CPU with 2+ cores); the runner reads it each poll."""
    if value is not None and (not isinstance(value, int) or value < 1):
        raise InputError(f"max concurrent jobs must be an integer >= 1, got {value!r}")
    with locked() as state:
        state.data["max_concurrent"] = value
