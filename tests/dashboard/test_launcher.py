"""`deepsynth dashboard`: the argv it runs (loopback, headless, no telemetry) and its CLI wiring."""

import io
import stat
import sys
from pathlib import Path

import pytest

from deepsynth.dashboard_host import users as auth
from deepsynth.dashboard_host import launcher as dashboard_launcher
from deepsynth.cli import build_parser
from deepsynth.errors import DeepSynthError


def test_default_command_serves_the_app_on_loopback_without_telemetry():
    argv = dashboard_launcher.dashboard_command()
    root = Path(__file__).resolve().parents[2]
    assert argv[:3] == [sys.executable, str(root / "dashboard" / "serve.py"), "run"]
    assert Path(argv[3]) == root / "dashboard" / "app.py"
    pairs = list(zip(argv[4::2], argv[5::2]))
    options = dict(pairs)
    assert options == {"--server.address": "127.0.0.1", "--server.port": "8501", "--server.headless": "true",
                       "--browser.gatherUsageStats": "false", "--client.toolbarMode": "minimal",
                       "--server.enableCORS": "true", "--server.enableXsrfProtection": "true",
                       "--server.allowedHosts": "::1", "--server.maxUploadSize": "200",
                       "--global.disableWidgetStateDuplicationWarning": "true"}
    assert [value for flag, value in pairs if flag == "--server.allowedHosts"] == ["localhost", "127.0.0.1", "::1"]


def test_the_team_adds_host_names_and_a_wildcard_bind_accepts_this_machines_names():
    import socket

    argv = dashboard_launcher.dashboard_command("0.0.0.0", 8600, ["Dash.Example.org", "*.team.example.org"])
    hosts = [argv[i + 1] for i, flag in enumerate(argv) if flag == "--server.allowedHosts"]
    assert hosts[:3] == ["localhost", "127.0.0.1", "::1"] and hosts[-2:] == ["dash.example.org", "*.team.example.org"]
    assert socket.gethostname().lower() in hosts and "0.0.0.0" not in hosts and "*" not in hosts
    for bad in ("*", "evil.example/x", "a b"):
        with pytest.raises(DeepSynthError, match="--allowed-host"):
            dashboard_launcher.dashboard_command("127.0.0.1", 8600, [bad])


class Calls(list):
    """Stands in for subprocess.call: records (argv, env) and returns 0."""

    def __call__(self, argv, env=None):
        self.append((argv, env))
        return 0


@pytest.fixture
def no_users(tmp_path, monkeypatch):
    """No users file (never this machine's own), no login settings inherited."""
    monkeypatch.setenv(auth.USERS_FILE_ENV, str(tmp_path / "users.json"))
    for name in (auth.LOGIN_ENV, auth.INSECURE_NO_LOGIN_ENV, auth.OIDC_ALLOW_ENV):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "users.json"


def launch(*flags: str, **kwargs) -> Calls:
    calls = Calls()
    assert dashboard_launcher.run(build_parser().parse_args(["dashboard", *flags]), call=calls, **kwargs) == 0
    return calls


def test_verb_parses_and_runs_the_command_it_built(capsys, no_users):
    ((argv, env),) = launch("--port", "8611")
    assert argv[argv.index("--server.port") + 1] == "8611"
    assert argv[argv.index("--server.address") + 1] == "127.0.0.1"
    assert auth.LOGIN_ENV not in env and auth.INSECURE_NO_LOGIN_ENV not in env
    assert env[auth.USERS_FILE_ENV] == str(no_users)  # named even while empty: read on every run
    assert "http://127.0.0.1:8611  (no sign-in until a user is added to" in capsys.readouterr().out


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7"])
def test_a_public_address_without_a_login_is_refused(host, no_users):
    calls = Calls()
    with pytest.raises(DeepSynthError) as refused:
        dashboard_launcher.run(build_parser().parse_args(["dashboard", "--host", host]), call=calls)
    message = str(refused.value)
    assert message.startswith(f"--host {host} is reachable from other machines and the dashboard has no login: "
                              f"anyone who can reach {host}:8501 can start and cancel training jobs")
    assert "deepsynth dashboard --add-user NAME" in message and "--insecure-no-login" in message
    assert calls == [] and not no_users.exists()


