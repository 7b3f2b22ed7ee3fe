"""Which address a dashboard request comes from, for counting failed sign-ins.

The connection's own address, unless the team configured a trusted reverse proxy
(`deepsynth dashboard --trusted-proxy ADDRESS`, `$DEEPSYNTH_DASHBOARD_TRUSTED_PROXIES`): for a
connection from that proxy the address it forwarded (the right-most `X-Forwarded-For` entry that is
not itself a trusted proxy) is used. Without one, `X-Forwarded-For` is ignored: any client can
write that header, and a guesser that could choose its address would never slow down.

Streamlit's web server (uvicorn) rewrites the connection's address from `X-Forwarded-For` itself
for clients at the addresses in `$FORWARDED_ALLOW_IPS` (127.0.0.1 and ::1 when unset: any local
process could then pick its address). `deepsynth dashboard` sets that variable to the trusted
proxies (empty: none). Started any other way (`streamlit run dashboard/app.py`), the addresses
Streamlit reports may be forged, and `addresses_are_real()` says so: the sign-in throttle then
counts a user name's failures against every address.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Iterable, Mapping

FORWARDED_ALLOW_IPS_ENV = "FORWARDED_ALLOW_IPS"
"""uvicorn's own setting: whose X-Forwarded-For it believes."""
TRUSTED_PROXIES_ENV = "DEEPSYNTH_DASHBOARD_TRUSTED_PROXIES"
"""Comma-separated addresses of the reverse proxies in front of the dashboard (none by default)."""
LOCAL = "127.0.0.1"
"""What a connection from this machine counts as (Streamlit reports no address for loopback)."""


def _normal(address: str) -> str | None:
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return None
    return LOCAL if ip.is_loopback else str(ip)


def trusted_proxies(environ: Mapping[str, str] = os.environ) -> frozenset[str]:
    """The configured proxies' addresses (normalised; loopback ones count as `LOCAL`)."""
    entries = (entry for entry in environ.get(TRUSTED_PROXIES_ENV, "").split(",") if entry.strip())
    return frozenset(address for address in map(_normal, entries) if address)


def forwarded_allow_ips(proxies: Iterable[str]) -> str:
    """The `FORWARDED_ALLOW_IPS` value for `proxies` (empty: believe no one's X-Forwarded-For)."""
    return ",".join(proxies)


def addresses_are_real(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the server believes X-Forwarded-For only from the trusted proxies (as `deepsynth
    dashboard` starts it), so a client cannot choose the address it is counted against."""
    if FORWARDED_ALLOW_IPS_ENV not in environ:
        return False  # uvicorn's default: every local process may forge its address
    believed = [entry for entry in environ[FORWARDED_ALLOW_IPS_ENV].split(",") if entry.strip()]
    proxies = trusted_proxies(environ)
    return all(_normal(entry) in proxies for entry in believed)


def check_proxy_address(address: str) -> str:
    """A `--trusted-proxy` value: an IP address (a name could change what it points at)."""
    from deepsynth.errors import DeepSynthError

    if _normal(address) is None:
        raise DeepSynthError(f"--trusted-proxy {address!r}: give the proxy's IP address (e.g. 127.0.0.1)")
    return address.strip()


def client_address(remote: str | None, forwarded_for: Iterable[str] = (),
                   proxies: frozenset[str] = frozenset()) -> str:
    """The address to count a request against: `remote` (None: this machine), or, when `remote`
    is a trusted proxy, the right-most forwarded address that is not a trusted proxy."""
    connection = _normal(remote) if remote else LOCAL
    connection = connection or str(remote)
    if connection not in proxies:
        return connection
    hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _normal(hop)
        if address is None:
            return connection  # a malformed entry: stop trusting the chain there
        if address not in proxies:
            return address
    return connection
