"""The live panel of one training job: state in words, its history, step, loss curve, samples/s,
ETA, the final scores and sample outputs, the log without its noise, and the cancel / resume
buttons. It reruns on its own every 2 s while the job runs (`login.fragment`: `st.fragment` that
checks the session first), reading only the job folder and the run's metric history, so the rest
of the page stays still.

One step figure everywhere: `progress.current_step` (the later of the job report and the last
logged metric) as `step_text` (`7 / 10`), in the header and the Step metric alike."""

from __future__ import annotations

import os
from typing import Any, Callable

import pandas as pd
import plotly.express as px
import streamlit as st

from deepsynth import jobs
from deepsynth.errors import DeepSynthError
from deepsynth.jobs.progress import current_step, eta_seconds, history_lines, log_tail, state_text, step_text
from deepsynth.units import readable_duration
from ui import cached, login
from ui.widgets import STATE_ICONS, show_error

REFRESH = "2s"
CURVES = ("train/loss", "train/samples_per_s")
LOG_LINES = 40
MARKED_POINTS = 60  # curves this short show each logged step as a dot
JOB_COLUMNS = {"job": 190, "state": 150, "step": 110, "attempts": 80, "started": 150, "resumed": 220, "user": 90,
               "run": 290}


@st.cache_data(ttl=30, show_spinner=False)
def evaluation(uri: str, run_id: str) -> Any:
    from deepsynth.tracking.run_outputs import read_evaluation

    # MLflow draws a "Downloading artifacts" progress bar on stderr, i.e. into the dashboard's
    # terminal, for every download; a page reading a run's files shows what it read instead
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"

    return read_evaluation(run_id, uri)


def job_steps(all_jobs: list, uri: str) -> dict[str, int | None]:
    """job id -> the step to show (`current_step`: report.json and the run's last logged loss, the
    same figure the panel shows), one metric query per tracking store."""
    by_store: dict[str, list[str]] = {}
    for job in all_jobs:
        if job.run_id:
            by_store.setdefault(job.tracking_uri or uri, []).append(job.run_id)
    last: dict[str, int] = {}
    for store, run_ids in by_store.items():
        try:
            history = cached.live_histories(store, tuple(sorted(run_ids)), ("train/loss",))
        except Exception:  # an unreachable store: the report's step is still worth showing
            continue
        if len(history):
            last.update(history.groupby("run_id")["step"].max().astype(int).to_dict())
    return {job.job_id: current_step(job.step, [last[job.run_id]] if job.run_id in last else [])
            for job in all_jobs}


def jobs_table(uri: str) -> list:
    """Every job with its state in words and the panel's step figure; refreshes itself while a job
    runs. Returns the jobs (newest first)."""
    from deepsynth.jobs.progress import clock

    all_jobs = jobs.list_jobs()  # read from disk: survives a dashboard restart

    @login.fragment(run_every=REFRESH if any(job.alive for job in all_jobs) else None)
    def draw() -> None:
        current = jobs.list_jobs()
        steps = job_steps(current, uri)
        st.dataframe([{"job": j.job_id, "state": state_text(j.state, j.cancelled_by_user),
                       "step": step_text(steps[j.job_id], j.total_steps) + (" (time budget)" if j.stopped_early else ""),
                       "attempts": j.attempt,
                       "started": clock(j.started_at), "resumed": ", ".join(clock(t) for t in j.resumed_at),
                       "user": j.user or "", "run": j.run_id or ""} for j in current],
                     hide_index=True, key="train.jobs_table", width="stretch",
                     column_config={name: st.column_config.Column(name, width=width)
                                    for name, width in JOB_COLUMNS.items()})

    if all_jobs:
        draw()
    return all_jobs


