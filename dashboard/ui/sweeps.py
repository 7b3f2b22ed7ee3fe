"""Queued jobs and sweeps on the Train page (`pages/train.py` calls these two functions).

- `queue_or_sweep(train)`, under the start button: queue the job instead of starting it now, or
  sweep from these settings (or a config file): fields and their values, the point count, one
  button that builds the render datasets and queues every point (`deepsynth.sweeps`).
- `queue_and_progress(uri)`: the waiting jobs with their position (move, cancel), the runner,
  and each sweep's progress (done / running / queued / failed) with a link to the Compare page
  filtered to it (`?sweep=<id>`); it refreshes itself while anything waits or runs.

Everything is read from disk (the queue, the sweep records, the job folders), so it survives a
dashboard restart; the queue runner starts jobs with no dashboard open.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import streamlit as st

from deepsynth.configuration import ConfigError, from_dict
from deepsynth.errors import DeepSynthError
from deepsynth.jobs import queue
from deepsynth.jobs import queue_runner
from deepsynth.sweeps import record as sweep_record
from deepsynth.sweeps.grid import label, parse_axes, point_count, sweepable_fields
from deepsynth.sweeps.plan import MAX_POINTS_WITHOUT_YES
from ui import login
from ui.widgets import show_error

RUNNER_KEY = "deepsynth.ensure_runner"
"""Tests put a stand-in for `queue_runner.ensure_runner` here (no real training processes)."""
COMPARE_PAGE = Path(__file__).resolve().parents[2] / "pages" / "compare.py"
SWEEP_QUERY = "sweep"
"""The Compare page's query parameter selecting a sweep's runs (`compare?sweep=<id>`)."""
REFRESH = "5s"
EXAMPLE = "lora.rank=4,8,16\nlearning_rate=1e-4,1e-3\nrender.font_size=16,22"


def _ensure_runner() -> Callable[[], Any]:
    return st.session_state.get(RUNNER_KEY, queue_runner.ensure_runner)


# -- queue a job, start a sweep ------------------------------------------------------------------
def queue_or_sweep(train: Any) -> None:
    """Under the start button: queue `train` (a `TrainConfig`), or sweep from it."""
    if st.button("Add to the queue", key="sweeps.queue_job", help="Start it when a slot is free (one job at a time on CPU, "
                                                        "one per GPU on CUDA), with no dashboard needed."):
        try:
            job = queue_runner.queue_job(train, start_runner=False)
            _ensure_runner()()
        except DeepSynthError as error:
            show_error(error)
        else:
            st.success(f"Queued job {job.job_id} at position {job.position}.")
    # a toggle, not an expander: the Train page draws this inside its own expander (no nesting)
    if st.toggle("Sweep from these settings", key="sweeps.form.open"):
        with st.container(border=True):
            sweep_form(train)


def _base_from_file(uploaded: Any) -> Any | None:
    from deepsynth.training.config import TrainConfig

    try:
        data = json.loads(uploaded.getvalue().decode("utf-8"))
        return from_dict(TrainConfig, data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        st.error(f"{uploaded.name}: not a JSON TrainConfig ({error})")
    except ConfigError as error:
        st.error(f"{uploaded.name}: {error}")
    return None


def sweep_form(current: Any | None) -> None:
    """Fields and values over a base config; shows the point count; queues the sweep."""
    from deepsynth.sweeps import plan_sweep, start_sweep

    sources = (["The settings above"] if current is not None else []) + ["A config file"]
    source = st.radio("Base settings", sources, horizontal=True, key="sweeps.form.source")
    base = current
    if source == "A config file":
        uploaded = st.file_uploader("TrainConfig (JSON, as `deepsynth train --print-config` writes it)", type=["json"],
                                    key="sweeps.form.file")
        base = _base_from_file(uploaded) if uploaded is not None else None
    text = st.text_area("Fields and their values, one per line", key="sweeps.form.axes", placeholder=EXAMPLE,
                        help="`field=value1,value2`: any training field (dotted: lora.rank, learning_rate, "
                             "model.max_source_tokens, preset) or render field (render.font_size: one dataset per "
                             "setting, same documents). Valid fields: " + ", ".join(sweepable_fields()))
    c1, c2 = st.columns(2)
    draws = int(c1.number_input("Random draws (0 = the whole grid)", min_value=0, value=0, key="sweeps.form.random"))
    seed = int(c2.number_input("Seed of the draws", min_value=0, value=0, key="sweeps.form.seed"))
    words = [line.strip() for line in text.splitlines() if line.strip()]
    if base is None or not words:
        st.caption("Give a base and at least one field with its values.")
        return
    try:
        axes = parse_axes(words)
        count = point_count(axes, draws)
        large = count > MAX_POINTS_WITHOUT_YES and st.checkbox(
            f"Yes, queue {count} jobs (more than {MAX_POINTS_WITHOUT_YES})", key="sweeps.form.large")
        plan = plan_sweep(base, axes, draws, seed, allow_large=large)
    except DeepSynthError as error:
        show_error(error)
        return
    st.code(plan.describe(limit=10), language=None)
    if st.button(f"Queue {plan.count} job(s)", type="primary", key="sweeps.form.start"):
        bar = st.progress(0.0, text="Preparing…")

        def rendered(folder: str, done: int, total: int) -> None:
            bar.progress(done / max(1, total), text=f"Rendering {Path(folder).name}: {done}/{total}")

        try:
            record = start_sweep(plan, build_progress=rendered, start_runner=False)
            _ensure_runner()()
        except DeepSynthError as error:
            bar.empty()
            show_error(error)
            return
        bar.empty()
        st.session_state["sweeps.chosen"] = record.sweep_id
        st.success(f"Sweep {record.sweep_id}: {plan.count} job(s) queued (parent MLflow run {record.parent_run_id}).")


# -- the queue and the sweeps' progress ----------------------------------------------------------
def queue_and_progress(uri: str) -> None:
    """Waiting jobs (position, move, cancel) and each sweep's progress; refreshes while busy."""
    busy = bool(queue.list_queued()) or bool(queue.snapshot().started)

    @login.fragment(run_every=REFRESH if busy else None)
    def draw() -> None:
        _queue_panel()
        _sweeps_panel(uri)

    draw()


