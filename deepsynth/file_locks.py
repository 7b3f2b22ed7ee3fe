"""Advisory file locks (`flock`) shared by processes that never talk to each other directly: the job
queue's writers and its one runner. The kernel releases a lock when its process dies, so a killed
holder never leaves it stuck."""

from __future__ import annotations

import fcntl
import time
from pathlib import Path
from typing import IO


def try_lock(path: Path, wait_s: float, poll_s: float = 0.02) -> IO[str] | None:
    """An exclusive lock on `path` (created if missing), waiting up to `wait_s`; the open handle
    (close it to release) or None when another process kept it that long."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() > deadline:
                handle.close()
                return None
            time.sleep(poll_s)
