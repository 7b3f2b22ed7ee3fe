"""Is the GPU free enough for this run? A queue in front of CUDA: a job on a busy GPU waits
instead of starting into an out-of-memory error.

The check compares the memory a run needs (`deepsynth estimate`'s prediction, CUDA context
included) with what the GPU has free right now, as a *probe* reports it: `deepsynth.gpu_probe.nvidia_smi_probe` by
default (the `nvidia-smi` query: no torch and no CUDA context in the caller, and it sees other
processes' memory, which `torch.cuda.mem_get_info` also does but only after creating a context),
any callable returning `GpuMemory` rows in tests.

Several workers queued on one machine take turns through an exclusive lock file per GPU
(`fcntl.flock`, released by the kernel if the holder dies), held from the check until the claimer
has allocated its memory (`GpuClaim.release()` after its first training step), so two jobs never
both count the same free memory. A run that needs more than the whole GPU fails at once: waiting
would never help.
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from deepsynth.errors import DeepSynthError
from deepsynth.gpu_probe import GpuUnavailable, Probe, nvidia_smi_probe
from deepsynth.settings.defaults import PROMPT_TOKENS  # one definition, shared with the estimator's Workload

FALLBACK_FRACTION = 0.5
"""Share of the GPU that must be free when the run's memory cannot be estimated (an unknown model)."""


@dataclass(frozen=True)
class GpuCheck:
    """One look at a GPU against what a run needs."""

    index: int
    """CUDA device index."""
    needed_bytes: int
    """What the run needs (estimate, or `FALLBACK_FRACTION` of the GPU)."""
    free_bytes: int
    """Free on the device at the time of the check."""
    total_bytes: int
    """Memory on the device."""

    @property
    def fits(self) -> bool:
        return self.needed_bytes <= self.free_bytes

    def describe(self) -> str:
        gib = 1 << 30
        return (f"GPU {self.index} has {self.free_bytes / gib:.1f} of {self.total_bytes / gib:.1f} GiB free; "
                f"this run needs about {self.needed_bytes / gib:.1f} GiB")


def check_gpu(needed_bytes: int | None, probe: Probe = nvidia_smi_probe, index: int = 0) -> GpuCheck:
    """What GPU `index` has free against `needed_bytes` (None: `FALLBACK_FRACTION` of the GPU)."""
    devices = {gpu.index: gpu for gpu in probe()}
    if index not in devices:
        raise GpuUnavailable(f"no GPU {index} (the probe sees {sorted(devices) or 'none'})")
    gpu = devices[index]
    needed = int(needed_bytes) if needed_bytes else int(gpu.total_bytes * FALLBACK_FRACTION)
    return GpuCheck(index, needed, gpu.free_bytes, gpu.total_bytes)


class GpuClaim:
    """The turn to start on one GPU: holds the per-GPU lock until `release()` (idempotent)."""

    def __init__(self, check: GpuCheck, handle: Any | None, waited_s: float) -> None:
        self.check = check
        self.waited_s = waited_s
        self._handle = handle

    @property
    def held(self) -> bool:
        return self._handle is not None

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> "GpuClaim":
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.release()


