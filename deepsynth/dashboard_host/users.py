"""Who may use the dashboard: hashed passwords, the users file, and how the app signs people in.

The dashboard (`dashboard/ui/login.py` draws the form; this package never imports streamlit) asks
for a user name and password whenever the users file has users, and `deepsynth dashboard` refuses to
bind beyond loopback without a login. Passwords are never stored: each user has a scrypt hash (RFC
7914; n=2**14, r=8, p=1: ~16 MiB and ~50 ms per check, the parameters OWASP's password storage
cheat sheet lists) with a random 16-byte salt of its own, compared with `hmac.compare_digest`.

The users file (JSON `{"format": 1, "users": {name: "scrypt$n=..,r=..,p=..$SALT$HASH"}}`) lives
outside the repository: `$DEEPSYNTH_DASHBOARD_USERS`, else `~/.config/deepsynth/dashboard-users.json`
(`$XDG_CONFIG_HOME` honoured). `deepsynth dashboard --add-user NAME` writes it (mode 0600, atomically);
a file that other users can read, or one inside the DeepSynth checkout, is refused.

The file is read again on every script run and every fragment run (`sessions.live_user`): a user
added, removed or given a new password counts from the next click, without a restart. Checking one
attempt is `sessions.sign_in`; slowing guessing down is `throttle.FailedSignIns`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
from functools import lru_cache
from pathlib import Path
from typing import Mapping

from deepsynth.errors import DeepSynthError

USERS_FILE_ENV = "DEEPSYNTH_DASHBOARD_USERS"
"""Path of the users file (else `default_users_file()`)."""
SESSION_USER_KEY = "deepsynth.user"
"""Where the dashboard keeps the signed-in user name in a session (absent or None: no login)."""
LOGIN_ENV = "DEEPSYNTH_DASHBOARD_LOGIN"
"""Set to `oidc` by `deepsynth dashboard --oidc`; unset (or `password`): the users file decides."""
INSECURE_NO_LOGIN_ENV = "DEEPSYNTH_DASHBOARD_INSECURE_NO_LOGIN"
"""Set to 1 by `deepsynth dashboard --insecure-no-login`: serve beyond loopback without a login."""
OIDC_ALLOW_ENV = "DEEPSYNTH_DASHBOARD_OIDC_ALLOW"
"""With `--oidc`: the e-mail addresses and `@domain`s allowed in, comma-separated."""
PASSWORD, OIDC, NONE = "password", "oidc", "none"
LOGIN_MODES = (PASSWORD, OIDC)
"""What `DEEPSYNTH_DASHBOARD_LOGIN` may say. `none` is not one of them: without users the dashboard
has no login, and the first `--add-user` turns the login on at the next click."""
WRONG_CREDENTIALS = "Wrong user name or password."
"""The one answer to a failed sign-in: it never says whether the user exists."""
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES, HASH_BYTES = 16, 32
MIN_PASSWORD_LENGTH = 12
_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_FORMAT = 1


def default_users_file() -> Path:
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "deepsynth" / "dashboard-users.json"


def users_file(environ: Mapping[str, str] = os.environ) -> Path:
    """Where the users file is: `$DEEPSYNTH_DASHBOARD_USERS`, else the default."""
    value = environ.get(USERS_FILE_ENV)
    return Path(value).expanduser() if value else default_users_file()


def check_user_name(name: str) -> str:
    if not _USER_NAME.match(name or ""):
        raise DeepSynthError(f"user name {name!r}: 1-64 letters, digits, '.', '_', '@' or '-', starting "
                             "with a letter or digit (it is recorded on jobs and MLflow runs)")
    return name


def check_new_password(password: str) -> str:
    """A password for a new user: long enough and not a well-known one."""
    from deepsynth.tracking.server import WEAK_PASSWORDS

    if len(password) < MIN_PASSWORD_LENGTH or password.lower() in WEAK_PASSWORDS:
        raise DeepSynthError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters and not be "
                             "a well-known one")
    return password


# -- hashing -----------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, salt: bytes | None = None) -> str:
    """`scrypt$n=..,r=..,p=..$SALT$HASH` (base64) for `password`, with a fresh random salt."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            dklen=HASH_BYTES)
    return f"scrypt$n={SCRYPT_N},r={SCRYPT_R},p={SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def _parse(record: str) -> tuple[int, int, int, bytes, bytes]:
    """(n, r, p, salt, hash) of a stored record; bounded so a tampered file cannot ask for GBs."""
    try:
        scheme, params, salt, digest = record.split("$")
        values = dict(item.split("=") for item in params.split(","))
        n, r, p = int(values["n"]), int(values["r"]), int(values["p"])
        salt_bytes, digest_bytes = base64.b64decode(salt, validate=True), base64.b64decode(digest, validate=True)
    except (ValueError, KeyError, AttributeError):
        raise DeepSynthError("a password record in the users file is malformed") from None
    if scheme != "scrypt" or not (2 <= n <= 2**20 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 4
                                  and len(salt_bytes) >= 8 and len(digest_bytes) >= 16):
        raise DeepSynthError("a password record in the users file has unsupported parameters")
    return n, r, p, salt_bytes, digest_bytes


