"""The live panel of one training job: status, step, loss curve, samples/s, ETA, log tail, and the
cancel / resume buttons. It reruns on its own every 2 s while the job runs (`st.fragment`), reading
only the job folder and the run's metric history, so the rest of the page stays still."""

from __future__ import annotations

from typing import Callable

import plotly.express as px
import streamlit as st

from deepsynth import jobs
from deepsynth.errors import DeepSynthError
from deepsynth.jobs.progress import eta_seconds, log_tail, planned_steps
from deepsynth.units import readable_duration
from ui import cached
from ui.widgets import job_status, show_error

REFRESH = "2s"
CURVES = ("train/loss", "train/samples_per_s")


def panel(job_id: str, uri: str, spawn: dict[str, Callable]) -> None:
    """Draw the panel for `job_id`; refreshes itself while the job is alive."""
    job = jobs.get_job(job_id)

    @st.fragment(run_every=REFRESH if job.alive else None)
    def draw() -> None:
        current = jobs.get_job(job_id)
        if current.state != job.state:  # started, finished or failed since the page drew: redraw all of it
            st.rerun()
        job_status(current)
        history = cached.live_history(current.tracking_uri or uri, current.run_id, CURVES) if current.run_id else None
        loss = history[history["key"] == "train/loss"] if history is not None else None
        speed = history[history["key"] == "train/samples_per_s"] if history is not None else None
        total = planned_steps(current.job_dir)
        eta = eta_seconds(loss["step"].tolist(), loss["timestamp"].tolist(), total) if loss is not None else None
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Step", f"{current.step if current.step is not None else '—'}" + (f" / {total}" if total else ""))
        c2.metric("Loss", f"{loss['value'].iloc[-1]:.4f}" if loss is not None and len(loss) else "—")
        c3.metric("Samples/s", f"{speed['value'].iloc[-1]:.2f}" if speed is not None and len(speed) else "—")
        c4.metric("ETA", readable_duration(eta) if current.alive else "—")
        if loss is not None and len(loss):
            figure = px.line(loss, x="step", y="value", labels={"value": "train/loss"})
            figure.update_layout(height=280, margin=dict(l=10, r=10, t=10, b=10))
            st.plotly_chart(figure, key=f"train.live.loss.{job_id}")
        st.code(log_tail(current.log_path) or "(no output yet)", language=None)
        b1, b2, _ = st.columns([1, 1, 4])
        if current.alive and b1.button("Cancel", key=f"train.cancel.{job_id}"):
            with st.spinner("Stopping the job (checkpoint, then exit)…"):
                jobs.cancel(job_id)
            st.rerun()
        resumable = current.state in (jobs.FAILED, jobs.KILLED) and current.run_id
        if resumable and b2.button("Resume", key=f"train.resume.{job_id}"):
            try:
                jobs.resume(job_id, **spawn)
            except DeepSynthError as error:
                show_error(error)
            else:
                st.rerun()

    draw()
