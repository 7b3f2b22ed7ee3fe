"""`deepsynth server`: binds loopback by default, refuses unsafe exposure, and really serves."""


import socket
import time
import urllib.request

import psutil
import pytest

from deepsynth.configuration import ConfigError
from deepsynth.tracking.server import ADMIN_PASSWORD_ENV, ServerConfig, server_command, start_server, stop_server


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
def test_server_listens_only_on_loopback_and_stops(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSYNTH_HOME", str(tmp_path))
    port = free_port()
    log = open(tmp_path / "server.log", "wb")
    process = start_server(ServerConfig(port=port), log_file=log)
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
    finally:
        stop_server(process)
        log.close()
    assert process.poll() is not None
    time.sleep(0.5)
    assert not [p for p in psutil.process_iter(["cmdline"]) if str(port) in " ".join(p.info["cmdline"] or [])
                and "mlflow" in " ".join(p.info["cmdline"] or [])], "server processes left running"
