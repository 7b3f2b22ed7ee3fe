"""This machine's hardware for the pages (probed once per server: nvidia-smi, no torch), and what
a training configuration will do on it."""

from __future__ import annotations

import os
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


LOAD_KEY = "deepsynth.load_average"  # tests put a load average here; the app measures the real one


def load_average() -> float:
    """Runnable threads of other work, averaged over the last minute (0 where the OS cannot say)."""
    if LOAD_KEY in st.session_state:
        return float(st.session_state[LOAD_KEY])
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def describe_run(config: Any, split_counts: dict, running: int = 0) -> Any:
    """`RunHere` for a `TrainConfig` on a dataset of `split_counts`, started next to `running`
    other jobs, at the load measured now."""
    from deepsynth.estimate.this_machine import run_here

    return run_here(config, split_counts, here(), concurrent_jobs=running + 1, load_average=load_average())
