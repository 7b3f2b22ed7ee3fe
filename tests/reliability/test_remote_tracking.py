"""Training against a remote tracking server: `deepsynth.tracking.server.start_server` runs `mlflow server`
on a loopback port, a short tiny job logs to `--tracking-uri http://127.0.0.1:PORT` (artifacts
uploaded through the server), the dashboard's queries read it back, and the server is stopped by
its pid with nothing left running."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest
from reliability_helpers import process_group, train_args

from deepsynth.tracking.server import ServerConfig, start_server, stop_server
from deepsynth.tracking import queries, store

STEPS = 6


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_healthy(port: int, server: subprocess.Popen, log_path, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        assert server.poll() is None, log_path.read_text()[-3000:]
        assert time.monotonic() < deadline, f"tracking server did not answer in {timeout_s} s"
        time.sleep(0.5)


@pytest.mark.slow
def test_a_job_logs_to_a_remote_tracking_server(workspace, tiny_dataset):
    port = _free_port()
    artifacts = workspace / "server-artifacts"
    log_path = workspace / "server.log"
    config = ServerConfig(port=port, backend_store_uri=f"sqlite:///{workspace / 'server.db'}",
                          artifacts_destination=str(artifacts))
    with open(log_path, "wb") as log:
        server = start_server(config, log_file=log)
    try:
        _wait_healthy(port, server, log_path)
        uri = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        trained = subprocess.run(
            [sys.executable, "-m", "deepsynth", "train",
             *train_args(tiny_dataset, uri, workspace / "runs", STEPS, 3), "--eval-docs", "2"],
            capture_output=True, text=True, timeout=300, cwd=workspace, env=env)
        assert trained.returncode == 0, trained.stderr[-3000:]
        run_id = trained.stdout.split()[-1]
        assert not (workspace / "mlflow.db").exists()  # nothing went to a local store instead

        # the dashboard's reading side, over HTTP
        runs = queries.list_runs(["tests-reliability"], uri=uri)
        assert [r.run_id for r in runs] == [run_id] and runs[0].status == "FINISHED"
        assert runs[0].params["model.name"] == "tiny" and "eval/rougeL" in runs[0].metrics
        curves = queries.metric_histories([run_id], ["train/loss"], uri=uri)
        assert curves["step"].tolist() == list(range(1, STEPS + 1))

        # artifacts went through the server into its artifact store, and come back from it
        assert store.client_for(uri).get_run(run_id).info.artifact_uri.startswith("mlflow-artifacts:")
        stored = {p.name for p in artifacts.rglob("*") if p.is_file()}
        assert {"adapter_model.safetensors", "adapter_config.json", "predictions.csv", "rouge.json"} <= stored
        adapter = store.download_artifacts(run_id, "adapter", workspace / "downloaded", uri=uri)
        assert (adapter / "adapter_model.safetensors").stat().st_size > 0
    finally:
        stop_server(server)
    assert server.poll() is not None
    assert not process_group(server.pid), "tracking server processes left running"
    assert not psutil.pid_exists(server.pid)
