"""Issue 21, item 9: another local account could read everything DeepSynth wrote (`log.txt`,
`mlflow.db`, run artifacts were 644). Through the CLI, workspaces, stores and logs are created
private to the user: folders 700, files 600 (`deepsynth.paths.apply_umask`); a team that shares a
workspace through its Unix group asks for it with `DEEPSYNTH_UMASK=007`."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from deepsynth import paths
from deepsynth.errors import InputError


def _deepsynth(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = dict(os.environ, DEEPSYNTH_HOME=str(home), **env)
    environment.pop("MLFLOW_TRACKING_URI", None)
    environment.pop(paths.UMASK_ENV, None)
    environment.update(env)
    return subprocess.run([sys.executable, "-m", "deepsynth", *args], cwd=home, env=environment,
                          capture_output=True, text=True, timeout=600, preexec_fn=lambda: os.umask(0o022))


def _modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        if not path.is_symlink():
            found[str(path.relative_to(root))] = stat.S_IMODE(path.stat().st_mode)
    return found


def _readable_by_others(modes: dict[str, int], mask: int) -> list[str]:
    return sorted(f"{name} {mode:o}" for name, mode in modes.items() if mode & mask)


@pytest.mark.slow
def test_a_training_job_writes_nothing_other_users_can_read(tmp_path):
    """The parent shell's umask is the usual 022; a dataset, a background job (its folder, job.json,
    train_config.json, log.txt), the workspace's mlflow.db and the run's artifacts come out 700/600."""
    home = tmp_path / "workspace-root"
    home.mkdir(mode=0o700)
    built = _deepsynth(home, "dataset", "--out", str(home / "workspace" / "datasets" / "wiki4"), "--source", "wiki",
                       "--limit", "4", "--validation-fraction", "0.25", "--test-fraction", "0", "--max-text-chars",
                       "300", "--workers", "1", "--no-progress")
    assert built.returncode == 0, built.stderr[-3000:]
    started = _deepsynth(home, "jobs", "start", "--dataset", str(home / "workspace" / "datasets" / "wiki4"),
                         "--preset", "minimal", "--model", "tiny", "--max-steps", "2", "--batch-size", "2",
                         "--eval-docs", "1", "--eval-max-new-tokens", "4", "--threads", "1", "--no-system-metrics",
                         "--experiment", "file-modes")
    assert started.returncode == 0, started.stderr[-3000:]
    job_id = next(p.name for p in (home / "workspace" / "jobs").iterdir())
    waited = _deepsynth(home, "jobs", "wait", job_id, "--timeout", "500")
    assert waited.returncode == 0, waited.stdout + waited.stderr
    job_dir = home / "workspace" / "jobs" / job_id
    assert (home / "mlruns").is_dir(), (job_dir / "log.txt").read_text()[-3000:]
    modes = _modes(home)
    for wanted in ("mlflow.db", f"workspace/jobs/{job_id}/log.txt", f"workspace/jobs/{job_id}/job.json",
                   "workspace/datasets/wiki4/deepsynth_dataset.json"):
        assert wanted in modes, sorted(modes)
    artifacts = [name for name in modes if name.startswith("mlruns/") and "artifacts/" in name]
    assert artifacts, "the run logged no artifacts"
    assert _readable_by_others(modes, 0o077) == []
    for name, mode in modes.items():
        assert mode in (0o700, 0o600), f"{name}: {mode:o}"


def test_a_group_shared_workspace_is_opt_in_and_never_open_to_others(tmp_path):
    home = tmp_path / "shared"
    home.mkdir()
    shared = _deepsynth(home, "dataset", "--out", str(home / "d"), "--source", "wiki", "--limit", "2",
                        "--validation-fraction", "0.5", "--test-fraction", "0", "--max-text-chars", "200",
                        "--workers", "1", "--no-progress", DEEPSYNTH_UMASK="007")
    assert shared.returncode == 0, shared.stderr[-3000:]
    modes = _modes(home / "d")
    assert _readable_by_others(modes, 0o007) == []
    assert modes["deepsynth_dataset.json"] & 0o060 == 0o060  # the group reads and writes
    refused = _deepsynth(home, "dataset", "--out", str(home / "e"), "--source", "wiki", "--limit", "2",
                         DEEPSYNTH_UMASK="022")
    assert refused.returncode == 2
    assert "DEEPSYNTH_UMASK='022': must be an octal umask that keeps other users out" in refused.stderr
    assert "Traceback" not in refused.stderr and not (home / "e").exists()


@pytest.mark.parametrize("value", ["022", "0", "abc", "1777"])
def test_a_umask_that_lets_others_read_is_refused(monkeypatch, value):
    monkeypatch.setenv(paths.UMASK_ENV, value)
    with pytest.raises(InputError, match="keeps other users out"):
        paths.configured_umask()
