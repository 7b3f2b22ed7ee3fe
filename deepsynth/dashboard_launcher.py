"""`deepsynth dashboard`: start the Streamlit dashboard (`dashboard/app.py`) on 127.0.0.1.

Streamlit listens on every interface unless told otherwise; the dashboard starts jobs, reads and
writes files and has no login, so it binds loopback unless `--host` names another address (and
then says loudly what that exposes). The app runs as `python -m streamlit run ...` from this
interpreter, an argv list (no shell), in the foreground until Ctrl-C. This module never imports
streamlit: `deepsynth/` stays free of it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Callable

from deepsynth.errors import DeepSynthError
from deepsynth.tracking.server import is_loopback

HELP = "Start the Streamlit dashboard (http://127.0.0.1:8501 unless --host/--port say otherwise)."
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501


def app_path() -> Path:
    """`<repo>/dashboard/app.py` (the dashboard ships beside the package, not inside it)."""
    path = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
    if not path.is_file():
        raise DeepSynthError(f"dashboard app not found at {path}: run DeepSynth from its source checkout "
                             "(`pip install -e .`), where dashboard/ sits beside deepsynth/")
    return path


def dashboard_command(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> list[str]:
    """The argv that serves the dashboard: this Python, loopback unless asked, no telemetry."""
    if not 1 <= port <= 65535:
        raise DeepSynthError(f"--port must be in 1..65535, got {port}")
    return [
        sys.executable, "-m", "streamlit", "run", str(app_path()),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",  # no "Deploy" button: this app is not for Streamlit Cloud
    ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help="address to bind (default 127.0.0.1: this machine only; the dashboard has no login)")


def run(args: argparse.Namespace, call: Callable[[list[str]], int] = subprocess.call) -> int:
    argv = dashboard_command(args.host, args.port)
    if not is_loopback(args.host):
        print(f"warning: binding {args.host}: anyone who can reach this machine can start jobs and read "
              "files through the dashboard (it has no login); prefer an SSH tunnel to 127.0.0.1",
              file=sys.stderr)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"DeepSynth dashboard: http://{shown}:{args.port}  (Ctrl-C to stop)", flush=True)
    try:
        return call(argv)
    except KeyboardInterrupt:
        return 0
