"""Dashboard settings (tracking URI, data folder, MLflow UI address, model downloads), kept in a JSON file.

They live on disk, not in session state, so a browser reload or a dashboard restart keeps them:
`<workspace>/workspace/dashboard.json`. An empty value means the library default
(`MLFLOW_TRACKING_URI` or the workspace's mlflow.db; `workspace/datasets`).

**Allow model downloads** is the dashboard's `--allow-download`: off (the default), a model named by
hub id is read from this machine's Hugging Face cache only, and every page that would fetch one
(the Estimate page's Download, Train, the Playground on an adapter whose base the cache lacks) says
what is missing instead. Only an admin changes it (the "allow download" action of
`deepsynth/dashboard_host/roles.py`: `deepsynth dashboard --admin NAME`); a dashboard without
sign-in (127.0.0.1, the machine's own user) has one person, who is its admin.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import streamlit as st

from deepsynth import paths
from deepsynth.atomic_files import write_json_atomic

SETTINGS_FILE = "dashboard.json"


@dataclass(frozen=True)
class Settings:
    """What the sidebar lets the user choose for every page."""

    tracking_uri: str = ""
    """MLflow tracking URI; empty: `MLFLOW_TRACKING_URI` or `<workspace>/mlflow.db`."""
    data_dir: str = ""
    """Folder holding built datasets; empty: `<workspace>/workspace/datasets`."""
    mlflow_ui_url: str = "http://127.0.0.1:5000"
    """Where `deepsynth server` / `mlflow ui` serves, for links to each run."""
    allow_downloads: bool = False
    """Whether the dashboard may download a model named by hub id that the Hugging Face cache lacks
    (with a progress bar); off, it reads the cache only. Only an admin changes it."""

    @property
    def uri(self) -> str:
        return self.tracking_uri.strip() or paths.default_tracking_uri()

    @property
    def datasets(self) -> Path:
        return Path(self.data_dir).expanduser() if self.data_dir.strip() else paths.datasets_dir()


def settings_path() -> Path:
    return paths.home() / "workspace" / SETTINGS_FILE


def load() -> Settings:
    """The saved settings (defaults where the file is missing, unreadable or has unknown keys)."""
    try:
        data = json.loads(settings_path().read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return Settings()
    if not isinstance(data, dict):
        return Settings()
    kinds = {f.name: type(f.default) for f in fields(Settings)}
    return Settings(**{k: (v is True if kinds[k] is bool else str(v)) for k, v in data.items() if k in kinds})


def save(settings: Settings) -> None:
    write_json_atomic(settings_path(), asdict(settings))


def _save_from_widgets() -> None:
    from ui import login

    if not login.session_is_live():  # a callback runs before the page's gate: check here too
        return
    changes = {f.name: st.session_state[f"settings.{f.name}"] for f in fields(Settings)
               if f"settings.{f.name}" in st.session_state and f.name != DOWNLOADS}
    save(replace(load(), **changes))


DOWNLOADS = "allow_downloads"
DOWNLOADS_KEY = f"settings.{DOWNLOADS}"
DOWNLOADS_LABEL = "Allow model downloads"
REFUSED_KEY = "settings.refused"


def _save_downloads() -> None:
    """The admin's switch: saved for an admin; anyone else's change is undone and refused."""
    from deepsynth.dashboard_host import roles
    from ui import login

    if not login.session_is_live():
        return
    user = login.signed_in_user()
    if not roles.may(user, roles.ALLOW_DOWNLOAD):
        st.session_state[DOWNLOADS_KEY] = load().allow_downloads
        st.session_state[REFUSED_KEY] = roles.refusal(user, roles.ALLOW_DOWNLOAD)
        return
    save(replace(load(), allow_downloads=bool(st.session_state[DOWNLOADS_KEY])))


def downloads_allowed() -> bool:
    """Whether the dashboard may download models now (the admin's switch, as saved)."""
    return load().allow_downloads


def sidebar() -> Settings:
    """The settings form in the sidebar; each edit is written to disk at once."""
    saved = load()
    with st.sidebar.expander("Settings", expanded=False):
        st.text_input("Tracking URI", value=saved.tracking_uri, key="settings.tracking_uri",
                      placeholder=paths.default_tracking_uri(), on_change=_save_from_widgets,
                      help="MLflow store: sqlite:///path/mlflow.db or http://host:port. Empty: the workspace default.")
        st.text_input("Data folder", value=saved.data_dir, key="settings.data_dir",
                      placeholder=str(paths.datasets_dir()), on_change=_save_from_widgets,
                      help="Where datasets are built and looked for.")
        st.text_input("MLflow UI", value=saved.mlflow_ui_url, key="settings.mlflow_ui_url",
                      on_change=_save_from_widgets, help="Base address for links to runs (`deepsynth server`).")
        _downloads_switch(saved)
    return load()


def _downloads_switch(saved: Settings) -> None:
    from deepsynth.dashboard_host import roles
    from ui import login

    admin = roles.may(login.signed_in_user(), roles.ALLOW_DOWNLOAD)
    if not admin or DOWNLOADS_KEY not in st.session_state:
        st.session_state[DOWNLOADS_KEY] = saved.allow_downloads  # another admin's change shows here too
    st.checkbox(DOWNLOADS_LABEL, key=DOWNLOADS_KEY, on_change=_save_downloads, disabled=not admin,
                help="Lets the dashboard download a model named by Hugging Face hub id (ORG/NAME) that is not in "
                     "this machine's Hugging Face cache, with a progress bar (the Estimate page's Download, "
                     "Train, the Playground on an adapter whose base is missing). Off: the cache only. "
                     + ("Only admins change it." if admin else "Only the dashboard's admins change it."))
    refused = st.session_state.pop(REFUSED_KEY, None)
    if refused:
        st.error(refused)
