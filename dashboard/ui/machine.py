"""This machine's hardware for the pages (probed once per server: nvidia-smi, no torch), and what
a training configuration will do on it."""

from __future__ import annotations

from typing import Any

import streamlit as st

MACHINE_KEY = "deepsynth.machine"  # tests put a `Machine` here; the app probes the real one


@st.cache_resource(show_spinner=False)
def _probed() -> Any:
    from deepsynth.estimate.this_machine import probe_machine

    return probe_machine()


def here() -> Any:
    """The `Machine` the dashboard runs on (its jobs train here too)."""
    return st.session_state.get(MACHINE_KEY) or _probed()


def describe_run(config: Any, train_docs: int, running: int = 0) -> Any:
    """`RunHere` for a `TrainConfig` started next to `running` other jobs."""
    from deepsynth.estimate.this_machine import run_here

    return run_here(config, train_docs, here(), concurrent_jobs=running + 1)