def verify_password(password: str, record: str) -> bool:
    """True when `password` matches the stored `record` (constant-time comparison)."""
    n, r, p, salt, expected = _parse(record)
    actual = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(expected),
                            maxmem=256 * r * n + 1024 * 1024)
    return hmac.compare_digest(actual, expected)


@lru_cache(maxsize=1)
def _dummy_record() -> str:
    """What an unknown user's password is checked against, so the answer costs the same."""
    return hash_password(secrets.token_urlsafe(16))


# -- the users file ----------------------------------------------------------------------------
def _source_root() -> Path:
    return Path(__file__).resolve().parents[2]


def check_outside_repository(path: Path) -> None:
    """Refuse a users file inside the DeepSynth checkout (it could be committed or shared)."""
    resolved = path.expanduser().resolve()
    root = _source_root()
    if resolved == root or root in resolved.parents:
        raise DeepSynthError(f"{path}: the dashboard users file must live outside the DeepSynth checkout "
                             f"({root}); use the default {default_users_file()} or another private folder")


def read_users(path: Path) -> dict[str, str]:
    """{user name: password record}; {} when the file does not exist."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return {}
    check_outside_repository(path)
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise DeepSynthError(f"{path}: other users can read or change this users file "
                             f"(mode {stat.S_IMODE(mode):o}); run `chmod 600 {path}`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DeepSynthError(f"{path}: not a DeepSynth users file ({error})") from None
    users = data.get("users") if isinstance(data, dict) and data.get("format") == _FORMAT else None
    if not isinstance(users, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in users.items()):
        raise DeepSynthError(f"{path}: not a DeepSynth users file (expected "
                             '{"format": 1, "users": {name: hash}}); write it with `deepsynth dashboard --add-user`')
    return dict(users)


def add_user(path: Path, name: str, password: str) -> bool:
    """Store `name`'s password hash in the users file (created 0600 in a 0700 folder, replaced
    atomically). Returns True when the user is new, False when their password was changed."""
    from deepsynth.atomic_files import write_bytes_atomic

    check_user_name(name)
    check_new_password(password)
    check_outside_repository(path)
    users = read_users(path)
    is_new = name not in users
    users[name] = hash_password(password)
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    payload = json.dumps({"format": _FORMAT, "users": dict(sorted(users.items()))}, indent=2) + "\n"
    write_bytes_atomic(path, payload.encode("utf-8"))  # mkstemp: 0600 from the start
    os.chmod(path, 0o600)
    return is_new


def login_mode(environ: Mapping[str, str] = os.environ) -> str:
    """How the app signs people in, decided again on every run: OpenID Connect when the launcher
    said `--oidc`, else a password login when the users file has users (read now: a user added to a
    running dashboard turns the login on at the next click), else none."""
    mode = environ.get(LOGIN_ENV)
    if mode and mode not in LOGIN_MODES:
        raise DeepSynthError(f"{LOGIN_ENV}={mode!r}: must be one of {', '.join(LOGIN_MODES)} (or unset)")
    if mode == OIDC:
        return OIDC
    return PASSWORD if read_users(users_file(environ)) else NONE


def oidc_allowed(email: str, allow_list: str) -> bool:
    """Whether an identity provider's (verified) e-mail is on the allow list: exact addresses or
    `@domain` entries, case-insensitive. An empty list allows no one: any account at a public
    provider could sign in otherwise."""
    email = email.strip().casefold()
    if "@" not in email:
        return False
    entries = {entry.strip().casefold() for entry in allow_list.split(",") if entry.strip()}
    return email in entries or "@" + email.rsplit("@", 1)[1] in entries


def reachable_beyond_loopback(address: str | None) -> bool:
    """Whether a server bound to `address` answers other machines (unset = every interface)."""
    from deepsynth.tracking.server import is_loopback

    return not address or not is_loopback(address)
