"""Library chatter a training run's log must not carry, silenced where it is produced.

A job's log is what its user reads (the Jobs page shows its tail), so it holds what the run says:
steps, losses, evaluation. Three messages came with every run and said nothing about it:

- bitsandbytes, imported by PEFT on every LoRA run (quantized or not), looks for an optional
  hub kernel on CPUs with AVX512-BF16 and logs "Failed to load CPU gemm_4bit_forward from
  kernels-community ... pip install kernels" when it is absent (always, offline). A filter on its
  logger drops that record, and only that one.
- transformers 5 warns that `is_gradient_checkpointing` is deprecated whenever PEFT's `PeftModel`
  reads it: a FutureWarning about PEFT's code, not the user's. Ignored by message and category.
- the torch profiler (`training.memory.profile_step_peak_bytes`, one step per run) prints
  `USDT: ... profiler_start` / `profiler_stop` from C++ straight to file descriptor 2, at any
  `KINETO_LOG_LEVEL`: `fd2_silenced()` closes fd 2 around the profiler's start and stop calls only.

When stderr is not a terminal (a job's log file), Hugging Face's per-load progress bars
("Loading weights: 21%|...") are turned off too (`HF_HUB_DISABLE_PROGRESS_BARS`, read by
transformers and datasets at import). Everything else (real warnings, errors, tracebacks) still
reaches the log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from typing import Iterator

BITSANDBYTES_LOGGER = "bitsandbytes.backends.cpu.ops"
"""The logger of bitsandbytes' CPU backend (`logging.getLogger(__name__)` in that module)."""
BITSANDBYTES_KERNEL_MESSAGE = "Failed to load CPU gemm_4bit_forward from kernels-community"
GRADIENT_CHECKPOINTING_WARNING = r"`is_gradient_checkpointing` is deprecated"


class _DropMessage(logging.Filter):
    """Drops log records whose message starts with `prefix`."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


def quiet_libraries() -> None:
    """Install the filters (idempotent). Call before PEFT or transformers are imported: the
    bitsandbytes message is logged once, at import."""
    logger = logging.getLogger(BITSANDBYTES_LOGGER)
    if not any(isinstance(f, _DropMessage) for f in logger.filters):
        logger.addFilter(_DropMessage(BITSANDBYTES_KERNEL_MESSAGE))
    warnings.filterwarnings("ignore", message=GRADIENT_CHECKPOINTING_WARNING, category=FutureWarning)
    if not _stderr_is_terminal():
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def fd2_silenced() -> Iterator[None]:
    """File descriptor 2 points at /dev/null for the block (C++ code writes there directly; Python's
    `sys.stderr` is flushed first so nothing written before is lost). Keep the block short: other
    threads' stderr output meanwhile is dropped too."""
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError, OSError):
        pass
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 at all: nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
