"""The GPUs this machine has and their memory, from `nvidia-smi`: no torch and no CUDA context in
the caller, and it sees other processes' memory. The ground floor under the estimator (which
describes this machine) and the training GPU queue (which waits for free memory)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from deepsynth.errors import DeepSynthError

MIB = 1 << 20
NVIDIA_SMI = ["nvidia-smi", "--query-gpu=index,memory.total,memory.free", "--format=csv,noheader,nounits"]


class GpuUnavailable(DeepSynthError):
    """No usable GPU: the probe failed, the run can never fit, or the queue wait timed out."""


@dataclass(frozen=True)
class GpuMemory:
    """One GPU's memory as a probe saw it."""

    index: int
    """CUDA device index."""
    total_bytes: int
    """Memory on the device."""
    free_bytes: int
    """Memory no process holds right now."""


Probe = Callable[[], Sequence[GpuMemory]]


def nvidia_smi_probe(run: Callable[..., Any] = subprocess.run) -> list[GpuMemory]:
    """Every GPU's total and free memory from `nvidia-smi` (values in MiB)."""
    try:
        result = run(NVIDIA_SMI, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise GpuUnavailable(f"cannot query the GPUs with nvidia-smi: {error}") from None
    if result.returncode != 0:
        raise GpuUnavailable(f"nvidia-smi failed ({result.returncode}): {result.stderr.strip()[:300]}")
    rows = []
    for line in result.stdout.splitlines():
        if not line.strip():
            continue
        try:
            index, total, free = (int(float(part)) for part in line.split(","))
        except ValueError:
            raise GpuUnavailable(f"unexpected nvidia-smi output: {line!r}") from None
        rows.append(GpuMemory(index, total * MIB, free * MIB))
    return rows
