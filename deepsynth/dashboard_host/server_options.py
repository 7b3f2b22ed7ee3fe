"""The Streamlit settings the dashboard runs with, wherever it is started from.

`deepsynth dashboard` passes them as flags; `streamlit run /path/to/dashboard/app.py` from any folder
reads the same values from `dashboard/.streamlit/config.toml` (Streamlit 1.67 reads the
`.streamlit/` folder beside the main script as well as the one in the current folder, the script's
winning; `tests/security/test_dashboard_hosts.py` checks that the file says what `FIXED` says).

- Bound to 127.0.0.1 unless `--host` says otherwise (Streamlit binds every interface by default).
- Uploads up to `deepsynth.data.files.DEFAULT_MAX_UPLOAD_BYTES` per file (`server.maxUploadSize`).
- No usage statistics sent to Streamlit (`browser.gatherUsageStats`), no browser opened.
- DNS rebinding: `server.allowedHosts` lists the only Host names accepted on the websocket (every
  click, every page run): the bound address's own names and those the team adds with
  `--allowed-host NAME`. A web page whose name was re-pointed at 127.0.0.1 sends its own name as
  Host and is refused. CORS stays on with no extra origins: another site's page cannot open the
  websocket either.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Iterable

from deepsynth.data.files import DEFAULT_MAX_UPLOAD_BYTES, MiB

FIXED = {
    "server.headless": "true",
    "browser.gatherUsageStats": "false",
    "server.enableCORS": "true",
    "server.enableXsrfProtection": "true",
    "client.toolbarMode": "minimal",  # no "Deploy" button: this app is not for Streamlit Cloud
    # the upload limit per file, in Streamlit's megabytes (2**20 bytes); the Dataset page states the
    # value Streamlit runs with (st.get_option) and checks uploads against it
    "server.maxUploadSize": str(DEFAULT_MAX_UPLOAD_BYTES // MiB),
    # the forms set a widget's value through session state *and* pass it as its default on purpose
    # (ui.config_form.draw: a browser that mounts the widget late still shows the value); Streamlit
    # would log that as a warning with a stack trace into the dashboard's terminal
    "global.disableWidgetStateDuplicationWarning": "true",
}
"""Options that never change with the command line."""
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
"""The names a browser on this machine uses (what `dashboard/.streamlit/config.toml` allows)."""


def _wildcard(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_unspecified
    except ValueError:
        return False


def _machine_names() -> list[str]:
    """This machine's host name, its fully qualified name and its interface addresses: the names a
    teammate's browser can use for a dashboard bound to every interface."""
    import psutil

    names = [socket.gethostname(), socket.getfqdn()]
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family in (socket.AF_INET, socket.AF_INET6):
                names.append(address.address.split("%", 1)[0])  # drop an IPv6 zone id
    return names


def allowed_hosts(host: str, extra: Iterable[str] = ()) -> list[str]:
    """The Host names the dashboard bound to `host` accepts: loopback names, `host` itself (every
    name of this machine when `host` is 0.0.0.0 or ::), and the team's own `extra` names."""
    names = [*LOOPBACK_NAMES, host, *(_machine_names() if _wildcard(host) else ()), *extra]
    seen: list[str] = []
    for name in names:
        name = name.strip().strip("[]").lower().rstrip(".")
        if name and not _wildcard(name) and name not in seen:
            seen.append(name)
    return seen


def check_allowed_host(name: str) -> str:
    """An `--allowed-host` value: a host name or address, or `*.domain` (never `*` alone)."""
    from deepsynth.errors import DeepSynthError

    cleaned = name.strip().lower()
    label = cleaned[2:] if cleaned.startswith("*.") else cleaned
    if not label or "*" in label or any(ch in label for ch in "/:@ ?#") and not _is_ip(label):
        raise DeepSynthError(f"--allowed-host {name!r}: give a host name (dashboard.example.org), an address, "
                             "or *.example.org; '*' alone would accept any name (DNS rebinding)")
    return cleaned


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.strip("[]"))
        return True
    except ValueError:
        return False


def streamlit_flags(host: str, port: int, extra_hosts: Iterable[str] = ()) -> list[str]:
    """`--option value` pairs for `streamlit run`."""
    flags = ["--server.address", host, "--server.port", str(port)]
    for name, value in FIXED.items():
        flags += [f"--{name}", value]
    for name in allowed_hosts(host, extra_hosts):
        flags += ["--server.allowedHosts", name]
    return flags
