"""Starting, resuming and finishing a sweep.

`start_sweep(plan)`: build (or reuse) one dataset per render setting, start the parent MLflow
run, write the sweep record, then queue every point in one write and make sure a queue runner is
alive. `resume_sweep(id)`: queue again the points that failed, were killed, or never started;
FINISHED points (and points still queued or running) are left alone. `finish_sweep(id)`: once no
point is queued or running, the summary goes to the parent run (the queue runner calls it when a
sweep's last job ends; `deepsynth sweep --status` and the dashboard may too).
"""

from __future__ import annotations

import time
from typing import Any, Callable

from deepsynth.configuration import from_dict, to_dict
from deepsynth.sweeps.plan import SweepPlan, point_config, render_values
from deepsynth.sweeps.record import (
    FAILED, NEW, QUEUED, RUNNING, SweepRecord, load_record, new_sweep_id, point_statuses)

BuildProgress = Callable[[str, int, int], None]


def _datasets(base: Any, points: list[dict[str, Any]], progress: BuildProgress | None) -> list[str]:
    """The dataset of each point: the base, or the base's documents rendered the point's way."""
    from deepsynth.sweeps.render_data import base_dataset_config, dataset_for_render, render_config

    if not any(render_values(point) for point in points):
        return [base.dataset] * len(points)
    base_render = base_dataset_config(base.dataset).render
    built: dict[str, str] = {}
    folders = []
    for point in points:
        render = render_config(base_render, render_values(point))
        key = repr(to_dict(render))
        if key not in built:
            built[key] = dataset_for_render(base.dataset, render, progress)
        folders.append(built[key])
    return folders


def _queue(record: SweepRecord, configs: dict[int, Any], start_runner: bool) -> list[Any]:
    from deepsynth.jobs import queue
    from deepsynth.jobs.queue_runner import ensure_runner

    entries = []
    for point in record.points:
        if point["index"] in configs:
            entry = queue.entry_for(configs[point["index"]])
            point["jobs"].append(entry["job_id"])
            entries.append(entry)
    record.save()  # the job ids first: a crash before the queue write leaves NEW points, resumable
    queued = queue.add(entries)
    if start_runner:
        ensure_runner()
    return queued


def start_sweep(plan: SweepPlan, tracking_uri: str = "", build_progress: BuildProgress | None = None,
                start_runner: bool = True, sweep_id: str | None = None) -> SweepRecord:
    """Build the render datasets, start the parent run, record the sweep and queue its points."""
    from deepsynth.sweeps.parent_run import create_parent
    from deepsynth.tracking.store import resolve_tracking_uri

    sweep_id = sweep_id or new_sweep_id()
    points = [dict(point) for point in plan.points]
    datasets = _datasets(plan.base, points, build_progress)
    configs = {index: point_config(plan.base, point, dataset, sweep_id, index)
               for index, (point, dataset) in enumerate(zip(points, datasets))}
    record = SweepRecord(
        sweep_id=sweep_id, base=to_dict(plan.base),
        axes=[{"path": axis.path, "values": to_dict(list(axis.values))} for axis in plan.axes],
        points=[{"index": index, "values": to_dict(point), "dataset": dataset, "jobs": []}
                for index, (point, dataset) in enumerate(zip(points, datasets))],
        random_draws=plan.random_draws, seed=plan.seed,
        tracking_uri=resolve_tracking_uri(tracking_uri or plan.base.tracking_uri or None))
    record.parent_run_id = create_parent(record)
    _queue(record, configs, start_runner)
    return record


def resume_sweep(sweep_id: str, build_progress: BuildProgress | None = None,
                 start_runner: bool = True) -> tuple[SweepRecord, list[int]]:
    """Queue again every point that is FAILED (failed, killed, could not start) or NEW; returns
    the record and the point numbers queued (empty: nothing left to run)."""
    from pathlib import Path

    from deepsynth.sweeps.parent_run import reopen_parent
    from deepsynth.training.config import TrainConfig

    record = load_record(sweep_id)
    base = from_dict(TrainConfig, record.base)  # ConfigError if, say, the base dataset is gone
    again = [s.index for s in point_statuses(record) if s.state in (FAILED, NEW)]
    if not again:
        return record, []
    configs = {}
    for point in record.points:
        if point["index"] not in again:
            continue
        dataset = point["dataset"]
        if not Path(dataset, "deepsynth_dataset.json").is_file():  # a render dataset removed since
            dataset = point["dataset"] = _datasets(base, [point["values"]], build_progress)[0]
        configs[point["index"]] = point_config(base, point["values"], dataset, sweep_id, point["index"])
    record.finished_at = None
    reopen_parent(record)
    _queue(record, configs, start_runner)
    return record, [index + 1 for index in again]


def is_done(record: SweepRecord) -> bool:
    """No point waits or runs (NEW points, never queued, do not hold the summary back)."""
    return not any(s.state in (QUEUED, RUNNING) for s in point_statuses(record))


def finish_sweep(sweep_id: str) -> list[dict[str, Any]] | None:
    """Write the summary to the parent run if the sweep is done; None while points still run."""
    from deepsynth.sweeps.parent_run import write_summary

    record = load_record(sweep_id)
    if not is_done(record):
        return None
    rows = write_summary(record)
    record.finished_at = time.time()
    record.save()
    return rows
