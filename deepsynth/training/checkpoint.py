"""Checkpoints that survive kill -9 and a full disk.

A checkpoint is `<run_dir>/checkpoints/step-000050/` holding the trainable weights
(`trainable.safetensors`), the optimizer/scheduler/RNG state (`state.pt`, read back with
`weights_only=True`), the loop position (`trainer_state.json`) and `manifest.json` (file sizes).
It is written under `.tmp-step-...`, every file and the folder fsynced, then renamed into place:
rename is atomic on POSIX, so a `step-*` folder is always complete, and the manifest catches a
folder damaged later (a truncated file is skipped, the previous checkpoint is used). Temporary
folders left by a killed writer are deleted at the next start. Older checkpoints are deleted only
after the newer one is in place, so a failed write (disk full) leaves the earlier ones intact.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepsynth.errors import DeepSynthError

_logger = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
PREFIX, TEMP_PREFIX = "step-", ".tmp-"
WEIGHTS, STATE, TRAINER_STATE, MANIFEST = ("trainable.safetensors", "state.pt", "trainer_state.json",
                                           "manifest.json")


class DiskFullError(DeepSynthError):
    """No space left while writing: the write was abandoned, earlier files are intact."""


@dataclass(frozen=True)
class Checkpoint:
    """A complete checkpoint on disk."""

    path: Path
    """The `step-NNNNNN` folder."""
    step: int
    """Optimizer steps done when it was written."""


def checkpoints_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / CHECKPOINTS


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def clean_temporary(run_dir: str | Path) -> list[Path]:
    """Delete half-written checkpoints left by a killed or failed writer; returns what it removed."""
    folder = checkpoints_dir(run_dir)
    removed = []
    if folder.is_dir():
        for entry in folder.iterdir():
            if entry.name.startswith(TEMP_PREFIX):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed


def is_disk_full(error: BaseException) -> bool:
    """ENOSPC/EDQUOT, also when a library reports it in its own exception (safetensors' Rust
    writer raises `SafetensorError("... No space left on device (os error 28)")`)."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(error)
    return any(marker in text for marker in (
        "No space left on device", "Disk quota exceeded", f"os error {errno.ENOSPC}", f"os error {errno.EDQUOT}"))


def save(run_dir: str | Path, step: int, trainable: dict[str, Any], state: dict[str, Any],
         trainer_state: dict[str, Any], keep: int = 2) -> Checkpoint:
    """Write a checkpoint atomically and prune to the newest `keep` complete ones.

    `trainable`: name -> tensor (LoRA and projection weights); `state`: tensors and plain values
    (optimizer, scheduler, RNG) for `torch.save`; `trainer_state`: JSON (step, epoch, run id...)."""
    import torch
    from safetensors.torch import save_file

    folder = checkpoints_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{PREFIX}{step:06d}"
    temporary = folder / f"{TEMP_PREFIX}{final.name}-{os.getpid()}"
    try:
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir()
        save_file({k: v.detach().contiguous().cpu() for k, v in trainable.items()},
                  str(temporary / WEIGHTS), metadata={"format": "pt", "step": str(step)})
        torch.save(state, temporary / STATE)
        (temporary / TRAINER_STATE).write_text(json.dumps(dict(trainer_state, step=step), indent=2))
        files = {name: (temporary / name).stat().st_size for name in (WEIGHTS, STATE, TRAINER_STATE)}
        (temporary / MANIFEST).write_text(json.dumps({"step": step, "files": files}, indent=2))
        for name in (*files, MANIFEST):
            _fsync_file(temporary / name)
        _fsync_dir(temporary)
        if final.exists():  # the same step again (cancel right after a periodic save): replace it
            retired = folder / f"{TEMP_PREFIX}retired-{final.name}-{os.getpid()}"
            os.rename(final, retired)
            os.rename(temporary, final)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.rename(temporary, final)
        _fsync_dir(folder)
    except BaseException as error:
        shutil.rmtree(temporary, ignore_errors=True)
        if is_disk_full(error):
            raise DiskFullError(
                f"disk full while writing checkpoint {final} ({error}); the write was "
                f"abandoned and earlier checkpoints in {folder} are intact. Free space, then resume."
            ) from error
        raise
    for old in complete_checkpoints(run_dir)[keep:]:
        shutil.rmtree(old.path, ignore_errors=True)
    return Checkpoint(final, step)


def _is_complete(path: Path) -> bool:
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        return all((path / name).stat().st_size == size for name, size in manifest["files"].items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def complete_checkpoints(run_dir: str | Path) -> list[Checkpoint]:
    """Complete checkpoints, newest first; damaged ones are left out (and logged)."""
    folder = checkpoints_dir(run_dir)
    if not folder.is_dir():
        return []
    found = []
    for entry in folder.iterdir():
        if not entry.name.startswith(PREFIX) or not entry.name[len(PREFIX):].isdigit():
            continue
        if _is_complete(entry):
            found.append(Checkpoint(entry, int(entry.name[len(PREFIX):])))
        else:
            _logger.warning("ignoring incomplete checkpoint %s", entry)
    return sorted(found, key=lambda c: c.step, reverse=True)


def latest(run_dir: str | Path) -> Checkpoint | None:
    found = complete_checkpoints(run_dir)
    return found[0] if found else None


def load(checkpoint: Checkpoint) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(trainable tensors, state, trainer_state) of a checkpoint."""
    import torch
    from safetensors.torch import load_file

    trainable = load_file(str(checkpoint.path / WEIGHTS))
    state = torch.load(checkpoint.path / STATE, map_location="cpu", weights_only=True)
    trainer_state = json.loads((checkpoint.path / TRAINER_STATE).read_text())
    return trainable, state, trainer_state
