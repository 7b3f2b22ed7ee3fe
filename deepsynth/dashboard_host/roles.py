"""Who may do what on the dashboard: the one rule every page asks.

Members train, compare and export; admins may also delete, move aliases and allow downloads.
Admins are named by the person who starts the dashboard (`deepsynth dashboard --admin EMAIL|NAME`,
repeat; the launcher hands them to the app in `DEEPSYNTH_DASHBOARD_ADMINS`). Without a login (a
dashboard on 127.0.0.1 for the machine's own user, `user` None) the one person there is the admin.
"""

from __future__ import annotations

import os
from typing import Iterable, Mapping

ADMINS_ENV = "DEEPSYNTH_DASHBOARD_ADMINS"
"""The admins' e-mails or user names, comma-separated (set by `deepsynth dashboard --admin`)."""
MEMBER, ADMIN = "member", "admin"
TRAIN, COMPARE, EXPORT = "train", "compare", "export"
DELETE, MOVE_ALIAS, ALLOW_DOWNLOAD = "delete", "move alias", "allow download"
ALLOWED = {
    MEMBER: frozenset({TRAIN, COMPARE, EXPORT}),
    ADMIN: frozenset({TRAIN, COMPARE, EXPORT, DELETE, MOVE_ALIAS, ALLOW_DOWNLOAD}),
}
"""Role -> the actions it may take."""
ACTIONS = ALLOWED[ADMIN]


def admins(environ: Mapping[str, str] = os.environ) -> frozenset[str]:
    """The admins named by the launcher (case-insensitive)."""
    return frozenset(name.strip().casefold() for name in environ.get(ADMINS_ENV, "").split(",") if name.strip())


def role_of(user: str | None, admin_names: Iterable[str]) -> str:
    """`user`'s role: admin when named an admin, or when the dashboard has no login (None)."""
    if user is None:
        return ADMIN
    return ADMIN if user.strip().casefold() in {name.casefold() for name in admin_names} else MEMBER


def may(user: str | None, action: str, admin_names: Iterable[str] | None = None) -> bool:
    """Whether `user` (the signed-in e-mail or name; None without a login) may take `action`."""
    if action not in ACTIONS:
        raise ValueError(f"unknown dashboard action {action!r}; one of {sorted(ACTIONS)}")
    return action in ALLOWED[role_of(user, admins() if admin_names is None else admin_names)]


def refusal(user: str | None, action: str) -> str:
    """What to show a user who may not take `action`."""
    return (f"{user} may not {action}: only the dashboard's admins may (`deepsynth dashboard --admin "
            "EMAIL` names them).")
