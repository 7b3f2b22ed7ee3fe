"""Measured training memory, logged beside `deepsynth.estimate`'s prediction.

CPU: RSS is not trustworthy (glibc reuses freed memory; 38-90% off, docs in docs/MEASURING.md),
so one step runs under `torch.profiler.profile(profile_memory=True)`; the peak of the running sum
of its allocation events is the step's transient peak, to which the resident tensors (the
model's parameters and buffers, the optimizer state, the batch) are added.
CUDA: `torch.cuda.max_memory_allocated()` since the last reset (the CUDA context, a few hundred
MB, is not included, as in the estimator).
"""

from __future__ import annotations

from typing import Any, Callable

import torch


def tensor_bytes(tensors: Any) -> int:
    total = 0
    seen: set[int] = set()

    def visit(value: Any) -> None:
        nonlocal total
        if torch.is_tensor(value):
            key = value.untyped_storage().data_ptr() if value.device.type != "meta" else id(value)
            if key not in seen:
                seen.add(key)
                total += value.untyped_storage().nbytes()
        elif isinstance(value, dict):
            for item in value.values():
                visit(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item)

    visit(tensors)
    return total


def resident_bytes(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: dict[str, Any]) -> int:
    """Parameters, buffers, optimizer state and the batch: alive across the whole step."""
    return tensor_bytes([list(model.parameters()), list(model.buffers()),
                         list(optimizer.state.values()), batch])


def profile_step_peak_bytes(run_step: Callable[[], Any]) -> tuple[int, Any]:
    """Run one step under the memory profiler; returns (transient peak bytes, the step's result)."""
    from torch.profiler import ProfilerActivity, profile

    from deepsynth.training.quiet import fd2_silenced

    profiler = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
    with fd2_silenced():  # kineto prints "USDT: ... profiler_start/stop" to fd 2 (training.quiet)
        profiler.start()
    try:
        result = run_step()
    finally:
        with fd2_silenced():
            profiler.stop()
    events = [e for e in profiler.profiler.kineto_results.events()
              if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU]
    events.sort(key=lambda e: e.start_ns())
    running = peak = 0
    for event in events:
        running += event.nbytes()
        peak = max(peak, running)
    return peak, result


def estimated_bytes(config: Any, model: Any, batch: dict[str, Any]) -> tuple[int | None, dict[str, Any]]:
    """`deepsynth.estimate`'s predicted training memory for this run: (total bytes, the estimate as
    a dict for `estimate.json`)."""
    from deepsynth.estimate import estimate_for_training

    result = estimate_for_training(config=config, model=model, batch=batch)
    return result.get("total_bytes"), result
