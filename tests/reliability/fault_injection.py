"""`python fault_injection.py VERB ARGS...`: the `deepsynth` CLI with one fault injected.

The reliability tests start training jobs with a `spawn` that runs this script instead of
`python -m deepsynth`, so the product carries no test hooks: the fault is patched in here, in the
worker's own process, from `DEEPSYNTH_TEST_FAULT=KIND:STEP`:

- `partial-weights:N`: checkpoint N's weights file is written half-way, then the worker pauses;
- `before-state:N`: checkpoint N's weights are written, its optimizer state is not yet, pause;
- `before-rename:N`: checkpoint N is complete in its temporary folder, not yet renamed, pause;
- `enospc:0`: every checkpoint write fails with ENOSPC once `disk-full` exists in the job folder
  (the disk-full test's fallback where a tmpfs cannot be mounted);
- `inf-loss:N`: from the N-th forward pass on, the loss is multiplied by +inf.

A pause writes `fault-reached.json` (kind, step, pid) into the job folder and sleeps, so the test
can kill -9 the worker exactly there.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import time
from pathlib import Path

FAULT_ENV = "DEEPSYNTH_TEST_FAULT"
REACHED = "fault-reached.json"
DISK_FULL_FLAG = "disk-full"


def _job_dir() -> Path:
    from deepsynth.training.report import ENV_JOB_DIR

    return Path(os.environ[ENV_JOB_DIR])


def _pause(kind: str, step: int) -> None:
    marker = _job_dir() / REACHED
    temporary = marker.with_suffix(".tmp")
    temporary.write_text(json.dumps({"kind": kind, "step": step, "pid": os.getpid()}))
    os.replace(temporary, marker)
    print(f"fault injection: paused at {kind} of checkpoint {step}", flush=True)
    time.sleep(600)  # the test kills us here
    raise SystemExit("fault injection: nobody killed the paused worker")


def _install(kind: str, step: int) -> None:
    import safetensors.torch
    import torch

    from deepsynth.training import checkpoint

    temporary_name = f"{checkpoint.TEMP_PREFIX}{checkpoint.PREFIX}{step:06d}-"
    if kind == "partial-weights":
        original_save_file = safetensors.torch.save_file

        def save_file(tensors, filename, metadata=None):
            if temporary_name in str(filename):
                data = safetensors.torch.save(tensors, metadata=metadata)
                with open(filename, "wb") as handle:
                    handle.write(data[: len(data) // 2])
                    handle.flush()
                    os.fsync(handle.fileno())
                _pause(kind, step)
            return original_save_file(tensors, filename, metadata=metadata)

        safetensors.torch.save_file = save_file
    elif kind == "before-state":
        original_torch_save = torch.save

        def save(obj, target, *args, **kwargs):
            if temporary_name in str(target):
                _pause(kind, step)
            return original_torch_save(obj, target, *args, **kwargs)

        torch.save = save
    elif kind == "before-rename":
        original_fsync_dir = checkpoint._fsync_dir

        def fsync_dir(path):
            original_fsync_dir(path)
            if Path(path).name.startswith(temporary_name):
                _pause(kind, step)

        checkpoint._fsync_dir = fsync_dir
    elif kind == "enospc":
        original_save_file = safetensors.torch.save_file

        def full_disk(tensors, filename, metadata=None):
            if (_job_dir() / DISK_FULL_FLAG).exists():
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(filename))
            return original_save_file(tensors, filename, metadata=metadata)

        safetensors.torch.save_file = full_disk
    elif kind == "inf-loss":
        from deepsynth.models.builtin.document_model import DocumentModel

        original_forward = DocumentModel.forward
        calls = [0]

        def forward(self, *args, **kwargs):
            calls[0] += 1
            loss = original_forward(self, *args, **kwargs)
            return loss * float("inf") if calls[0] >= step else loss

        DocumentModel.forward = forward
    else:
        raise SystemExit(f"fault injection: unknown fault {kind!r}")


def main() -> int:
    kind, step = os.environ[FAULT_ENV].split(":")
    _install(kind, int(step))
    from deepsynth.cli import main as deepsynth_main

    return deepsynth_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
