"""The team set-up for real: `deepsynth server` on PostgreSQL with artifacts served by the tracking
server, two training jobs and the dashboard's queries against it at the same time, then kill -9 of
one job and its resume: no metric lost, both runs FINISHED, each tagged with who started it.

PostgreSQL is a real one (Debian's `postgresql`: initdb into a temporary folder, `postgres` on a
free loopback port as a non-root user; postgres_helpers.py), stopped by its pid at the end, like
the MLflow server and every job."""

from __future__ import annotations

import json
import threading
import time

import psutil
import pytest
from postgres_helpers import start_postgres
from reliability_helpers import faulty_spawn, process_group, train_args, wait_for
from test_remote_tracking import _free_port, _wait_healthy

from deepsynth import jobs
from deepsynth.training.cli import parse_train_args
from deepsynth.tracking import queries, store
from deepsynth.tracking.server import ServerConfig, start_server, stop_server
from deepsynth.training import checkpoint

STEPS, EVERY, KILL_AT = 16, 4, 12  # job B pauses inside checkpoint 12's write and is killed there


@pytest.fixture
def postgres():
    server = start_postgres("mlflow")
    try:
        yield server
    finally:
        server.stop()
    assert server.process.poll() is not None and not server.base.exists()


class DashboardReader(threading.Thread):
    """What the dashboard does while jobs run: list the runs and read their loss curves, in a loop."""

    def __init__(self, uri: str) -> None:
        super().__init__(daemon=True)
        self.uri, self.stop, self.reads, self.errors = uri, threading.Event(), 0, []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                runs = queries.list_runs(["tests-reliability"], uri=self.uri)
                if runs:
                    queries.metric_histories([r.run_id for r in runs], ["train/loss"], uri=self.uri)
                self.reads += 1
            except Exception as error:  # noqa: BLE001 - every failure is a test failure, reported below
                self.errors.append(repr(error))
            time.sleep(0.2)


@pytest.mark.slow
def test_two_jobs_and_the_dashboard_share_a_postgres_server_and_a_killed_job_resumes(
        workspace, tiny_dataset, postgres):
    port = _free_port()
    artifacts = workspace / "artifact-store"
    log_path = workspace / "server.log"
    config = ServerConfig(port=port, backend_store_uri=postgres.uri("mlflow"), artifacts_destination=str(artifacts))
    with open(log_path, "wb") as log:
        server = start_server(config, log_file=log)
    reader = None
    try:
        _wait_healthy(port, server, log_path)
        uri = f"http://127.0.0.1:{port}"
        reader = DashboardReader(uri)
        reader.start()
        args = train_args(tiny_dataset, uri, workspace / "runs", STEPS, EVERY)
        job_a = jobs.start_job(*parse_train_args(args), user="alice")
        job_b = jobs.start_job(*parse_train_args(args), spawn=faulty_spawn(f"before-rename:{KILL_AT}"), user="bob")
        marker = job_b.job_dir / "fault-reached.json"
        wait_for(lambda: marker.is_file(), 240, f"job B to pause inside checkpoint {KILL_AT}")
        reads_while_both_ran = reader.reads
        psutil.Process(job_b.pid).kill()  # kill -9: no handler, no cleanup, no final metric flush
        dead = wait_for(lambda: (j := jobs.get_job(job_b.job_id)).state != jobs.RUNNING and j, 30, "job B to die")
        assert dead.state == jobs.FAILED and "without reporting" in dead.error
        assert store.run_status(dead.run_id, uri) == "FAILED"  # closed by the job layer, through the server

        jobs.resume(job_b.job_id, user="bob")
        finished = {job.job_id: jobs.wait(job.job_id, timeout_s=300) for job in (job_a, job_b)}
        reader.stop.set()
        reader.join(timeout=30)

        for job in finished.values():
            assert job.state == jobs.FINISHED, job.log_path.read_text()[-3000:]
        assert f"resuming run {dead.run_id} from step {KILL_AT - EVERY}" in finished[job_b.job_id].log_path.read_text()
        assert reader.errors == [] and reads_while_both_ran >= 3 and reader.reads > reads_while_both_ran

        runs = {r.run_id: r for r in queries.list_runs(["tests-reliability"], uri=uri)}
        assert set(runs) == {job.run_id for job in finished.values()}
        assert {r.status for r in runs.values()} == {"FINISHED"}
        assert {r.tags.get("deepsynth.user") for r in runs.values()} == {"alice", "bob"}
        assert json.loads((job_b.job_dir / "job.json").read_text())["user"] == "bob"
        curves = queries.metric_histories(list(runs), ["train/loss"], uri=uri)
        for run_id in runs:  # no step lost (B's replayed steps 9..12 may appear twice)
            assert sorted(set(curves[curves["run_id"] == run_id]["step"])) == list(range(1, STEPS + 1))

        # runs, params and metrics live in PostgreSQL; artifacts went through the server to its store
        import psycopg

        with psycopg.connect(postgres.uri("mlflow")) as connection:
            rows = connection.execute("SELECT run_uuid, status FROM runs").fetchall()
            assert dict(rows) == {run_id: "FINISHED" for run_id in runs}
            steps = connection.execute("SELECT run_uuid, count(DISTINCT step) FROM metrics "
                                       "WHERE key = 'train/loss' GROUP BY run_uuid").fetchall()
            assert dict(steps) == {run_id: STEPS for run_id in runs}
        for run_id in runs:
            assert store.client_for(uri).get_run(run_id).info.artifact_uri.startswith("mlflow-artifacts:")
        stored = sorted(p.name for p in artifacts.rglob("adapter_model.safetensors"))
        assert stored == ["adapter_model.safetensors"] * 2
        assert [c.step for c in checkpoint.complete_checkpoints(workspace / "runs" / dead.run_id)][0] == STEPS
    finally:
        if reader is not None:
            reader.stop.set()
        stop_server(server)
    assert not process_group(server.pid), "tracking server processes left running"