def _try_lock(lock_path: Path) -> Any | None:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(lock_path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def wait_for_gpu(needed_bytes: int | None, probe: Probe = nvidia_smi_probe, index: int = 0,
                 lock_dir: str | Path | None = None, poll_s: float = 15.0, timeout_s: float = 0.0,
                 on_queued: Callable[[str], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> GpuClaim:
    """Block until GPU `index` has the memory this run needs and no other worker is claiming it;
    returns the claim (release it once the run's memory is allocated).

    `on_queued(reason)` is called each time the run has to wait (the worker reports QUEUED).
    `timeout_s` 0 waits for ever (a SIGTERM still cancels: the wait is a plain sleep loop).
    `lock_dir` None: no cross-process lock (one worker per GPU)."""
    started = clock()
    lock_path = Path(lock_dir) / f"gpu-{index}.lock" if lock_dir is not None else None
    while True:
        handle = _try_lock(lock_path) if lock_path is not None else None
        if lock_path is not None and handle is None:
            reason = f"another job is starting on GPU {index}"
        else:
            try:
                check = check_gpu(needed_bytes, probe, index)
            except BaseException:
                if handle is not None:
                    handle.close()
                raise
            if check.needed_bytes > check.total_bytes:
                if handle is not None:
                    handle.close()
                raise GpuUnavailable(f"{check.describe()}: more than the whole GPU, so it would never start. "
                                     "Use a smaller batch, the qlora_4bit preset or a bigger GPU "
                                     "(`deepsynth estimate` shows what fits).")
            if check.fits:
                return GpuClaim(check, handle, clock() - started)
            if handle is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()
            reason = f"{check.describe()}: queued until it is free"
        if timeout_s and clock() - started >= timeout_s:
            raise GpuUnavailable(f"waited {clock() - started:.0f} s for the GPU: {reason}")
        if on_queued is not None:
            on_queued(reason)
        sleep(poll_s)




CPU_PROCESS_BYTES = 700_000_000
"""What a CPU training process holds beside the tensors the estimator counts: Python, torch,
transformers, PEFT and MLflow, the dataset and the page reader (0.6-0.7 GB measured before the
decoder loads, `bench/train_memory.py`'s load phase; the estimator says "~0.5-1 GB")."""


def estimated_need(config: Any, device: str = "cuda") -> int | None:
    """Peak memory `deepsynth estimate` predicts for a `TrainConfig`, from the settings alone (the
    queue decides before the model loads): on `cuda` the GPU's (CUDA context included), on `cpu`
    the process's (float32 tensors + `CPU_PROCESS_BYTES`). None where the estimator does not know
    the model (then `check_gpu` asks for `FALLBACK_FRACTION` of the GPU)."""
    from deepsynth.estimate import Workload, estimate, load_architecture

    model = config.model
    try:
        architecture = load_architecture(model.name, model.vision_interface)
    except (DeepSynthError, OSError, ValueError):
        return None
    features = model.vision_interface == "features"
    from deepsynth.training.activations import checkpoints_activations

    workload = Workload(
        batch_size=config.batch_size, image_tokens=model.max_source_tokens if features else 0,
        seq_len=PROMPT_TOKENS + (0 if features else model.max_source_tokens) + model.max_target_tokens,
        target_tokens=model.max_target_tokens, dtype="bfloat16" if device == "cuda" else "float32", device=device,
        padded=config.batch_size > 1,
        text_encoder=model.text_encoder if model.text_encoder in ("none", "minilm") else "none",
        train_text_encoder=model.train_text_encoder and model.text_encoder == "minilm",
        gradient_checkpointing=checkpoints_activations(device))
    total = int(estimate(architecture, config.lora, workload).memory.total)
    return total if device == "cuda" else total + CPU_PROCESS_BYTES


POLL_S = 15.0
"""How often a queued worker looks at the GPU again."""


def physical_index(local_index: int) -> int:
    """The nvidia-smi (physical) index of this process's CUDA device `local_index`: nvidia-smi
    ignores `CUDA_VISIBLE_DEVICES`, which renumbers what the process sees (the queue runner pins a
    job to GPU 1 as `CUDA_VISIBLE_DEVICES=1`, where it is cuda:0). UUIDs are left as they are."""
    visible = [part.strip() for part in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if part.strip()]
    try:
        return int(visible[local_index])
    except (IndexError, ValueError):
        return local_index


def queue_for_gpu(config: Any, index: int = 0, lock_dir: str | Path | None = None,
                  on_queued: Callable[[str], None] | None = None, probe: Probe | None = None) -> GpuClaim:
    """The training worker's turn on its GPU `index` (as this process numbers them) for `config`:
    waits while that GPU lacks the memory `estimated_need(config)` says the run needs (`wait_for_gpu`)."""
    return wait_for_gpu(estimated_need(config), probe or nvidia_smi_probe, index=physical_index(index),
                        lock_dir=lock_dir, poll_s=POLL_S, on_queued=on_queued)