def test_the_override_flag_serves_it_and_says_what_it_exposes(capsys, no_users):
    ((argv, env),) = launch("--host", "0.0.0.0", "--insecure-no-login")
    assert argv[argv.index("--server.address") + 1] == "0.0.0.0"
    assert auth.LOGIN_ENV not in env and env[auth.INSECURE_NO_LOGIN_ENV] == "1"
    assert "warning: --insecure-no-login: anyone who can reach 0.0.0.0:8501 can start and cancel training jobs" \
        in capsys.readouterr().err


def test_add_user_reads_the_password_from_stdin_and_then_the_login_is_on(capsys, no_users):
    assert launch("--add-user", "alice", stdin=io.StringIO("a long enough password\n")) == []
    assert stat.S_IMODE(no_users.stat().st_mode) == 0o600
    assert auth.verify_password("a long enough password", auth.read_users(no_users)["alice"])
    out = capsys.readouterr().out
    assert f"added dashboard user 'alice' in {no_users}" in out and "asks everyone to sign in from its next click" in out
    ((argv, env),) = launch("--host", "0.0.0.0")  # a login now: exposing it is allowed
    assert auth.LOGIN_ENV not in env and env[auth.USERS_FILE_ENV] == str(no_users)


def test_login_settings_of_the_calling_shell_never_reach_the_app(no_users, monkeypatch):
    monkeypatch.setenv(auth.LOGIN_ENV, "none")
    monkeypatch.setenv(auth.INSECURE_NO_LOGIN_ENV, "1")
    ((argv, env),) = launch("--trusted-proxy", "127.0.0.1")
    assert auth.LOGIN_ENV not in env and auth.INSECURE_NO_LOGIN_ENV not in env
    assert env["DEEPSYNTH_DASHBOARD_TRUSTED_PROXIES"] == "127.0.0.1"
    with pytest.raises(DeepSynthError, match="--trusted-proxy 'proxy.lan'"):
        launch("--trusted-proxy", "proxy.lan")


def test_add_user_at_a_terminal_asks_twice(no_users):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    answers = iter(["a long enough password", "a different password"])
    with pytest.raises(DeepSynthError, match="the two passwords differ; nothing was written"):
        launch("--add-user", "alice", stdin=Terminal(), ask=lambda prompt: next(answers))
    assert not no_users.exists()
    with pytest.raises(DeepSynthError, match="at least 12 characters"):
        launch("--add-user", "alice", stdin=io.StringIO("short\n"))
    assert not no_users.exists()


def test_oidc_needs_an_allow_list(no_users):
    with pytest.raises(DeepSynthError, match="--oidc needs"):
        launch("--oidc", "--host", "0.0.0.0")


def test_stopping_the_dashboards_pid_stops_the_server(workspace, no_users, tmp_path):
    """`deepsynth dashboard` becomes the server (exec): SIGTERM to the pid it started with leaves no
    Streamlit process serving (a child server outlived its stopped launcher before)."""
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    import psutil

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with open(tmp_path / "dashboard.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "deepsynth", "dashboard", "--port", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT, cwd=str(workspace))
    children = []  # the server's children, if any: stopped in `finally`, whatever happens
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as answer:
                    assert answer.read().strip() == b"ok"
                    break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "dashboard.log").read_text()
                time.sleep(0.5)
        children.extend(psutil.Process(process.pid).children(recursive=True))
        assert "serve.py run" in " ".join(psutil.Process(process.pid).cmdline())  # the pid is the server
        assert not children
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        for child in children:
            if child.is_running():
                child.kill()
