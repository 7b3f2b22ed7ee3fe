"""`deepsynth server`: binds loopback by default, refuses unsafe exposure, and really serves."""


import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest

from deepsynth.configuration import ConfigError
from deepsynth.tracking.server import ADMIN_PASSWORD_ENV, ServerConfig, server_command


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_default_binds_loopback(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSYNTH_HOME", str(tmp_path))
    argv, env = server_command(ServerConfig())
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert "shell" not in " ".join(argv)
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::"])
def test_public_bind_without_auth_is_refused(host):
    with pytest.raises(ConfigError) as info:
        ServerConfig(host=host)
    assert info.value.for_field("host")


@pytest.mark.parametrize("password", ["", "password1234", "short"])
def test_auth_needs_a_strong_admin_password(monkeypatch, password):
    monkeypatch.setenv(ADMIN_PASSWORD_ENV, password)
    with pytest.raises(ConfigError) as info:
        ServerConfig(host="0.0.0.0", auth=True)
    assert info.value.for_field(ADMIN_PASSWORD_ENV)


def test_auth_config_keeps_the_password_out_of_files(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSYNTH_HOME", str(tmp_path))
    monkeypatch.setenv(ADMIN_PASSWORD_ENV, "a-long-team-secret-42")
    argv, env = server_command(ServerConfig(auth=True))
    assert argv[argv.index("--app-name") + 1] == "basic-auth"
    ini = open(env["MLFLOW_AUTH_CONFIG_PATH"]).read()
    assert "a-long-team-secret-42" not in ini
    assert "default_permission = NO_PERMISSIONS" in ini
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"] == "a-long-team-secret-42"


@pytest.mark.slow
def test_server_listens_only_on_loopback_and_sigterm_to_its_pid_stops_it(tmp_path):
    """`deepsynth server` as a user runs it: it serves on loopback only, and SIGTERM to the pid
    it started with stops the MLflow server too (it runs in a session of its own, which a stopped
    parent would have left serving)."""
    port = free_port()
    log = open(tmp_path / "server.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "deepsynth", "server", "--port", str(port)], stdout=log,
                               stderr=subprocess.STDOUT, env=dict(os.environ, DEEPSYNTH_HOME=str(tmp_path)))
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert process.poll() is None, (tmp_path / "server.log").read_text()
                assert time.monotonic() < deadline, "server did not answer in 120 s"
                time.sleep(1)
        family = {socket.AF_INET, socket.AF_INET6}
        tree = [process.pid] + [c.pid for c in psutil.Process(process.pid).children(recursive=True)]
        listening = [
            c.laddr for c in psutil.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port and c.family in family
            and (c.pid is None or c.pid in tree)
        ]
        assert listening, "nothing listens on the port"
        assert all(addr.ip in ("127.0.0.1", "::1") for addr in listening), listening
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        time.sleep(0.5)
        assert not _server_processes(port), "server processes left running"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        log.close()
        for leftover in _server_processes(port):  # never leave them running, even when the test fails
            leftover.kill()


def _server_processes(port: int) -> list:
    return [p for p in psutil.process_iter(["cmdline"]) if str(port) in " ".join(p.info["cmdline"] or [])
            and "mlflow" in " ".join(p.info["cmdline"] or [])]
