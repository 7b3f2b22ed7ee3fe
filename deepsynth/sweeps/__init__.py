"""Sweeps: many small variations of one training run, queued as jobs and compared in MLflow.

A sweep varies any `TrainConfig` field and any `RenderConfig` field over a grid (or N random
draws from it) and queues one job per point (`deepsynth.jobs.queue`). Render fields build one
dataset per setting from the same documents, so only the rendering differs, and the runs record
what the decoder had to read (`compression/...` metrics): a render sweep shows how far a page
can be compressed before the summary suffers (`compression_table`).

- `grid`: `field=v1,v2` axes, typed from the dataclasses; full grid or random draws.
- `plan`: every point's `TrainConfig`, every problem found before anything starts.
- `render_data`: one dataset per render setting, same documents (checked).
- `launch`: start (datasets, parent MLflow run, queue), resume (FINISHED points kept), finish.
- `record`: the sweep on disk (`workspace/sweeps/<id>/sweep.json`) and each point's state.
- `parent_run`: the parent MLflow run (definition, then summary table).
- `compression`: the compression-vs-quality table of a render sweep.
- `cli`: `deepsynth sweep`; `demo`: `deepsynth demo --render-sweep`.

    from deepsynth.sweeps import parse_axes, plan_sweep, start_sweep
    plan = plan_sweep(base_config, parse_axes(["lora.rank=4,8"], render=["font_size=16,22"]))
    record = start_sweep(plan)       # 4 jobs queued; record.sweep_id
"""

from deepsynth.sweeps.compression import compression_table, is_render_sweep, render_sweep_table
from deepsynth.sweeps.grid import Axis, expand, parse_axes, point_count, sweepable_fields
from deepsynth.sweeps.launch import finish_sweep, is_done, resume_sweep, start_sweep
from deepsynth.sweeps.plan import MAX_POINTS, MAX_POINTS_WITHOUT_YES, SweepPlan, plan_sweep
from deepsynth.sweeps.record import list_sweeps, load_record, point_statuses, progress_counts

__all__ = [
    "Axis", "MAX_POINTS", "MAX_POINTS_WITHOUT_YES", "SweepPlan", "compression_table", "expand", "finish_sweep",
    "is_done", "is_render_sweep", "list_sweeps", "load_record", "parse_axes", "plan_sweep", "point_count",
    "point_statuses", "progress_counts", "render_sweep_table", "resume_sweep", "start_sweep", "sweepable_fields",
]
