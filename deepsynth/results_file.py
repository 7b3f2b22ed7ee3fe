"""Results files: what a measuring command found, with where and when it was measured.

A benchmark (`bench/*.py`) or `deepsynth demo --results FILE` writes one JSON file per measurement,
kept under `docs/results/<name>.json`; the README's tables of figures are generated from these files
(`scripts/render_readme_results.py`), so a figure in the README is always one a command wrote.

    started = start_measuring()                # the date and the load average, before the work
    ...                                        # measure
    write_results("docs/results/sweep.json", "sweep", started,
                  tables={"sweep": Table(["arm", "wall s"], [["sweep", 101.4]])},
                  notes=["The sweep was 1.51x faster."], figures={"wall_s": {...}})

The file holds the command line, the machine (CPU model, cores, memory), the load average at the
start, the date, the git commit at the start (and whether tracked files had changes), the seconds the measurement
took, and what was measured: `tables` (rendered into the README as they are), `notes` (sentences
with figures, rendered below them) and `figures` (the raw numbers, for whoever checks).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from deepsynth.atomic_files import write_bytes_atomic

FORMAT = 1
LOADED = 1.0
"""Load average per core at the start above which the file (and the README) says "loaded machine"."""


@dataclass(frozen=True)
class Table:
    """A table of figures as the README shows it: column names and rows of cells (numbers are
    written as the measuring command formatted them: pass strings for a fixed precision)."""

    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"columns": list(self.columns), "rows": [list(row) for row in self.rows]}


@dataclass(frozen=True)
class Started:
    """When a measurement started, the code it measures (the commit then) and how busy the machine was."""

    date: str
    load_average: tuple[float, float, float]
    git: dict[str, Any]
    monotonic: float = field(repr=False)


def start_measuring() -> Started:
    """Call before the work: the load average is the one the measurement started under."""
    return Started(dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(), _load_average(),
                   git_commit(), time.monotonic())


def _load_average() -> tuple[float, float, float]:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return (0.0, 0.0, 0.0)
    return (round(one, 2), round(five, 2), round(fifteen, 2))


def machine() -> dict[str, Any]:
    """CPU model, cores (all, and usable by this process), memory, platform."""
    cpu_model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = None
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                ram = int(line.split()[1]) * 1024
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu_model": cpu_model, "cpu_cores": os.cpu_count(), "cores_usable": usable, "ram_bytes": ram,
            "platform": platform.platform(), "python": platform.python_version()}


def git_commit(folder: str | Path | None = None) -> dict[str, Any]:
    """The checkout's commit and whether it had uncommitted changes (None outside a git checkout)."""
    cwd = str(folder or Path(__file__).resolve().parents[1])
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return {"commit": None, "changed": None}
    if head.returncode != 0:
        return {"commit": None, "changed": None}
    return {"commit": head.stdout.strip(), "changed": bool(status.stdout.strip()) if status.returncode == 0 else None}


def is_loaded(load_average: Sequence[float], cores: int | None) -> bool:
    return bool(load_average) and load_average[0] > LOADED * max(1, cores or 1)


def write_results(path: str | Path, name: str, started: Started, *, tables: Mapping[str, Table] | None = None,
                  notes: Sequence[str] = (), figures: Mapping[str, Any] | None = None,
                  command: Sequence[str] | None = None) -> Path:
    """Write the results file `path` (JSON, atomically) and return it. `command` defaults to this
    process's command line (`sys.argv`, the script path made relative to the working directory)."""
    argv = list(command) if command is not None else _command_line()
    host = machine()
    record = {
        "format": FORMAT, "name": name, "command": " ".join(argv), "date": started.date,
        "seconds": round(time.monotonic() - started.monotonic, 1),
        "machine": host, "load_average_at_start": list(started.load_average),
        "loaded_machine": is_loaded(started.load_average, host["cores_usable"]),
        "git": started.git,
        "tables": {key: table.to_dict() for key, table in (tables or {}).items()},
        "notes": list(notes), "figures": dict(figures or {}),
    }
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out, (json.dumps(record, indent=2, default=str) + "\n").encode("utf-8"))
    return out


def _command_line() -> list[str]:
    """`deepsynth VERB ...` for the CLI (console script or `python -m deepsynth`), `python SCRIPT ...`
    with the script relative to the working directory for a benchmark."""
    argv = list(sys.argv)
    if argv and Path(argv[0]).name in ("deepsynth", "__main__.py"):
        return ["deepsynth", *argv[1:]]
    if argv and argv[0].endswith(".py"):
        try:
            argv[0] = str(Path(argv[0]).resolve().relative_to(Path.cwd()))
        except ValueError:
            pass
        return ["python", *argv]
    return argv


def read_results(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))