def header(job: Any, step: int | None) -> None:
    """One line about a job: state in words, step / total, attempt, run id; its history below."""
    icon = ":gray[:material/cancel:]" if job.cancelled_by_user else STATE_ICONS.get(job.state, "")
    attempt = f" · attempt {job.attempt}" if job.attempt > 1 else ""
    st.markdown(f"{icon} **{state_text(job.state, job.cancelled_by_user)}** · step {step_text(step, job.total_steps)}"
                f"{attempt} · run `{job.run_id or '—'}`")
    history = history_lines(job)
    if len(history) > 1:
        st.caption(" → ".join(history))
    if job.failure:
        st.error(job.failure)
    elif job.stopped_early:
        st.caption(f":material/timer: Finished at step {step_text(step, job.total_steps)}: {job.stopped_early} "
                   "(the adapter and scores are from that step).")
    elif job.cancelled_by_user:
        st.info(f"Cancelled by you at step {step_text(step, job.total_steps)}. **Resume** continues from the last "
                "checkpoint, in the same MLflow run.", icon=":material/pause_circle:")


def loss_chart(loss: pd.DataFrame, job_id: str) -> None:
    # markers on short curves: one point is still a visible point, not empty axes
    figure = px.line(loss, x="step", y="value", markers=len(loss) <= MARKED_POINTS, labels={"value": "train/loss"})
    figure.update_layout(height=260, margin=dict(l=10, r=10, t=10, b=10))
    if len(loss) == 1:
        only = int(loss["step"].iloc[0])
        figure.update_xaxes(range=[only - 1, only + 1], dtick=1)
    st.plotly_chart(figure, key=f"train.live.loss.{job_id}")


def scores(uri: str, run_id: str) -> None:
    """The run's ROUGE table and a few sample outputs (from its eval/ artifacts)."""
    result = evaluation(uri, run_id)
    if result is None:
        st.caption("No evaluation recorded for this run (Eval documents was 0, or it stopped before).")
        return
    st.markdown(f"**Scores** on {result.docs} {result.split} documents (ROUGE, points)")
    table = pd.DataFrame([{"model": "tuned (adapter)" if name == "tuned" else "base (no adapter)" if name == "base"
                           else name, **{k: round(v, 1) for k, v in values.items()}}
                          for name, values in result.scores.items()])
    st.dataframe(table, hide_index=True, key=f"train.live.scores.{run_id}")
    if result.samples:
        st.markdown("**Sample outputs**")
        st.dataframe(pd.DataFrame(result.samples), hide_index=True, key=f"train.live.samples.{run_id}",
                     column_config={key: st.column_config.TextColumn(key, width="large")
                                    for key in result.samples[0] if key.endswith("_prediction") or key == "reference"})


def resumable_job(job: Any) -> bool:
    """A stopped job that has something to continue: it trained at least one step, or the user
    cancelled it (a job that failed before its first step would only fail again the same way)."""
    if job.state not in (jobs.FAILED, jobs.KILLED) or not job.run_id:
        return False
    return bool(job.step) or job.cancelled_by_user


def job_config(job: Any) -> Any:
    """The `TrainConfig` a job was started with (its folder's train_config.json), or None."""
    from deepsynth.configuration import ConfigError
    from deepsynth.training.config import TRAIN_CONFIG_FILE, load_train_config

    try:
        return load_train_config(job.job_dir / TRAIN_CONFIG_FILE)
    except (OSError, ValueError, ConfigError, DeepSynthError):
        return None


def short_run_hint(job: Any, step: int | None) -> None:
    """Why a finished run's tuned scores may equal the base's: too few steps at its learning rate."""
    from deepsynth.estimate.steps import too_short_to_learn

    config = job_config(job)
    hint = too_short_to_learn(int(step or 0), config.learning_rate) if config is not None else None
    if hint:
        st.caption(f":material/trending_flat: {hint}")


