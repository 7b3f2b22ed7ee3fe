"""Seconds a job spent in each phase (`estimate.job_time.JOB_PHASES`), as it ran.

    clock = PhaseClock()            # `load` counts from the process start (imports included)
    with clock.phase("read"): ...
    clock.publish(record)           # metrics time/<phase>_s, time/<phase>_cpu_s; report.json phase_seconds

Wall seconds are what the user waited; CPU seconds (this process, all threads) tell a busy machine
from a slow estimate: on an idle machine wall ~ CPU / threads. The job panel puts them beside the
plan's per-phase estimate (`estimate.job_time.phase_seconds`).
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any, Iterator

from deepsynth.estimate.job_time import JOB_PHASES


def process_started_at() -> float:
    """This process's start (epoch seconds): the `load` phase includes the imports before `train()`."""
    try:
        import psutil

        return psutil.Process(os.getpid()).create_time()
    except Exception:  # psutil missing or no /proc: count from now
        return time.time()


class PhaseClock:
    """Accumulates wall and CPU seconds per phase; a phase may be entered more than once."""

    def __init__(self, started_at: float | None = None) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._current: tuple[str, float, float] | None = None
        self._wall_mark = time.time()
        self._cpu_mark = time.process_time()
        # `load` so far: from the process start to now (CPU: the process's own time so far)
        self.add("load", self._wall_mark - (started_at if started_at is not None else process_started_at()),
                 self._cpu_mark)

    def add(self, phase: str, wall: float, cpu: float) -> None:
        if phase not in JOB_PHASES:
            raise ValueError(f"unknown phase {phase!r}; one of {', '.join(JOB_PHASES)}")
        self.wall[phase] = self.wall.get(phase, 0.0) + max(0.0, wall)
        self.cpu[phase] = self.cpu.get(phase, 0.0) + max(0.0, cpu)

    def start(self, name: str) -> None:
        """Begin phase `name` (ending the one under way, if any)."""
        self.stop()
        self._current = (name, time.time(), time.process_time())

    def stop(self) -> None:
        """End the phase under way (nothing when none is)."""
        if self._current is not None:
            name, wall, cpu = self._current
            self._current = None
            self.add(name, time.time() - wall, time.process_time() - cpu)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.start(name)
        try:
            yield
        finally:
            self.stop()

    def publish(self, record: Any) -> None:
        """Log the phases so far: metrics `time/<phase>_s` and `time/<phase>_cpu_s` (step 0) and
        report.json `phase_seconds` {phase: wall}, `phase_cpu_seconds`."""
        metrics = {f"time/{name}_s": round(seconds, 3) for name, seconds in self.wall.items()}
        metrics.update({f"time/{name}_cpu_s": round(seconds, 3) for name, seconds in self.cpu.items()})
        if metrics:
            record.metrics(metrics, 0, flush=True)
        record.report(phase_seconds={k: round(v, 3) for k, v in self.wall.items()},
                      phase_cpu_seconds={k: round(v, 3) for k, v in self.cpu.items()})
