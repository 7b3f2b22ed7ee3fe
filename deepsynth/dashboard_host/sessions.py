"""One sign-in attempt, and whether a signed-in session still counts.

`sign_in` checks a password attempt: throttled first (no hashing while the address or name must
wait), then the password against the user's record or, for an unknown user, a dummy one (the same
work and the same answer). `live_user` is asked on every script run AND every fragment run (the
dashboard's live panels rerun on their own and take clicks without running the page): a session
counts only while its user is in the users file as it is now.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from deepsynth.dashboard_host import users as accounts
from deepsynth.dashboard_host.throttle import FailedSignIns


@dataclass(frozen=True)
class SignIn:
    """The outcome of one sign-in attempt."""

    user: str | None
    """The signed-in user name, or None."""
    message: str
    """What to show when it failed (never says whether the user exists)."""
    retry_after_s: float
    """Seconds before another attempt is accepted (0: at once)."""


def too_many(wait_s: float) -> str:
    return f"Too many failed sign-ins: try again in {int(wait_s + 0.999)} s."


def sign_in(users: Mapping[str, str], name: str, password: str, counts: FailedSignIns, address: str,
            every_address: bool = False) -> SignIn:
    """Check one attempt from `address` (`addresses.client_address`); `every_address`: the
    user name's failures slow every address down (the address may be forged)."""
    waiting = counts.wait_s(name, address, every_address)
    if waiting > 0:
        return SignIn(None, too_many(waiting), waiting)
    record = users.get(name)
    matched = accounts.verify_password(password, record if record is not None else accounts._dummy_record())
    if matched and record is not None:
        counts.succeeded(name, address)
        return SignIn(name, "", 0.0)
    return SignIn(None, accounts.WRONG_CREDENTIALS, counts.failed(name, address, every_address))


def live_user(session_user: str | None, mode: str, users: Mapping[str, str], oidc_email: str | None = None,
              oidc_allow: str = "") -> bool:
    """Whether a session may act now. `mode` and `users` are read for this very run
    (`users.login_mode()`, `users.read_users(...)`): a user removed from the file, or a session
    that signed out (no user), may not; without a login (`none`) anyone on this machine may."""
    if mode == accounts.NONE:
        return True
    if mode == accounts.OIDC:
        return bool(oidc_email) and session_user == oidc_email and accounts.oidc_allowed(oidc_email, oidc_allow)
    return session_user is not None and session_user in users
