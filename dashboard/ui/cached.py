"""MLflow queries and long-lived resources, cached for the dashboard.

`st.cache_data` with a short TTL: a page rerun (every widget change) must not re-query the store,
yet a run finishing elsewhere shows up within seconds. Arguments are the tracking URI and tuples,
so two stores or two filters never share an entry. `st.cache_resource` holds what is expensive to
build and safe to share between sessions: the render worker pool (its workers keep their font and
word caches between builds).
"""

from __future__ import annotations

import threading
from typing import Any

import streamlit as st

RUNS_TTL_S = 10
LIVE_TTL_S = 2


def _queries() -> Any:
    # mlflow loads with this module (~1.7 s): only when a page first needs it, or in `warm_up`
    from deepsynth.tracking import queries

    return queries


@st.cache_data(ttl=RUNS_TTL_S, show_spinner=False)
def experiments(uri: str) -> list[Any]:
    return _queries().list_experiments(uri)


@st.cache_data(ttl=RUNS_TTL_S, show_spinner=False)
def runs(uri: str, experiment_names: tuple[str, ...] | None = None, statuses: tuple[str, ...] = (),
         filter_string: str = "", max_results: int = 5000) -> list[Any]:
    return _queries().list_runs(experiment_names, status=list(statuses) or None,
                                filter_string=filter_string, max_results=max_results, uri=uri)


@st.cache_data(ttl=RUNS_TTL_S, show_spinner=False)
def histories(uri: str, run_ids: tuple[str, ...], keys: tuple[str, ...]) -> Any:
    return _queries().metric_histories(run_ids, keys, uri=uri)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def live_history(uri: str, run_id: str, keys: tuple[str, ...]) -> Any:
    """One running job's curves, refreshed every couple of seconds by the live panel."""
    return _queries().metric_histories([run_id], keys, uri=uri)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def live_histories(uri: str, run_ids: tuple[str, ...], keys: tuple[str, ...]) -> Any:
    """Several jobs' curves at the live panel's pace (the jobs table shows the same step)."""
    return _queries().metric_histories(run_ids, keys, uri=uri)


@st.cache_data(ttl=RUNS_TTL_S, show_spinner=False)
def adapters(uri: str) -> list[Any]:
    from deepsynth.tracking.registry import list_adapters

    return list_adapters(uri)


def clear() -> None:
    """After the dashboard changed the store (registered, aliased): show it on the next rerun."""
    st.cache_data.clear()


@st.cache_resource(show_spinner=False)
def render_pool(workers: int) -> Any:
    """Render worker processes kept alive across dataset builds and sessions."""
    from deepsynth.data import RenderPool

    return RenderPool(workers)


@st.cache_resource(show_spinner=False)
def font_choices() -> list[str]:
    """Font names offered by the render settings: the bundled ones that are installed here."""
    from deepsynth.render.fonts import FONT_NAMES, font_problem

    return [name for name in FONT_NAMES if font_problem(name) is None]


@st.cache_resource(show_spinner=False)
def warm_up(uri: str) -> threading.Thread:
    """Import mlflow and open the store once per server and URI, in the background.

    The first MLflow query of a process costs ~2.6 s here (1.7 s importing mlflow, ~1 s opening the
    sqlite engine); started when the dashboard first loads, it is paid while the user reads the
    first page instead of when they open Compare. A failure here is left for the page to report."""

    def run() -> None:
        try:
            _queries().list_experiments(uri)
        except Exception:  # an unreachable store: the page that needs it shows the error
            pass
        try:  # the Compare page's charts and tables (plotly: ~0.3-0.8 s to import and draw a first figure)
            from deepsynth.tracking.compare import charts, runs  # noqa: F401

            charts.score_chart(charts.empty_scores(), {}, {})
        except Exception:  # nothing depends on it: the page builds its own
            pass

    thread = threading.Thread(target=run, name="deepsynth-tracking-warm-up", daemon=True)
    thread.start()
    return thread