def _queue_panel() -> None:
    queued = queue.list_queued()
    runner = queue_runner.runner_info()
    running = runner is not None and runner.alive
    limit = queue.snapshot().max_concurrent
    st.subheader("Queue of waiting jobs")
    st.caption(f"Runner: {'pid ' + str(runner.pid) if running else 'not running'} · "
               f"max concurrent: {limit or queue_runner.auto_limit_text()}")
    if not queued:
        st.caption("No job waiting.")
    else:
        st.dataframe([{"position": job.position, "job": job.job_id, "state": "QUEUED", "sweep": job.sweep_id,
                       "run name / dataset": job.label,
                       "queued": time.strftime("%Y-%m-%d %H:%M", time.localtime(job.queued_at))}
                      for job in queued], hide_index=True, key="sweeps.queue_table")
        ids = [job.job_id for job in queued]
        chosen = st.selectbox("Waiting job", ids, key="sweeps.queue_job_choice",
                              format_func=lambda i: f"#{ids.index(i) + 1} {i}")
        b1, b2, b3, _ = st.columns([1, 1, 1, 3])
        if b1.button("To the front", key="sweeps.queue_top"):
            queue.move(chosen, 1)
            st.rerun()
        if b2.button("Later", key="sweeps.queue_down"):
            queue.move(chosen, ids.index(chosen) + 2)
            st.rerun()
        if b3.button("Remove", key="sweeps.queue_cancel"):
            queue.cancel_queued(chosen)
            st.rerun()
        if not running and st.button("Start the queue runner", key="sweeps.runner_start"):
            _ensure_runner()()
            st.rerun()
    failed = queue.failed_to_start()
    if failed:
        with st.expander(f"{len(failed)} job(s) could not start"):
            st.dataframe([{"job": f["job_id"], "sweep": f.get("sweep_id", ""), "why": f["error"]} for f in failed[::-1]],
                         hide_index=True, key="sweeps.failed_table")


@st.cache_data(ttl=10, show_spinner=False)
def _render_table(uri: str, sweep_id: str) -> Any:
    from deepsynth.sweeps import render_sweep_table

    return render_sweep_table(sweep_id, uri)


def _sweeps_panel(uri: str) -> None:
    sweeps = sweep_record.list_sweeps()
    if not sweeps:
        return
    st.subheader("Sweeps")
    ids = [s.sweep_id for s in sweeps]
    if st.session_state.get("sweeps.chosen") not in ids:
        st.session_state["sweeps.chosen"] = ids[0]
    chosen = next(s for s in sweeps if s.sweep_id == st.selectbox("Sweep", ids, key="sweeps.chosen"))
    statuses = sweep_record.point_statuses(chosen)
    counts = sweep_record.progress_counts(statuses)
    c = st.columns(5)
    for column, (name, state) in zip(c, (("Done", sweep_record.FINISHED), ("Running", sweep_record.RUNNING),
                                         ("Queued", sweep_record.QUEUED), ("Failed", sweep_record.FAILED),
                                         ("Not queued", sweep_record.NEW))):
        column.metric(name, counts[state])
    st.progress(counts[sweep_record.FINISHED] / max(1, len(statuses)),
                text=f"{counts[sweep_record.FINISHED]} of {len(statuses)} point(s) done")
    st.dataframe([{"point": s.index + 1, "settings": label(s.values), "state": s.state, "job": s.job_id or "",
                   "run": s.run_id or "", "detail": s.detail} for s in statuses],
                 hide_index=True, key="sweeps.points_table")
    st.page_link(str(COMPARE_PAGE), label=f"Compare the runs of {chosen.sweep_id}", icon=":material/monitoring:",
                 query_params={SWEEP_QUERY: chosen.sweep_id})
    if chosen.render_paths and counts[sweep_record.FINISHED]:
        from ui.compression import table_view

        table_view(_render_table(chosen.tracking_uri or uri, chosen.sweep_id), key="sweeps.compression_table")
    if counts[sweep_record.FAILED] + counts[sweep_record.NEW]:
        st.caption(f"`deepsynth sweep --resume {chosen.sweep_id}` queues the failed points again; "
                   "finished ones are kept.")
        if st.button("Resume: queue the failed points again", key="sweeps.resume"):
            from deepsynth.sweeps import resume_sweep

            try:
                resume_sweep(chosen.sweep_id, start_runner=False)
                _ensure_runner()()
            except DeepSynthError as error:
                show_error(error)
            else:
                st.rerun()
