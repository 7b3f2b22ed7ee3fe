"""Dashboard settings (tracking URI, data folder, MLflow UI address), kept in a JSON file.

They live on disk, not in session state, so a browser reload or a dashboard restart keeps them:
`<workspace>/workspace/dashboard.json`. An empty value means the library default
(`MLFLOW_TRACKING_URI` or the workspace's mlflow.db; `workspace/datasets`).
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
    known = {f.name for f in fields(Settings)}
    return Settings(**{k: str(v) for k, v in data.items() if k in known}) if isinstance(data, dict) else Settings()


def save(settings: Settings) -> None:
    write_json_atomic(settings_path(), asdict(settings))


def _save_from_widgets() -> None:
    from ui import login

    if not login.session_is_live():  # a callback runs before the page's gate: check here too
        return
    changes = {f.name: st.session_state[f"settings.{f.name}"] for f in fields(Settings)
               if f"settings.{f.name}" in st.session_state}
    save(replace(load(), **changes))


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
    return load()
