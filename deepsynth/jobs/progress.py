"""How far a training job has got, for a live view: plan, time left, the end of its log.

Read-only helpers over what the worker leaves behind (report.json, log.txt, its metric history);
no torch, no mlflow, cheap enough to call every couple of seconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from deepsynth.training.report import REPORT_FILE

PACE_WINDOW = 20
"""Steps the pace is measured over: recent enough to follow a slowdown, long enough to be steady."""


def planned_steps(job_dir: str | Path) -> int | None:
    """Steps the worker plans in all (it writes `total_steps` to report.json once it knows)."""
    try:
        value = json.loads((Path(job_dir) / REPORT_FILE).read_text(encoding="utf-8")).get("total_steps")
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return int(value) if isinstance(value, (int, float)) and value > 0 else None


def eta_seconds(steps: Sequence[int], times_ms: Sequence[int], total: int | None) -> float | None:
    """Seconds left at the recent pace (steps per second over the last `PACE_WINDOW` logged steps);
    None when the plan or the pace is unknown."""
    if total is None or len(steps) < 2:
        return None
    first, last = max(0, len(steps) - 1 - PACE_WINDOW), len(steps) - 1
    elapsed_s = (times_ms[last] - times_ms[first]) / 1000
    done = steps[last] - steps[first]
    if elapsed_s <= 0 or done <= 0:
        return None
    return max(0.0, (total - steps[last]) * elapsed_s / done)


def log_tail(path: str | Path, lines: int = 40, max_bytes: int = 64_000) -> str:
    """The last `lines` lines of a (possibly large, growing) log, reading at most `max_bytes`."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except FileNotFoundError:
        return ""
    return "\n".join(data.decode("utf-8", errors="replace").splitlines()[-lines:])
