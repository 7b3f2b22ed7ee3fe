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
"""

from __future__ import annotations

import ipaddress
import os
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
    if config.auth:
        argv += ["--app-name", "basic-auth"]
        env["MLFLOW_AUTH_CONFIG_PATH"] = str(_write_auth_config())
        env["MLFLOW_AUTH_ADMIN_PASSWORD"] = os.environ[ADMIN_PASSWORD_ENV]
    return argv, env


def _write_auth_config() -> Path:
    folder = paths.home() / "workspace" / "server-auth"
    folder.mkdir(parents=True, exist_ok=True)
    ini = folder / "basic_auth.ini"
    ini.write_text(
        "[mlflow]\n"
        "default_permission = NO_PERMISSIONS\n"
        f"database_uri = sqlite:///{folder / 'basic_auth.db'}\n"
        "admin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "grant_default_workspace_access = false\n"
    )
    return ini


def start_server(config: ServerConfig, spawn: Callable[..., subprocess.Popen] = subprocess.Popen,
                 log_file=None) -> subprocess.Popen:
    """Start the server as a child process in its own session (stop it with `stop_server`)."""
    argv, env = server_command(config)
    return spawn(argv, env=env, stdout=log_file, stderr=subprocess.STDOUT if log_file else None,
                 start_new_session=True)


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
