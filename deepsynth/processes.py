"""Process identity: a pid plus its start time names one process, even after the pid is reused.

Jobs, the training worker's run-folder claim and (later) the queue runner all find processes they
started again after a restart; a pid alone would point at a stranger once the kernel reuses it.
"""

from __future__ import annotations

from typing import Any

import psutil

# create_time comes from /proc/<pid>/stat in clock ticks (10 ms): equal for the same process.
START_TIME_TOLERANCE_S = 0.05

_children: dict[int, Any] = {}  # pid -> Popen this process started: polled so none lingers as a zombie


def track_child(child: Any) -> None:
    """Remember a `Popen` we started, so `reap()` collects its exit status once it ends."""
    _children[child.pid] = child


def forget_child(pid: int) -> Any | None:
    """Stop tracking `pid`; returns its `Popen` (to wait on) if we started it."""
    return _children.pop(pid, None)


def reap() -> None:
    """Collect the exit status of children that have ended (no zombies)."""
    for pid, child in list(_children.items()):
        if child.poll() is not None:
            del _children[pid]


def process_start_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def is_our_process(pid: int, create_time: float) -> bool:
    """True if `pid` is alive and is the very process started at `create_time` (not a reuse)."""
    reap()
    try:
        process = psutil.Process(pid)
        if abs(process.create_time() - create_time) > START_TIME_TOLERANCE_S:
            return False
        return process.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