def phase_times(job: Any) -> None:
    """A finished (or stopped) job's estimated vs actual seconds per phase: the plan the Train page
    showed (`estimate.job_time.job_plan` for the threads the job used) beside what the worker
    recorded (report.json `phase_seconds`)."""
    from deepsynth.data import read_metadata
    from deepsynth.estimate.job_time import PHASE_LABELS, compare_phases, job_plan
    from deepsynth.training.report import read_report

    report = read_report(job.job_dir)
    actual = report.get("phase_seconds") or {}
    config = job_config(job)
    if not actual or config is None:
        return
    try:
        counts = read_metadata(config.dataset)["counts"]
        plan = job_plan(config, counts, int(report.get("threads") or 1))
    except (OSError, ValueError, KeyError, DeepSynthError):  # the dataset is gone, a model the estimator cannot read
        return
    rows = compare_phases(plan, actual, report.get("phase_cpu_seconds"))
    st.markdown(f"**Time per phase**: estimated (idle machine, {plan.threads} torch thread"
                f"{'s' if plan.threads > 1 else ''}) vs actual")
    st.dataframe(pd.DataFrame([{"phase": PHASE_LABELS.get(row.phase, "whole job"),
                                "estimated": readable_duration(row.estimated_s),
                                "actual": "—" if row.actual_s is None else readable_duration(row.actual_s),
                                "actual / estimated": "—" if row.ratio is None else f"{row.ratio:.2f}",
                                "CPU s": "—" if row.cpu_s is None else f"{row.cpu_s:.0f}"} for row in rows]),
                 hide_index=True, key=f"train.live.phases.{job.job_id}")


def panel(job_id: str, uri: str, spawn: dict[str, Callable]) -> None:
    """Draw the panel for `job_id`; refreshes itself while the job is alive."""
    job = jobs.get_job(job_id)

    @login.fragment(run_every=REFRESH if job.alive else None)
    def draw() -> None:
        current = jobs.get_job(job_id)
        if current.state != job.state:  # started, finished or failed since the page drew: redraw all of it
            st.rerun()
        store = current.tracking_uri or uri
        history = cached.live_history(store, current.run_id, CURVES) if current.run_id else None
        loss = history[history["key"] == "train/loss"] if history is not None else None
        speed = history[history["key"] == "train/samples_per_s"] if history is not None else None
        logged = loss["step"].tolist() if loss is not None else []
        step = current_step(current.step, logged)
        total = current.total_steps
        header(current, step)
        eta = eta_seconds(logged, loss["timestamp"].tolist(), total) if loss is not None else None
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Step", step_text(step, total))
        c2.metric("Loss", f"{loss['value'].iloc[-1]:.4f}" if loss is not None and len(loss) else "—")
        c3.metric("Samples/s", f"{speed['value'].iloc[-1]:.2f}" if speed is not None and len(speed) else "—")
        c4.metric("ETA", readable_duration(eta) if current.alive else "—")
        if loss is not None and len(loss):
            loss_chart(loss, job_id)
        if current.state == jobs.FINISHED and current.run_id:
            scores(store, current.run_id)
            short_run_hint(current, step)
        if not current.alive:
            phase_times(current)
        raw = st.toggle("Whole log lines (progress bars, library messages)", key=f"train.live.raw.{job_id}")
        st.code(log_tail(current.log_path, LOG_LINES, clean=not raw) or "(no output yet)", language=None)
        b1, b2, b3, _ = st.columns([1, 1, 1.4, 2.6])
        if current.alive and b1.button("Cancel", key=f"train.cancel.{job_id}"):
            with st.spinner("Stopping the job (checkpoint, then exit)…"):
                jobs.cancel(job_id)
            st.rerun()
        resumable = resumable_job(current)
        if current.state == jobs.FAILED and not resumable:
            st.caption(":material/restart_alt: It failed before its first training step: there is nothing to resume. "
                       "Fix what the message says, then start a new job from the form above.")
        if resumable and b2.button("Resume", key=f"train.resume.{job_id}", type="primary"):
            try:
                jobs.resume(job_id, **spawn)
            except DeepSynthError as error:
                show_error(error)
            else:
                st.rerun()
        if current.log_path.is_file():
            b3.download_button("Download the whole log", data=current.log_path.read_bytes, file_name=f"{job_id}.log",
                               mime="text/plain", key=f"train.log.download.{job_id}")

    draw()
