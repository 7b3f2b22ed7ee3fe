"""`deepsynth server`: a shared MLflow tracking server for a team.

Binds 127.0.0.1 unless `--host` says otherwise. To expose it to a team:
  1. turn on authentication: `--auth` with a strong admin password in `DEEPSYNTH_ADMIN_PASSWORD`
     (MLflow's basic-auth app; the password is passed through the environment, never written to
     disk by DeepSynth, and weak or default passwords are refused);
  2. bind a reachable address (`--host 0.0.0.0` or the machine's LAN address) only behind a TLS
     reverse proxy (basic auth sends credentials in every request);
  3. use a real database for several writers (`--backend-store-uri postgresql://USER@HOST/DB`,
     MLflow's guidance for concurrent writers; sqlite serialises writes). The URI reaches MLflow
     through its `MLFLOW_BACKEND_STORE_URI` environment variable, not the command line, so a
     database password in it does not show in `ps`; the PostgreSQL driver is psycopg 3
     (`psycopg[binary]`, SQLAlchemy 2.1's default for `postgresql://`).
     Artifacts always go through the server (`--serve-artifacts`) into `--artifacts-destination`:
     clients need no access to the artifact store itself. docs/TEAM.md has the whole set-up.
Binding a non-loopback address without `--auth` is refused unless `--insecure-no-auth` is given:
then anyone who can reach the port can read, change and delete every experiment, run, metric,
artifact and registered model, and upload files into the artifact store.
Clients point at it with `--tracking-uri http://HOST:PORT` (train, dashboard) and authenticate with
`MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD`.

`--auth` starts from the README's set-up: MLflow's basic-auth app needs Flask-WTF (pinned in
requirements.txt; a missing one is named before anything starts) and a static Flask secret key for
its CSRF tokens, which DeepSynth generates once and keeps beside the auth database. Every
credential file there (`basic_auth.db` with the password hashes, `basic_auth.ini`,
`flask_secret_key`) is mode 600 in a 700 folder, re-tightened at every start, and the server
process runs under the private umask (`paths.configured_umask`), so what it creates is private too.
Bound to one specific non-loopback address, the server accepts only that address and the loopback
names in the Host header (MLflow's defaults would also accept any private-range address: a DNS
rebinding name resolving there).
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from deepsynth import paths
from deepsynth.configuration import Problems

ADMIN_PASSWORD_ENV = "DEEPSYNTH_ADMIN_PASSWORD"
WEAK_PASSWORDS = {"password", "password1234", "admin", "mlflow", "changeme", "12345678"}
MIN_PASSWORD_LENGTH = 12
SECRET_KEY_ENV = "MLFLOW_FLASK_SERVER_SECRET_KEY"
AUTH_FOLDER = ("workspace", "server-auth")
"""Under the workspace: basic_auth.ini, basic_auth.db (password hashes) and flask_secret_key."""
AUTH_PACKAGE = ("flask_wtf", "Flask-WTF==1.3.0")
"""(module, requirement) MLflow's basic-auth app imports for its CSRF protection."""
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]", "localhost:*", "127.0.0.1:*", "[[]::1]:*")
"""Host headers that name this machine's loopback (MLflow's fnmatch patterns; `[[]` is a `[`)."""
NO_AUTH_EXPOSURE = ("anyone who can reach it can read, change and delete every experiment, run, metric, "
                    "artifact and registered model, and upload files into the artifact store")


@dataclass(frozen=True)
class ServerConfig:
    """How the tracking server runs."""

    host: str = "127.0.0.1"
    """Address to bind; loopback by default so nothing outside this machine can reach it."""
    port: int = 5000
    """TCP port."""
    backend_store_uri: str = ""
    """Runs and params database: sqlite:///... or, for a team, postgresql://USER[:PASSWORD]@HOST:PORT/DB;
    empty = the workspace mlflow.db."""
    artifacts_destination: str = ""
    """Where the server stores artifacts it receives; empty = the workspace mlruns/ folder."""
    auth: bool = False
    """Turn on MLflow's basic-auth app (admin password from DEEPSYNTH_ADMIN_PASSWORD)."""
    insecure_no_auth: bool = False
    """Allow a non-loopback bind without authentication: anyone who can reach it can then read, change
    and delete every experiment, run, metric, artifact and registered model, and upload files into
    the artifact store (not recommended)."""
    workers: int = 1
    """Server worker processes."""

    def __post_init__(self) -> None:
        problems = Problems("server configuration")
        problems.check(1 <= self.port <= 65535, "port", f"must be in 1..65535, got {self.port}")
        problems.check(self.workers >= 1, "workers", "must be >= 1")
        problems.check(
            self.auth or self.insecure_no_auth or is_loopback(self.host), "host",
            f"{self.host} is reachable from other machines: without --auth, {NO_AUTH_EXPOSURE}; add --auth "
            "(and a TLS proxy), or --insecure-no-auth if you really mean it",
        )
        missing = _needs_missing_driver(self.backend_store_uri)
        problems.check(missing is None, "backend_store_uri",
                       f"this PostgreSQL store needs its driver: pip install '{missing}'")
        if self.auth:
            module, requirement = AUTH_PACKAGE
            problems.check(importlib.util.find_spec(module) is not None, "auth",
                           f"MLflow's basic-auth app needs {requirement.split('==')[0]}: "
                           f"pip install '{requirement}' (it is in requirements.txt)")
            password = os.environ.get(ADMIN_PASSWORD_ENV, "")
            problems.check(
                len(password) >= MIN_PASSWORD_LENGTH and password.lower() not in WEAK_PASSWORDS,
                ADMIN_PASSWORD_ENV,
                f"--auth needs a non-default admin password of >= {MIN_PASSWORD_LENGTH} characters "
                f"in the {ADMIN_PASSWORD_ENV} environment variable",
            )
        problems.raise_if_any()


