"""How `deepsynth dashboard` starts Streamlit: `python dashboard/serve.py run dashboard/app.py FLAGS`.

The same as `streamlit run`, with what Streamlit 1.67 has no setting for, added before its web
server is built:
- Every HTTP request and websocket must name an accepted host: the Host header, and the Origin
  header when a browser sends one, are checked against `server.allowedHosts` (Streamlit itself
  checks Host on the websocket only). A page served from a rebinding name, or another site, gets
  403 on every route (DNS rebinding).
- `/_stcore/metrics` (session counts and memory, unauthenticated) is not served.
- The session's first message does not carry this checkout's path (`main_script_path`), and the
  `load_git_info` request (branch, remote, uncommitted and untracked file names) is not answered:
  both reached anyone who opened the websocket, before signing in.
A plain `streamlit run dashboard/app.py` still gets `dashboard/.streamlit/config.toml` (loopback,
no usage statistics, the Host allow-list on the websocket), not these.
"""

from __future__ import annotations

import sys
from typing import Any

SHOWN_SCRIPT_PATH = "dashboard/app.py"
"""What the browser is told the main script is (Streamlit's frontend only hashes it)."""


class AcceptedHostsOnly:
    """ASGI middleware: refuse a request whose Host, or Origin, is not an accepted name."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and not accepted(dict(
                (name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in scope["headers"])):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await send({"type": "http.response.start", "status": 403,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
            await send({"type": "http.response.body", "body": b"This host name is not accepted by this dashboard.\n"})
            return
        await self.app(scope, receive, send)


def accepted(headers: dict[str, str]) -> bool:
    """Host must be on `server.allowedHosts`; so must Origin's host, when there is one."""
    from urllib.parse import urlsplit

    from streamlit.web.server.starlette.starlette_websocket import is_host_allowed

    if not is_host_allowed(headers.get("host")):
        return False
    origin = headers.get("origin")
    if origin is None:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and is_host_allowed(parts.netloc)


def install() -> None:
    """Put the additions in place (before `streamlit run` builds its server)."""
    from starlette.middleware import Middleware
    from streamlit.runtime.app_session import AppSession
    from streamlit.web.server.starlette import starlette_app

    streamlit_middleware = starlette_app.create_streamlit_middleware
    starlette_app.create_streamlit_middleware = lambda: [Middleware(AcceptedHostsOnly), *streamlit_middleware()]
    starlette_app.create_metrics_routes = lambda runtime, base_url: []

    new_session_message = AppSession._create_new_session_message

    def without_the_path(self, *args: Any, **kwargs: Any):
        message = new_session_message(self, *args, **kwargs)
        message.new_session.main_script_path = SHOWN_SCRIPT_PATH
        return message

    AppSession._create_new_session_message = without_the_path
    AppSession._handle_git_information_request = lambda self: None


def main(argv: list[str]) -> None:
    from streamlit.web import cli

    install()
    sys.argv = ["streamlit", *argv]
    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main(sys.argv[1:])
