"""Polling in tests: wait until something is true, or fail naming what never happened."""

from __future__ import annotations

import time


def wait_for(condition, timeout_s: float = 30.0, what: str = "condition", poll_s: float = 0.05):
    """Poll `condition()` until it returns something true (returned); fail naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
