"""Peak memory of each phase of a run (load, read, train, evaluate), for the job report.

The figure is the process's resident set (what the machine must have, libraries and allocator
slack included), not only the tensors `training.memory` counts. Linux keeps a high-water mark of
the resident set (`VmHWM` in /proc/self/status) that writing `5` to /proc/self/clear_refs resets
(proc(5)); so each phase starts by resetting it and ends by reading it. Where that cannot be done
(another OS, a locked-down /proc), the process's lifetime peak (`ru_maxrss`) is reported instead and
the report says so (`since_start`). On CUDA the phase's `torch.cuda.max_memory_allocated` is added.
No torch import here unless CUDA is in use.
"""

from __future__ import annotations

import contextlib
import resource
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

PHASES = ("load", "read", "train", "evaluate")
"""The phases a run reports, in order."""
STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")
RESET_PEAK = "5"
"""What /proc/self/clear_refs takes to reset the resident high-water mark (proc(5))."""


def _status_kib(field: str) -> int | None:
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cuda_available() -> bool:
    """Whether this torch can count CUDA memory (a run planned for CUDA on a CPU-only build cannot)."""
    import torch

    return bool(torch.cuda.is_available())


def _reset_peak() -> bool:
    try:
        CLEAR_REFS.write_text(RESET_PEAK)
        return True
    except OSError:
        return False


def _lifetime_peak_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # bytes on macOS, KiB on Linux


class PhaseMemory:
    """Peak resident bytes per phase. `begin("read")` ends the phase under way (reporting its peak
    through `report(phase, details)`) and starts the next; `end()` ends the last one. Marking
    boundaries, rather than wrapping blocks, keeps the worker's code as it reads."""

    def __init__(self, report: Callable[[str, dict[str, Any]], None], cuda: bool = False) -> None:
        self.report, self.cuda = report, cuda and _cuda_available()
        self.peaks: dict[str, int] = {}
        self.since_start = False
        self._current: str | None = None
        self._resettable = False

    def begin(self, phase: str) -> None:
        self.end()
        self._current = phase
        self._resettable = _reset_peak()
        if self.cuda:
            import torch

            torch.cuda.reset_peak_memory_stats()

    def end(self) -> None:
        phase, self._current = self._current, None
        if phase is None:
            return
        peak = _status_kib("VmHWM") if self._resettable else None
        if peak is None:
            self.since_start = True
            value = _lifetime_peak_bytes()
        else:
            value = peak * 1024
        self.peaks[phase] = max(value, self.peaks.get(phase, 0))
        details: dict[str, Any] = {"peak_rss_bytes": self.peaks[phase]}
        if self.cuda:
            import torch

            details["peak_cuda_bytes"] = int(torch.cuda.max_memory_allocated())
        self.report(phase, details)

    @contextlib.contextmanager
    def measure(self, phase: str) -> Iterator[None]:
        self.begin(phase)
        try:
            yield
        finally:
            self.end()

    def summary(self) -> dict[str, Any]:
        """{"load": bytes, ..., "since_start": bool} as the job report shows it."""
        return {**self.peaks, "since_start": self.since_start}
