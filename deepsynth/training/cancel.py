"""Cancel by signal: SIGTERM (from `deepsynth jobs cancel`) or Ctrl-C stops the worker cleanly.

Outside the step loop the handler raises `Cancelled` at once (reading pages or evaluating can take
minutes). Inside a step it only records the request (`deferred()`): the step finishes, the loop
writes a checkpoint, and then raises, so no half-applied optimizer update is ever saved.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Iterator

from deepsynth.errors import DeepSynthError

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Cancelled(DeepSynthError):
    """The run was asked to stop (SIGTERM or Ctrl-C)."""


class CancelSignal:
    """Installs the handlers; `check()` raises if a stop was requested."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self._deferring = False
        self._previous: dict[int, Any] = {}

    def install(self) -> "CancelSignal":
        if threading.current_thread() is threading.main_thread():  # signal handlers: main thread only
            for number in SIGNALS:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def restore(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    def _handle(self, number: int, _frame: Any) -> None:
        first = self.requested is None
        self.requested = signal.Signals(number).name
        if first and not self._deferring:
            raise Cancelled(f"cancelled by {self.requested}")

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Inside the block a signal only sets `requested`; call `check()` after it."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False

    def check(self) -> None:
        if self.requested:
            raise Cancelled(f"cancelled by {self.requested}")
