"""Where DeepSynth keeps things on disk.

Workspace (datasets, jobs, the local MLflow store) lives under `DEEPSYNTH_HOME`, default: the
current directory, so `mlflow.db` and `mlruns/` sit in the project as the README describes.
Converted model weights and encoder caches live in the user cache dir (`DEEPSYNTH_CACHE`
overrides), because they are expensive to rebuild and shared between projects.

Everything DeepSynth creates is private to the user who runs it (folders 700, files 600): a process
that enters through the CLI (`deepsynth.cli.main`, hence every job, sweep worker, dashboard and
tracking server it starts) first sets the umask `PRIVATE_UMASK`. Logs, `mlflow.db`, run artifacts
(evaluation documents, configs) and datasets would otherwise be readable by every local account.
A team that shares one workspace through a Unix group sets `DEEPSYNTH_UMASK=007` (group members
read and write, others nothing).
"""

from __future__ import annotations

import os
from pathlib import Path


PRIVATE_UMASK = 0o077
"""What DeepSynth creates: folders rwx------ (700), files rw------- (600)."""
UMASK_ENV = "DEEPSYNTH_UMASK"
"""An octal umask for a team store shared through a Unix group (e.g. `007`); unset: `PRIVATE_UMASK`."""


def configured_umask() -> int:
    """The umask DeepSynth runs under: `DEEPSYNTH_UMASK` (octal, it must keep others out) or
    `PRIVATE_UMASK`."""
    from deepsynth.errors import InputError

    value = os.environ.get(UMASK_ENV, "").strip()
    if not value:
        return PRIVATE_UMASK
    try:
        mask = int(value, 8)
    except ValueError:
        mask = -1
    if not 0 <= mask <= 0o777 or mask & 0o007 != 0o007:
        raise InputError(f"{UMASK_ENV}={value[:20]!r}: must be an octal umask that keeps other users out "
                         "(its last digit 7), e.g. 077 (private, the default) or 007 (shared with your group)")
    return mask


def apply_umask() -> int:
    """Set this process's umask to `configured_umask()` (its children inherit it); returns it."""
    mask = configured_umask()
    os.umask(mask)
    return mask


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
