"""The adapter packages kept in the workspace: where a run's package goes by default, and which
packages are already there (newest first). The Registry page and `deepsynth export` share these."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from deepsynth import paths

PACKAGE_SUFFIX = ".zip"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class WorkspacePackage:
    """One package file in the workspace's exports folder."""

    path: Path
    """The ZIP file."""
    size_bytes: int
    """Its size on disk."""
    modified: float
    """Its modification time (seconds since the epoch)."""


def default_package_path(run_name: str | None, run_id: str, folder: Path | None = None) -> Path:
    """`<exports>/<run name>-<first 8 of the run id>.zip`: the run name made safe for a file name
    (anything but letters, digits, `.`, `_` and `-` becomes `-`), `adapter` when it has none."""
    stem = _UNSAFE.sub("-", run_name or "adapter").strip("-") or "adapter"
    return (folder or paths.exports_dir()) / f"{stem}-{run_id[:8]}{PACKAGE_SUFFIX}"


def workspace_packages(folder: Path | None = None) -> list[WorkspacePackage]:
    """The packages in the exports folder, newest first (none when the folder does not exist)."""
    folder = folder or paths.exports_dir()
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob(f"*{PACKAGE_SUFFIX}"):
        try:
            stat = path.stat()
        except OSError:  # removed while listing
            continue
        if path.is_file():
            found.append(WorkspacePackage(path, stat.st_size, stat.st_mtime))
    return sorted(found, key=lambda package: package.modified, reverse=True)