POSTGRES_DRIVERS = {"postgresql": "psycopg", "postgresql+psycopg": "psycopg", "postgresql+psycopg2": "psycopg2"}
"""URI scheme -> the module SQLAlchemy 2.1 imports for it (plain `postgresql://` means psycopg 3)."""
POSTGRES_DRIVER_INSTALL = {"psycopg": "psycopg[binary]==3.3.9", "psycopg2": "psycopg2-binary==2.9.13"}


def _needs_missing_driver(uri: str) -> str | None:
    """The pip requirement a PostgreSQL store URI needs and this environment lacks, else None."""
    import importlib.util

    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    module = POSTGRES_DRIVERS.get(scheme)
    return POSTGRES_DRIVER_INSTALL[module] if module and importlib.util.find_spec(module) is None else None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def server_command(config: ServerConfig) -> tuple[list[str], dict[str, str]]:
    """The argv (no shell) and environment that start the server."""
    backend = config.backend_store_uri or f"sqlite:///{paths.home() / 'mlflow.db'}"
    artifacts = config.artifacts_destination or str(paths.home() / "mlruns")
    argv = [
        sys.executable, "-m", "mlflow", "server",
        "--host", config.host, "--port", str(config.port),
        "--serve-artifacts", "--artifacts-destination", artifacts,
        "--workers", str(config.workers),
    ]
    env = dict(os.environ)
    env["MLFLOW_BACKEND_STORE_URI"] = backend  # not in argv: a database password stays out of `ps`
    # the job-execution backend costs ~1.8 GB and ~15 s of start-up; DeepSynth does not use it
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    if not is_loopback(config.host) and not _is_wildcard(config.host) and "MLFLOW_SERVER_ALLOWED_HOSTS" not in env:
        env["MLFLOW_SERVER_ALLOWED_HOSTS"] = ",".join(LOOPBACK_HOSTS + _host_names(config.host, config.port))
    if config.auth:
        argv += ["--app-name", "basic-auth"]
        env["MLFLOW_AUTH_CONFIG_PATH"] = str(_write_auth_config())
        env["MLFLOW_AUTH_ADMIN_PASSWORD"] = os.environ[ADMIN_PASSWORD_ENV]
        if not env.get(SECRET_KEY_ENV):  # the user's own key (shared by several servers) wins
            env[SECRET_KEY_ENV] = _kept_secret_key()
    return argv, env


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def _host_names(host: str, port: int) -> tuple[str, ...]:
    shown = f"[{host}]" if ":" in host else host
    return (shown, f"{shown}:{port}")


def auth_folder() -> Path:
    """The private folder holding the server's credential files (700)."""
    folder = paths.home().joinpath(*AUTH_FOLDER)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    return folder


def _private_file(path: Path, text: str | None = None) -> Path:
    """`path` with mode 600: created empty (or with `text`) without ever being readable by others."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if text is not None else 0), 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        if text is not None:
            handle.write(text)
    os.chmod(path, 0o600)  # an older file keeps its mode through O_CREAT
    return path


def _write_auth_config() -> Path:
    folder = auth_folder()
    database = folder / "basic_auth.db"
    _private_file(database)  # sqlite fills an empty file; MLflow would create it 644
    for leftover in folder.glob("basic_auth.db-*"):  # sqlite's journal / WAL files
        os.chmod(leftover, 0o600)
    return _private_file(folder / "basic_auth.ini", (
        "[mlflow]\n"
        "default_permission = NO_PERMISSIONS\n"
        f"database_uri = sqlite:///{database}\n"
        "admin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "grant_default_workspace_access = false\n"
    ))


def _kept_secret_key() -> str:
    """The Flask secret key for MLflow's CSRF tokens: generated once (256 random bits), kept in
    `flask_secret_key` (600), the same at every restart so open forms stay valid."""
    path = auth_folder() / "flask_secret_key"
    if path.is_file():
        os.chmod(path, 0o600)
        key = path.read_text(encoding="utf-8").strip()
        if len(key) >= 32:
            return key
    key = secrets.token_hex(32)
    _private_file(path, key + "\n")
    return key


def start_server(config: ServerConfig, spawn: Callable[..., subprocess.Popen] = subprocess.Popen,
                 log_file=None) -> subprocess.Popen:
    """Start the server as a child process in its own session (stop it with `stop_server`)."""
    argv, env = server_command(config)
    return spawn(argv, env=env, stdout=log_file, stderr=subprocess.STDOUT if log_file else None,
                 start_new_session=True, umask=paths.configured_umask())


def stop_server(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM the server's process group (its gunicorn/uvicorn workers too), then SIGKILL."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass
