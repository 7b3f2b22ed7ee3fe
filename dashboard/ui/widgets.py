"""Widgets more than one page uses: field-level errors, the run picker, job status, an MLflow link."""

from __future__ import annotations

from typing import Any

import streamlit as st

from deepsynth.configuration import ConfigError

# Material icons ship with Streamlit's frontend (no emoji font needed); they render in markdown.
STATE_ICONS = {"RUNNING": ":green[:material/play_circle:]", "CANCELLING": ":orange[:material/pending:]",
               "FINISHED": ":green[:material/check_circle:]", "FAILED": ":red[:material/error:]",
               "KILLED": ":gray[:material/stop_circle:]", "SCHEDULED": ":gray[:material/schedule:]",
               "QUEUED": ":orange[:material/hourglass_top:]"}  # waiting for GPU memory (deepsynth.jobs)


class FieldErrors:
    """Placeholders under input widgets, filled with a `ConfigError`'s messages for that field.

    Widgets come first (their values build the config), validation after; the placeholder keeps
    each message next to its field. Problems about fields without a slot go in one box at the end.
    """

    def __init__(self) -> None:
        self._slots: dict[str, Any] = {}

    def slot(self, *fields: str) -> None:
        placeholder = st.empty()
        for name in fields:
            self._slots[name] = placeholder

    def show(self, error: ConfigError) -> None:
        grouped: dict[str, list[str]] = {}
        unplaced: list[str] = []
        for name, message in error.problems:
            if name in self._slots:
                grouped.setdefault(name, []).append(message)
            else:
                unplaced.append(f"{name}: {message}")
        by_slot: dict[int, list[str]] = {}
        for name, messages in grouped.items():
            by_slot.setdefault(id(self._slots[name]), []).extend(f"**{name}**: {m}" for m in messages)
        for name, placeholder in self._slots.items():
            messages = by_slot.pop(id(placeholder), None)
            if messages:
                placeholder.error("\n\n".join(messages))
        if unplaced:
            st.error("\n\n".join(unplaced))


def run_label(run: Any) -> str:
    """`rank16 · 1a2b3c4d · FINISHED · ROUGE-L 20.6` (the score by the run's task metric: `CER 12.5`
    for a transcription run): enough to pick the right run."""
    from deepsynth.tracking.alias_guard import scored

    name = run.run_name or "(unnamed)"
    return f"{name} · {run.run_id[:8]} · {run.status} · {scored({**run.tags, **run.metrics}).short()}"


def default_adapter(choices: list[str], scores: dict[str, float | None]) -> list[str]:
    """What the playground starts with: a registered version or alias (someone chose it), else the
    run that scored best (`scores`: oriented so higher is better, `alias_guard.ranking_score`; the
    newest run is often a weak point of a sweep)."""
    from deepsynth.tracking.registry import is_registry_reference

    registered = [choice for choice in choices if is_registry_reference(choice)]
    if registered or not choices:
        return registered[:1]
    scored = [choice for choice in choices if scores.get(choice) is not None]
    return [max(scored, key=lambda choice: scores[choice])] if scored else choices[:1]


def run_picker(runs: list[Any], key: str, label: str = "Run", help: str | None = None,
               on_change: Any = None) -> Any | None:
    """A select box over `runs` (newest first), each with its status and score; returns the chosen
    RunSummary or None."""
    if not runs:
        st.info("No runs in this tracking store yet: train one on the **Train** page.")
        return None
    by_id = {run.run_id: run for run in runs}
    chosen = st.selectbox(label, list(by_id), key=key, format_func=lambda rid: run_label(by_id[rid]), help=help,
                          on_change=on_change)
    return by_id.get(chosen)


def job_status(job: Any) -> None:
    """One line about a job: state, step, attempt, run id, error."""
    step = "—" if job.step is None else str(job.step)
    line = (f"{STATE_ICONS.get(job.state, '')} **{job.state}** · step {step} · attempt {job.attempt}"
            f" · pid {job.pid} · run `{job.run_id or '—'}`")
    st.markdown(line)
    if job.error:
        st.error(job.error)


def run_link(base_url: str, run: Any) -> str:
    """The MLflow UI address of a run (`#/experiments/<id>/runs/<id>`)."""
    return f"{base_url.rstrip('/')}/#/experiments/{run.experiment_id}/runs/{run.run_id}"


def show_error(error: Exception) -> None:
    """A library error for the user: its message, no traceback."""
    st.error(str(error), icon=":material/warning:")


def human_bytes(value: float | None) -> str:
    if value is None or value != value:  # None or NaN (a blank cell in a pandas column)
        return "—"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    return str(value)

