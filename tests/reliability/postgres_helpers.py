"""A throwaway PostgreSQL for tests: Debian's `postgresql` binaries, `initdb` into a temporary
folder, `postgres` on a free loopback port, stopped by its pid and removed afterwards.

PostgreSQL refuses to run as root; when the tests run as root (CI does, on a clean clone) the
server and initdb run as the `postgres` system user that Debian's package creates, through
`subprocess.Popen(user=..., group=..., extra_groups=[])` (an argv list, no shell, no root groups
kept). As any other user they run as that user."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "deepsynth"


def binary(name: str) -> str:
    """`initdb`/`postgres` on PATH, else the newest Debian install (/usr/lib/postgresql/N/bin)."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                                                   key=lambda p: int(p.split("/")[4]), reverse=True)), None)
    assert found, f"PostgreSQL's {name} is missing: apt-get install -y postgresql (.ci/run does it)"
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Postgres:
    """A running server: connect with `uri(database)`."""

    process: subprocess.Popen
    port: int
    base: Path

    def uri(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def stop(self, timeout_s: float = 30) -> None:
        """Fast shutdown (SIGINT) of our server by its pid, SIGKILL if it hangs; remove its files."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.base, ignore_errors=True)


def start_postgres(database: str = "mlflow", timeout_s: float = 60) -> Postgres:
    """initdb + postgres on a free port (trust auth, loopback TCP and a private socket folder),
    then CREATE DATABASE `database`."""
    import psycopg

    as_user: dict = {}
    base = Path(tempfile.mkdtemp(prefix="deepsynth-pg-"))
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")  # created by Debian's postgresql package
        os.chown(base, account.pw_uid, account.pw_gid)
        as_user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    data, sockets = base / "data", base / "sockets"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}
    port = _free_port()
    try:
        subprocess.run([binary("initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
                        "--locale=C", "--no-sync"], check=True, capture_output=True, env=env, cwd=base,
                       timeout=120, **as_user)
        sockets.mkdir()
        if as_user:
            os.chown(sockets, as_user["user"], as_user["group"])
        log = open(base / "postgres.log", "wb")
        process = subprocess.Popen(
            [binary("postgres"), "-D", str(data), "-p", str(port), "-k", str(sockets),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off"],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=base, start_new_session=True, **as_user)
        log.close()
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise
    server = Postgres(process, port, base)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            connection = psycopg.connect(host="127.0.0.1", port=port, user=SUPERUSER, dbname="postgres",
                                         connect_timeout=2, autocommit=True)
            break
        except psycopg.OperationalError:
            if process.poll() is not None or time.monotonic() > deadline:
                text = (base / "postgres.log").read_text(errors="replace")[-3000:]
                server.stop()
                raise AssertionError(f"PostgreSQL did not start: {text}")
            time.sleep(0.2)
    with connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    return server
