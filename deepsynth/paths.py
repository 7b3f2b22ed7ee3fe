"""Where DeepSynth keeps things on disk.

Workspace (datasets, jobs, the local MLflow store) lives under `DEEPSYNTH_HOME`, default: the
current directory, so `mlflow.db` and `mlruns/` sit in the project as the README describes.
Converted model weights and encoder caches live in the user cache dir (`DEEPSYNTH_CACHE`
overrides), because they are expensive to rebuild and shared between projects.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("DEEPSYNTH_HOME", os.getcwd())).resolve()


def cache_dir() -> Path:
    explicit = os.environ.get("DEEPSYNTH_CACHE")
    if explicit:
        path = Path(explicit)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = Path(base) / "deepsynth"
    path.mkdir(parents=True, exist_ok=True)
    return path


def jobs_dir() -> Path:
    return home() / "workspace" / "jobs"


def datasets_dir() -> Path:
    return home() / "workspace" / "datasets"


def sweeps_dir() -> Path:
    """One folder per sweep: its definition, points and the log of its summary run."""
    return home() / "workspace" / "sweeps"


def models_dir() -> Path:
    """Where the dashboard looks for model folders (a folder, or a link to one, per model)."""
    return home() / "workspace" / "models"


def exports_dir() -> Path:
    return home() / "workspace" / "exports"


def default_tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI` if set, else a sqlite database in the workspace root."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home() / 'mlflow.db'}"


def default_artifact_root() -> str:
    return (home() / "mlruns").as_uri()
