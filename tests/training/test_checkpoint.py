"""Checkpoints: atomic, never picked half-written, pruned, and a full disk loses nothing."""

import errno
import json
import os
import shutil
import subprocess
import uuid

import pytest
import torch

from deepsynth.training import checkpoint


def _save(run_dir, step, value=1.0, keep=2):
    return checkpoint.save(run_dir, step, {"lora.weight": torch.full((4, 4), value)},
                           {"loop": {"step": step, "optimizer": {"state": {}}}, "rng": {"torch": torch.get_rng_state()}},
                           {"run_id": "r"}, keep=keep)


def test_round_trip_and_pruning(tmp_path):
    for step in (5, 10, 15):
        _save(tmp_path, step, value=float(step))
    kept = checkpoint.complete_checkpoints(tmp_path)
    assert [c.step for c in kept] == [15, 10]  # keep=2: step 5 deleted after 15 landed
    trainable, state, trainer_state = checkpoint.load(checkpoint.latest(tmp_path))
    assert torch.equal(trainable["lora.weight"], torch.full((4, 4), 15.0))
    assert state["loop"]["step"] == 15 and trainer_state == {"run_id": "r", "step": 15}
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".tmp")]


def test_damaged_or_half_written_checkpoints_are_never_picked(tmp_path):
    _save(tmp_path, 10)
    newer = _save(tmp_path, 20)
    # a later truncation (or a copy cut short): the manifest's sizes no longer match
    weights = newer.path / checkpoint.WEIGHTS
    weights.write_bytes(weights.read_bytes()[:10])
    # what kill -9 during a write leaves: a temp folder, possibly with all files
    leftover = tmp_path / "checkpoints" / ".tmp-step-000030-99999"
    shutil.copytree(newer.path, leftover)
    assert checkpoint.latest(tmp_path).step == 10
    assert checkpoint.clean_temporary(tmp_path) == [leftover]
    assert not leftover.exists()


def test_saving_the_same_step_twice_replaces_it(tmp_path):
    _save(tmp_path, 7, value=1.0)
    _save(tmp_path, 7, value=2.0)
    trainable, _, _ = checkpoint.load(checkpoint.latest(tmp_path))
    assert torch.equal(trainable["lora.weight"], torch.full((4, 4), 2.0))
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step-000007"]


def test_disk_full_during_a_write_keeps_the_earlier_checkpoint(tmp_path, monkeypatch):
    _save(tmp_path, 10, value=10.0)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(checkpoint.DiskFullError, match="earlier checkpoints .* are intact"):
        _save(tmp_path, 20)
    assert [c.step for c in checkpoint.complete_checkpoints(tmp_path)] == [10]
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step-000010"]


@pytest.fixture
def small_tmpfs(tmp_path):
    """A real 384 KiB filesystem: needs the privilege to mount a tmpfs (root / CAP_SYS_ADMIN)."""
    mount_point = tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}"
    mount_point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=384k", "tmpfs", str(mount_point)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"needs permission to mount a tmpfs: {result.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_really_full_disk_fails_clearly_and_keeps_what_was_there(small_tmpfs):
    small = {"lora.weight": torch.ones(64, 64)}  # 16 KiB
    big = {"lora.weight": torch.ones(256, 256)}  # 256 KiB
    checkpoint.save(small_tmpfs, 1, small, {"x": torch.ones(1)}, {}, keep=5)
    checkpoint.save(small_tmpfs, 2, big, {"x": torch.ones(1)}, {}, keep=5)
    with pytest.raises(checkpoint.DiskFullError, match="disk full"):
        checkpoint.save(small_tmpfs, 3, big, {"x": torch.ones(1)}, {}, keep=5)
    assert [c.step for c in checkpoint.complete_checkpoints(small_tmpfs)] == [2, 1]
    trainable, _, _ = checkpoint.load(checkpoint.latest(small_tmpfs))
    assert torch.equal(trainable["lora.weight"], big["lora.weight"])
    assert not [p for p in (small_tmpfs / "checkpoints").iterdir() if p.name.startswith(".tmp")]
    manifest = json.loads((small_tmpfs / "checkpoints" / "step-000002" / checkpoint.MANIFEST).read_text())
    assert manifest["step"] == 2
    assert os.statvfs(small_tmpfs).f_bavail * os.statvfs(small_tmpfs).f_frsize > 0  # the failed write was removed
