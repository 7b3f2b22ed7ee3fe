"""An attacker's view of the dashboard: a real server started as `deepsynth dashboard` starts it, and
a websocket client that speaks Streamlit's protocol directly (BackMsg / ForwardMsg protobufs), so
a test can send what a browser never would: a `clear_cache` message between guesses, a click inside
a fragment after its user was removed, a forged Host header."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path



def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


CHECKOUT = Path(os.environ.get("DEEPSYNTH_ATTACK_TARGET") or Path(__file__).resolve().parents[2])
"""The checkout whose dashboard is attacked: this one, or (to watch the attacks succeed on an older
version) the one `$DEEPSYNTH_ATTACK_TARGET` names."""
APP = CHECKOUT / "dashboard" / "app.py"


def launcher_command(port: int, *flags: str) -> list[str]:
    """`deepsynth dashboard --port PORT FLAGS` (it becomes the Streamlit server: same pid)."""
    return [sys.executable, "-m", "deepsynth", "dashboard", "--port", str(port), *flags]


def plain_streamlit_command(port: int, *flags: str) -> list[str]:
    """`streamlit run /abs/path/dashboard/app.py`, as someone would type it from another folder."""
    return [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port), *flags]


@contextlib.contextmanager
def serving(home: Path, env: dict[str, str], *flags: str, command=launcher_command):
    """The dashboard on a free loopback port, started in `home` (the current folder too); yields
    the port; stops the server by its pid."""
    port = free_port()
    log_path = home / "dashboard.log"
    environment = {**os.environ, "DEEPSYNTH_HOME": str(home), "PYTHONPATH": str(CHECKOUT), **env}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command(port, *flags), stdout=log, stderr=subprocess.STDOUT, cwd=str(home),
                                   env=environment)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as answer:
                    if answer.read().strip() == b"ok":
                        break
            except OSError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.3)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class Widget:
    kind: str
    id: str
    label: str
    fragment_id: str


@dataclass
class Run:
    """What one script run sent back: widgets, texts, fragment ids."""

    widgets: list[Widget] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)
    """Page names the navigation message(s) declared."""
    script_path: str = ""
    """`main_script_path` of the session's first message."""
    gather_usage_stats: bool | None = None

    def widget(self, label: str) -> Widget:
        matches = [w for w in self.widgets if w.label == label]
        assert matches, (label, [w.label for w in self.widgets], self.texts)
        return matches[-1]

    def has(self, text: str) -> bool:
        return any(text in t for t in self.texts)


class Client:
    """One browser session, driven over the websocket. `host` is the Host header sent (the
    connection itself always goes to 127.0.0.1)."""

    def __init__(self, port: int, host: str | None = None, origin: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        from websockets.sync.client import connect

        host = host or f"127.0.0.1:{port}"
        headers = {**({"Origin": origin} if origin else {}), **(headers or {})}
        self.socket = connect(f"ws://{host}/_stcore/stream", sock=socket.create_connection(("127.0.0.1", port)),
                              subprotocols=["streamlit"], additional_headers=headers, open_timeout=20,
                              max_size=None)

    def close(self) -> None:
        self.socket.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, message) -> None:
        self.socket.send(message.SerializeToString())

    def clear_cache(self) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        message = BackMsg()
        message.clear_cache = True
        self.send(message)

    def run(self, page: str = "", widgets: list = (), fragment_id: str = "", timeout: float = 60,
            url: str = "") -> Run:
        """Ask for a script run (a page load, a click) and collect what it sends until it finishes;
        `url` is the address the browser says it is at."""
        from streamlit.proto.BackMsg_pb2 import BackMsg

        message = BackMsg()
        state = message.rerun_script
        state.page_name = page
        if url:
            state.context_info.url = url
        state.fragment_id = fragment_id
        state.widget_states.widgets.extend(widgets)
        self.send(message)
        return self.collect(timeout)

    def collect(self, timeout: float = 60) -> Run:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        run = Run()
        deadline = time.monotonic() + timeout
        while True:
            data = self.socket.recv(timeout=max(0.1, deadline - time.monotonic()))
            message = ForwardMsg()
            message.ParseFromString(data)
            kind = message.WhichOneof("type")
            if kind == "delta" and message.delta.WhichOneof("type") == "new_element":
                element = message.delta.new_element
                inner = getattr(element, element.WhichOneof("type"))
                for name in ("body", "label"):
                    if hasattr(inner, name) and getattr(inner, name) and not hasattr(inner, "id"):
                        run.texts.append(getattr(inner, name))
                if element.WhichOneof("type") == "exception":
                    run.texts.append(f"EXCEPTION {inner.type}: {inner.message}")
                if hasattr(inner, "id") and getattr(inner, "id", ""):
                    run.widgets.append(Widget(element.WhichOneof("type"), inner.id, getattr(inner, "label", ""),
                                              message.delta.fragment_id))
            elif kind == "navigation":
                run.pages += [page.page_name for page in message.navigation.app_pages]
            elif kind == "new_session":
                run.script_path = message.new_session.main_script_path
                run.gather_usage_stats = message.new_session.config.gather_usage_stats
            elif kind == "script_finished":
                if message.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:  # st.rerun(): the next run follows
                    return run


def text_value(widget_id: str, value: str):
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    return WidgetState(id=widget_id, string_value=value)


def click(widget_id: str):
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    return WidgetState(id=widget_id, trigger_value=True)
