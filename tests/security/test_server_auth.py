"""Issue 21, item 8: `deepsynth server --auth` did not start on a fresh clone (Flask-WTF missing,
`MLFLOW_FLASK_SERVER_SECRET_KEY` unset), and once started its `basic_auth.db` (password hashes) was
mode 644. Now it starts from the README's set-up, keeps a generated secret key, and every credential
file is 600; the slow test starts it as docs/TEAM.md describes (`--auth`, bound to this machine's
own non-loopback address) and checks an anonymous request is refused and the admin's is served."""

import base64
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request

import psutil
import pytest

from deepsynth.configuration import ConfigError
from deepsynth.tracking import server
from deepsynth.tracking.server import ADMIN_PASSWORD_ENV, ServerConfig, server_command

SECRET_KEY_ENV = "MLFLOW_FLASK_SERVER_SECRET_KEY"  # MLflow's name (not imported: the attack runs on any version)

PASSWORD = "correct-horse-battery-staple-42"


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _own_non_loopback_ipv4() -> str | None:
    """An IPv4 address of one of THIS machine's interfaces that is not loopback (never another host)."""
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and not address.address.startswith("127."):
                return address.address
    return None


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _get(url: str, user: str | None = None, password: str | None = None) -> tuple[int, str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # straight to this machine
    request = urllib.request.Request(url)
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


def test_auth_generates_one_secret_key_and_keeps_every_credential_file_private(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSYNTH_HOME", str(tmp_path))
    monkeypatch.setenv(ADMIN_PASSWORD_ENV, PASSWORD)
    monkeypatch.delenv(SECRET_KEY_ENV, raising=False)
    folder = tmp_path / "workspace" / "server-auth"
    folder.mkdir(parents=True, mode=0o755)
    (folder / "basic_auth.db").write_bytes(b"")
    os.chmod(folder / "basic_auth.db", 0o644)  # what MLflow left behind before
    _, env = server_command(ServerConfig(auth=True))
    _, again = server_command(ServerConfig(auth=True))
    key = env[SECRET_KEY_ENV]
    assert len(key) >= 64 and again[SECRET_KEY_ENV] == key  # kept across restarts
    assert (folder / "flask_secret_key").read_text().strip() == key
    assert _mode(folder) == 0o700
    for name in ("basic_auth.db", "basic_auth.ini", "flask_secret_key"):
        assert _mode(folder / name) == 0o600, name
    monkeypatch.setenv(SECRET_KEY_ENV, "the-team's-own-key-shared-by-two-servers")
    assert server_command(ServerConfig(auth=True))[1][SECRET_KEY_ENV] == "the-team's-own-key-shared-by-two-servers"


def test_a_missing_flask_wtf_is_named_before_anything_starts(monkeypatch):
    monkeypatch.setenv(ADMIN_PASSWORD_ENV, PASSWORD)
    real = server.importlib.util.find_spec
    monkeypatch.setattr(server.importlib.util, "find_spec",
                        lambda name, *a: None if name == "flask_wtf" else real(name, *a))
    with pytest.raises(ConfigError) as info:
        ServerConfig(auth=True)
    assert "pip install 'Flask-WTF==1.3.0'" in str(info.value)


def test_a_specific_address_is_the_only_host_name_accepted_besides_loopback(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSYNTH_HOME", str(tmp_path))
    monkeypatch.setenv(ADMIN_PASSWORD_ENV, PASSWORD)
    monkeypatch.delenv("MLFLOW_SERVER_ALLOWED_HOSTS", raising=False)
    _, env = server_command(ServerConfig(host="192.0.2.7", port=5123, auth=True))
    allowed = env["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")
    assert "192.0.2.7:5123" in allowed and "127.0.0.1" in allowed
    assert not any(pattern.startswith(("10.", "192.168.")) for pattern in allowed)


@pytest.mark.slow
def test_auth_server_starts_refuses_anonymous_and_serves_the_admin_from_a_lan_address(tmp_path):
    address = _own_non_loopback_ipv4()
    if address is None:
        pytest.skip("needs a non-loopback network address on this machine (none configured)")
    port = _free_port(address)
    env = {k: v for k, v in os.environ.items() if k not in (SECRET_KEY_ENV, "MLFLOW_TRACKING_URI",
                                                            "MLFLOW_SERVER_ALLOWED_HOSTS", "DEEPSYNTH_UMASK")}
    env.update(DEEPSYNTH_HOME=str(tmp_path), MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    env[ADMIN_PASSWORD_ENV] = PASSWORD
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "deepsynth", "server", "--auth", "--host", address,
                                    "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env,
                                   cwd=tmp_path, start_new_session=True, preexec_fn=lambda: os.umask(0o022))
    base = f"http://{address}:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if _get(f"{base}/health")[0] == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None, log_path.read_text()[-4000:]
            assert time.monotonic() < deadline, "no answer in 180 s: " + log_path.read_text()[-4000:]
            time.sleep(1)
        search = f"{base}/api/2.0/mlflow/experiments/search?max_results=5"
        anonymous, _ = _get(search)
        assert anonymous == 401
        wrong, _ = _get(search, "admin", "not-the-password-at-all")
        assert wrong == 401
        status, body = _get(search, "admin", PASSWORD)
        assert status == 200, body[:500]
        assert "experiments" in json.loads(body)
        folder = tmp_path / "workspace" / "server-auth"
        assert _mode(folder) == 0o700
        credential_files = sorted(p.name for p in folder.iterdir())
        assert {"basic_auth.db", "basic_auth.ini", "flask_secret_key"} <= set(credential_files)
        assert {name: _mode(folder / name) for name in credential_files} == {name: 0o600 for name in credential_files}
        assert _mode(tmp_path / "mlflow.db") == 0o600
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # the CLI stops the server's process group
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        time.sleep(0.5)
        leftovers = [p for p in psutil.process_iter(["cmdline"])
                     if str(port) in " ".join(p.info["cmdline"] or []) and "mlflow" in " ".join(p.info["cmdline"] or [])]
        for leftover in leftovers:  # never leave one serving, even when the test failed
            leftover.kill()
        assert not leftovers, "server processes left running"
