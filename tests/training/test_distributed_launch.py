"""`deepsynth train --nproc N` without starting processes: the torchrun argv, the flags each worker
gets (the same config), the shard of a global batch, and a process alone is rank 0.
Two real processes are trained in tests/reliability/test_data_parallel.py."""

from __future__ import annotations

import sys

import pytest

from deepsynth.cli import build_parser, main
from deepsynth.training import distributed
from deepsynth.training.cli import config_from_args
from deepsynth.training.distributed import Distributed, launch_command


def test_the_launch_is_torchrun_standalone_as_an_argv_list():
    argv = launch_command(3, ["--dataset", "d; rm -rf ~", "--preset", "minimal"])
    assert argv == [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "3",
                    "-m", "deepsynth", "train", "--dataset", "d; rm -rf ~", "--preset", "minimal"]


def test_nproc_relaunches_the_same_config_in_n_workers(tiny_dataset, mlflow_tracking_uri, tmp_path, monkeypatch):
    launched = []
    def launch(nproc, args):  # the workers read the config file while the launcher waits for them
        config_file = args[args.index("--config") + 1] if "--config" in args else None
        launched.append((nproc, args, config_file and open(config_file).read()))
        return 0

    monkeypatch.setattr(distributed, "launch", launch)
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    flags = ["--dataset", tiny_dataset, "--preset", "minimal", "--dropout", "0", "--model", "tiny", "--max-steps", "7",
             "--batch-size", "6", "--tracking-uri", mlflow_tracking_uri, "--output-dir", str(tmp_path), "--seed", "3"]
    assert main(["train", *flags, "--nproc", "2"]) == 0
    [(nproc, worker_args, config_text)] = launched
    assert nproc == 2 and "--nproc" not in worker_args and worker_args[0] == "--config"
    parse = lambda args: config_from_args(build_parser().parse_args(["train", *args]))  # noqa: E731
    (tmp_path / "sent.json").write_text(config_text)
    # what the workers run: the file, plus the user's own flags a file may not carry (outside folders)
    assert parse(["--config", str(tmp_path / "sent.json"), *worker_args[2:]]) == parse(flags)

    # resume: checked once in the launcher, then only the run id travels
    import json

    from deepsynth.configuration import to_dict
    from deepsynth.tracking.store import RUN_DIR_TAG, RunLogger

    logger = RunLogger.start("tests-distributed-launch", uri=mlflow_tracking_uri)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "train_config.json").write_text(json.dumps(to_dict(parse(flags))))
    logger.set_tags({RUN_DIR_TAG: str(tmp_path / "run")})
    logger.finish("KILLED")
    assert main(["train", "--resume", logger.run_id, "--tracking-uri", mlflow_tracking_uri, "--nproc", "4"]) == 0
    assert launched[-1] == (4, ["--resume", logger.run_id, "--tracking-uri", mlflow_tracking_uri], None)
    assert main(["train", "--resume", "abc123", "--tracking-uri", mlflow_tracking_uri, "--nproc", "4"]) == 2
    assert len(launched) == 2  # a run that cannot resume is refused before any worker starts


def test_bad_nproc_and_resume_flags_are_refused_before_launching(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(distributed, "launch", lambda *a: pytest.fail("launched"))
    assert main(["train", "--dataset", str(tmp_path), "--preset", "minimal", "--nproc", "0"]) == 2
    assert "--nproc: must be >= 1, got 0" in capsys.readouterr().err
    assert main(["train", "--resume", "abc", "--preset", "minimal", "--nproc", "2"]) == 2
    assert "drop --preset" in capsys.readouterr().err


def test_place_shard_and_alone(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    alone = Distributed.from_env()
    assert not alone.enabled and alone.is_main and alone.shard([4, 9, 2]) == [4, 9, 2]
    assert alone.any(False) is False and alone.sum([1, 2.5]) == [1.0, 2.5]
    assert alone.broadcast_text("run\n/dir") == "run\n/dir"
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    second = Distributed.from_env()
    assert second == Distributed(rank=1, world_size=3, local_rank=1) and not second.is_main
    assert second.shard([10, 11, 12, 13, 14]) == [11, 14] and second.shard([10]) == []


LAUNCHER = """
import subprocess, sys
from deepsynth.training.distributed import launch
torchrun = "import os, time; print(os.getpid(), flush=True); time.sleep(600)"  # stands in for torchrun
launch(2, [], spawn=lambda argv, **options: subprocess.Popen([sys.executable, "-c", torchrun], **options))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux (prctl PR_SET_PDEATHSIG)")
def test_killing_only_the_launcher_leaves_no_orphaned_workers():
    import signal
    import subprocess

    import psutil

    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER], stdout=subprocess.PIPE, text=True)
    torchrun = None
    try:
        assert launcher.stdout.readline().startswith("data parallel, 2 processes:")
        torchrun = psutil.Process(int(launcher.stdout.readline()))
        assert torchrun.ppid() == launcher.pid
        launcher.send_signal(signal.SIGKILL)  # no handler runs in the launcher
        launcher.wait(timeout=10)
        torchrun.wait(timeout=10)  # SIGTERM from the kernel when its parent died
    finally:  # never leave the stand-ins behind when the test fails
        if launcher.poll() is None:
            launcher.kill()
        if torchrun is not None and torchrun.is_running():
            torchrun.kill()
