"""Issue 21, item 4: DNS rebinding. The Host header was not checked (`server.allowedHosts` empty):
a web page in the user's own browser, through a name re-pointed at 127.0.0.1, started a training
job on the no-login loopback dashboard. Here real requests with a forged Host (and Origin) go to a
real `deepsynth dashboard` and to `deepsynth server`: only the bound names and the names the team
configures are served, on HTTP and on the websocket."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
import tomllib

import pytest

from dashboard_wire import APP, CHECKOUT, Client, free_port, serving

from deepsynth.dashboard_host import server_options

REBOUND = "rebind.attacker.example"


def http_get(port: int, path: str = "/", **headers: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.request("GET", path, headers=headers)  # an explicit Host replaces the default one
        return connection.getresponse().status
    finally:
        connection.close()


def websocket_refused(port: int, host: str, origin: str | None = None) -> bool:
    from websockets.exceptions import InvalidHandshake

    try:
        client = Client(port, host=host, origin=origin)
    except InvalidHandshake:
        return True
    client.close()
    return False


def test_the_dashboard_serves_its_own_names_and_the_teams_and_refuses_a_rebound_one(tmp_path):
    with serving(tmp_path, {}, "--allowed-host", "dash.team.example") as port:
        for path in ("/", "/_stcore/health", "/_stcore/host-config", "/train"):
            assert http_get(port, path, Host=f"{REBOUND}:{port}") == 403, path
            assert http_get(port, path, Host=f"127.0.0.1:{port}") == 200, path
        assert http_get(port, "/", Host=f"localhost:{port}") == 200
        assert http_get(port, "/", Host=f"dash.team.example:{port}") == 200  # --allowed-host
        # a request naming us as Host but sent by another site's page (its Origin)
        assert http_get(port, "/", Host=f"127.0.0.1:{port}", Origin=f"http://{REBOUND}:{port}") == 403
        assert http_get(port, "/", Host=f"127.0.0.1:{port}", Origin=f"http://127.0.0.1:{port}") == 200
        # the websocket: where every click and page run goes
        assert websocket_refused(port, f"{REBOUND}:{port}", origin=f"http://{REBOUND}:{port}")
        assert websocket_refused(port, f"{REBOUND}:{port}")
        assert websocket_refused(port, f"127.0.0.1:{port}", origin=f"http://{REBOUND}:{port}")
        assert not websocket_refused(port, f"127.0.0.1:{port}", origin=f"http://127.0.0.1:{port}")
        with Client(port, host=f"dash.team.example:{port}", origin=f"http://dash.team.example:{port}") as team:
            assert team.run().has("Presets & estimate")


def test_plain_streamlit_run_from_another_folder_is_loopback_only_without_statistics_and_checks_hosts(tmp_path):
    """Issue 21, item 13: `streamlit run /abs/path/dashboard/app.py` from another folder bound every
    interface and sent usage statistics (the settings were in the repository root's
    .streamlit/config.toml, read only from the current folder). Now dashboard/.streamlit/config.toml,
    beside the script, holds them."""
    import psutil

    from dashboard_wire import plain_streamlit_command

    elsewhere = tmp_path / "somewhere-else"
    elsewhere.mkdir()
    with serving(elsewhere, {}, command=plain_streamlit_command) as port:
        server = [p for p in psutil.process_iter(["cmdline"]) if str(APP) in " ".join(p.info["cmdline"] or [])
                  and str(port) in " ".join(p.info["cmdline"] or [])]
        listening = {c.laddr.ip for p in server for c in p.net_connections(kind="inet")
                     if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
        assert listening == {"127.0.0.1"}
        with Client(port) as client:
            run = client.run()
        assert run.gather_usage_stats is False and run.has("Presets & estimate")
        assert websocket_refused(port, f"{REBOUND}:{port}")  # allowedHosts from the same file


def test_the_config_file_says_what_the_launcher_passes():
    config = tomllib.loads((CHECKOUT / "dashboard" / ".streamlit" / "config.toml").read_text())
    flat = {f"{section}.{key}": value for section, values in config.items() for key, value in values.items()}
    assert flat.pop("server.allowedHosts") == list(server_options.LOOPBACK_NAMES)
    assert flat.pop("server.address") == "127.0.0.1"
    assert {name: str(value).lower() for name, value in flat.items()} == server_options.FIXED
    assert not (CHECKOUT / ".streamlit" / "config.toml").exists()  # one definition


def test_deepsynth_server_refuses_a_forged_host(tmp_path):
    """`deepsynth server` (MLflow) already refused a forged Host: kept that way."""
    port = free_port()
    log = open(tmp_path / "server.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "deepsynth", "server", "--port", str(port)], stdout=log,
                               stderr=subprocess.STDOUT, cwd=str(tmp_path),
                               env={**os.environ, "DEEPSYNTH_HOME": str(tmp_path), "PYTHONPATH": str(CHECKOUT)})
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if http_get(port, "/health", Host=f"127.0.0.1:{port}") == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.5)
        api = "/api/2.0/mlflow/experiments/search?max_results=1"
        assert http_get(port, api, Host=f"127.0.0.1:{port}") == 200
        assert http_get(port, api, Host=f"localhost:{port}") == 200
        assert http_get(port, api, Host=f"{REBOUND}:{port}") in (400, 403)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


@pytest.mark.parametrize(("headers", "served"), [
    ({"host": "127.0.0.1:8501"}, True),
    ({"host": "LOCALHOST.:8501"}, True),
    ({"host": "[::1]:8501"}, True),
    ({"host": "dash.team.example"}, True),
    ({"host": f"{REBOUND}:8501"}, False),
    ({"host": "localhost.attacker.example"}, False),
    ({}, False),  # no Host at all
    ({"host": "127.0.0.1:8501", "origin": "http://127.0.0.1:8501"}, True),
    ({"host": "127.0.0.1:8501", "origin": f"http://{REBOUND}:8501"}, False),
    ({"host": "127.0.0.1:8501", "origin": "null"}, False),  # a sandboxed frame or a file:// page
    ({"host": "127.0.0.1:8501", "origin": "file://"}, False),
])
def test_the_host_and_origin_rule(headers, served, monkeypatch):
    import importlib.util

    from streamlit import config

    spec = importlib.util.spec_from_file_location("dashboard_serve", CHECKOUT / "dashboard" / "serve.py")
    serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve)
    before = config.get_option("server.allowedHosts")
    config.set_option("server.allowedHosts", server_options.allowed_hosts("127.0.0.1", ["dash.team.example"]))
    try:
        assert serve.accepted(headers) is served
    finally:
        config.set_option("server.allowedHosts", before)
