"""Helpers for the fault tests: `deepsynth train` arguments for the tiny model, a `spawn` that
injects a fault into the worker (fault_injection.py), polling (`wait_for`, from tests/waiting.py),
and process-group inspection."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
from waiting import wait_for  # noqa: F401  (the fault tests take it from here)

FAULT_SCRIPT = Path(__file__).with_name("fault_injection.py")


def train_args(dataset: str, uri: str, output_dir: Path, max_steps: int, checkpoint_every: int,
               *extra: str) -> list[str]:
    """`deepsynth train` flags for a short tiny-model run: 1 thread, no evaluation, no system metrics."""
    return ["--dataset", dataset, "--preset", "minimal", "--model", "tiny", "--max-steps", str(max_steps),
            "--batch-size", "4", "--lr", "1e-3", "--warmup-steps", "0", "--checkpoint-every",
            str(checkpoint_every), "--eval-docs", "0", "--tracking-uri", uri, "--output-dir", str(output_dir),
            "--threads", "1", "--no-system-metrics", "--experiment", "tests-reliability", *extra]


def faulty_spawn(fault: str):
    """A `spawn` for `deepsynth.jobs` running the worker with `fault` injected (see fault_injection.py):
    the same arguments, environment, log file and own session as `python -m deepsynth train`."""
    from fault_injection import FAULT_ENV

    def spawn(argv, **options):
        assert argv[1:3] == ["-m", "deepsynth"], argv
        options["env"] = dict(options["env"], **{FAULT_ENV: fault})
        return subprocess.Popen([argv[0], str(FAULT_SCRIPT), *argv[3:]], **options)

    return spawn


def process_group(pgid: int) -> list[psutil.Process]:
    """Live members of a process group (zombies included: they are a leak too)."""
    members = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid:
                members.append(process)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return members


def python_child(code: str, *args: str, **options) -> subprocess.CompletedProcess:
    """Run a short Python program in a fresh interpreter (a "dashboard" that starts and exits)."""
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                          **options)
