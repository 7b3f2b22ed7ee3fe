"""Sign-in through the team's OpenID Connect provider (Google, Microsoft Entra, Okta, Keycloak...).

Streamlit 1.67 does the protocol (`st.login`, Authlib): it reads an `[auth]` section from its
secrets files (`redirect_uri`, `cookie_secret`, `client_id`, `client_secret`,
`server_metadata_url`) and, after the provider's callback, keeps the ID token's claims in a signed
cookie valid 30 days (`st.user`). This module is what DeepSynth adds around it:

- Settings: `~/.config/deepsynth/oidc.toml` (mode 600, outside the checkout; `--oidc-config PATH`)
  holds `server_metadata_url`, `client_id`, `client_secret` and optionally `redirect_uri`,
  `allow_email`, `allow_domain`, `admin` lists; the flags `--oidc-provider`, `--oidc-client-id`,
  `--allow-email`, `--allow-domain`, `--admin` add to / override them. The client secret is read from
  that file only (or `$DEEPSYNTH_OIDC_CLIENT_SECRET`), never from the command line or the checkout.
- `write_streamlit_secrets`: the launcher writes the `[auth]` section, with a cookie secret generated
  for this launch, to a private secrets file (mode 600, in a 0700 folder beside the users file) and
  passes it with Streamlit's `--secrets.files` option, the only secrets file that run reads.
- Who: a session is named by its VERIFIED e-mail (`email_verified` true, `verified_email`), and
  gets in only when the address or its domain is on the allow-list (`allowed`).
- Signed out everywhere: Streamlit's sign-out clears one browser's cookie; the others stay valid
  for 30 days. `SignedOut` keeps, per e-mail, the time after which sign-ins count (a 0600 file
  beside the users file); a session whose ID token was issued (`iat`) before it is refused on its
  next run or fragment run (`session_counts`).
This module never imports streamlit.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import time
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlparse

from deepsynth.errors import DeepSynthError

CLIENT_SECRET_ENV = "DEEPSYNTH_OIDC_CLIENT_SECRET"
"""The client secret, when it is not in the settings file (e.g. from a secrets manager)."""
SETTINGS_FILE_NAME = "oidc.toml"
SIGNED_OUT_FILE_NAME = "dashboard-signed-out.json"
SECRETS_FOLDER_NAME = "dashboard-secrets"
CALLBACK_PATH = "/oauth2callback"
COOKIE_SECRET_BYTES = 32
_FORMAT = 1


@dataclass(frozen=True)
class OidcSettings:
    """One identity provider and who may sign in through it."""

    server_metadata_url: str = ""
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    redirect_uri: str = ""
    allow_emails: tuple[str, ...] = ()
    allow_domains: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()

    def allow_list(self) -> str:
        """`a@x.org,@y.org`: the form the app reads from `users.OIDC_ALLOW_ENV`."""
        return ",".join([*self.allow_emails, *("@" + domain for domain in self.allow_domains)])


def default_settings_file() -> Path:
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "deepsynth" / SETTINGS_FILE_NAME


def _source_root() -> Path:
    return Path(__file__).resolve().parents[2]


def check_private_file(path: Path, what: str) -> None:
    """Refuse a file holding secrets that sits inside the checkout or that others can read."""
    resolved = path.expanduser().resolve()
    root = _source_root()
    if resolved == root or root in resolved.parents:
        raise DeepSynthError(f"{path}: the {what} holds a secret and must live outside the DeepSynth checkout "
                             f"({root}); use {default_settings_file()}")
    mode = path.stat().st_mode
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise DeepSynthError(f"{path}: other users can read or change the {what} (mode {stat.S_IMODE(mode):o}); "
                             f"run `chmod 600 {path}`")


def _strings(data: Mapping[str, Any], key: str, path: Path) -> tuple[str, ...]:
    value = data.get(key, [])
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise DeepSynthError(f"{path}: `{key}` must be a string or a list of strings")
    return tuple(value)


def read_settings(path: Path) -> OidcSettings:
    """The settings file (absent: empty settings)."""
    if not path.exists():
        return OidcSettings()
    check_private_file(path, "OIDC settings file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise DeepSynthError(f"{path}: not a TOML file ({error})") from None
    known = {"server_metadata_url", "client_id", "client_secret", "redirect_uri", "allow_email", "allow_domain", "admin"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise DeepSynthError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    for key in ("server_metadata_url", "client_id", "client_secret", "redirect_uri"):
        if not isinstance(data.get(key, ""), str):
            raise DeepSynthError(f"{path}: `{key}` must be a string")
    return OidcSettings(data.get("server_metadata_url", ""), data.get("client_id", ""), data.get("client_secret", ""),
                        data.get("redirect_uri", ""), _strings(data, "allow_email", path),
                        _strings(data, "allow_domain", path), _strings(data, "admin", path))


def check_email(value: str, flag: str) -> str:
    value = value.strip()
    local, _, domain = value.rpartition("@")
    if not local or "." not in domain or any(ch in value for ch in " ,/\\\"'<>"):
        raise DeepSynthError(f"{flag} {value!r}: give an e-mail address such as alice@example.org")
    return value.casefold()


def check_domain(value: str) -> str:
    domain = value.strip().lstrip("@").rstrip(".").casefold()
    if "." not in domain or any(ch in domain for ch in " ,/\\@*\"'<>:"):
        raise DeepSynthError(f"--allow-domain {value!r}: give a domain such as example.org (no '*', no '@')")
    return domain


def check_url(value: str, flag: str, loopback_http_ok: bool = True) -> str:
    from deepsynth.tracking.server import is_loopback

    parsed = urlparse(value)
    plain_ok = parsed.scheme == "http" and loopback_http_ok and is_loopback(parsed.hostname or "")
    if not parsed.hostname or not (parsed.scheme == "https" or plain_ok):
        raise DeepSynthError(f"{flag} {value!r}: give an https:// URL (http:// only for a provider on this machine)")
    return value


def complete(settings: OidcSettings, host: str, port: int, environ: Mapping[str, str] = os.environ) -> OidcSettings:
    """Check the settings are enough to sign anyone in; fill the client secret from the environment
    and the redirect URI from the bound address when they are not given."""
    if not settings.allow_emails and not settings.allow_domains:
        raise DeepSynthError("--oidc needs an allow-list: --allow-email EMAIL or --allow-domain "
                             "DOMAIN (repeat); a provider such as Google signs in anyone with an account")
    secret = settings.client_secret or environ.get(CLIENT_SECRET_ENV, "")
    redirect = settings.redirect_uri
    if not redirect:
        from deepsynth.tracking.server import is_loopback

        if not is_loopback(host):
            raise DeepSynthError(f"--host {host}: give the address teammates' browsers return to after signing in, "
                                 f"--oidc-redirect-uri https://NAME{CALLBACK_PATH} (the one registered with the provider)")
        redirect = f"http://{f'[{host}]' if ':' in host else host}:{port}{CALLBACK_PATH}"
    missing = [name for name, value in (("--oidc-provider (server_metadata_url)", settings.server_metadata_url),
                                        ("--oidc-client-id (client_id)", settings.client_id),
                                        (f"client_secret (in the settings file, or ${CLIENT_SECRET_ENV})", secret))
               if not value]
    if missing:
        raise DeepSynthError(f"--oidc needs {', '.join(missing)}; see docs/TEAM.md")
    check_url(settings.server_metadata_url, "--oidc-provider")
    if not urlparse(redirect).path.endswith(CALLBACK_PATH):
        raise DeepSynthError(f"--oidc-redirect-uri {redirect!r}: must end with {CALLBACK_PATH} (Streamlit's callback)")
    check_url(redirect, "--oidc-redirect-uri")
    return replace(settings, client_secret=secret, redirect_uri=redirect)


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a TOML basic string for the characters used here


def streamlit_secrets(settings: OidcSettings, cookie_secret: str) -> str:
    """The `[auth]` section Streamlit's st.login reads."""
    lines = ["# written by `deepsynth dashboard` for one run: the client secret and a cookie secret (mode 600)",
             "[auth]"]
    for name, value in (("redirect_uri", settings.redirect_uri), ("cookie_secret", cookie_secret),
                        ("client_id", settings.client_id), ("client_secret", settings.client_secret),
                        ("server_metadata_url", settings.server_metadata_url)):
        lines.append(f"{name} = {_toml_string(value)}")
    lines.append('client_kwargs = { scope = "openid email profile", prompt = "select_account" }')
    return "\n".join(lines) + "\n"


def write_streamlit_secrets(folder: Path, settings: OidcSettings, port: int) -> Path:
    """Write the `[auth]` secrets for the dashboard on `port` into `folder` (0700), mode 600 from the
    start, with a new random cookie secret (restarting the dashboard signs everyone out)."""
    resolved, root = folder.expanduser().resolve(), _source_root()
    if resolved == root or root in resolved.parents:
        raise DeepSynthError(f"{folder}: the dashboard's secrets must be written outside the DeepSynth checkout "
                             f"({root}); keep the users file (--users-file) in a private folder such as "
                             f"{default_settings_file().parent}")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    path = folder / f"secrets-{port}.toml"
    text = streamlit_secrets(settings, secrets.token_urlsafe(COOKIE_SECRET_BYTES))
    temporary = path.with_suffix(".tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)
    return path


# -- who the signed-in person is --------------------------------------------------------------------
def verified_email(user_info: Mapping[str, Any]) -> str | None:
    """The signed-in e-mail, only when the provider says it verified it (`email_verified` true)."""
    if not user_info.get("is_logged_in"):
        return None
    email = user_info.get("email")
    verified = user_info.get("email_verified")
    if not isinstance(email, str) or "@" not in email or verified not in (True, "true"):
        return None
    return email.strip().casefold()


def allowed(email: str | None, allow_list: str) -> bool:
    """Whether `email` is on the allow-list (`a@x.org,@x.org`: exact addresses or whole domains,
    case-insensitive; an empty list allows no one): the rule is `users.oidc_allowed`."""
    from deepsynth.dashboard_host.users import oidc_allowed

    return bool(email) and oidc_allowed(email, allow_list)


def signed_in_at(user_info: Mapping[str, Any]) -> float | None:
    """When the provider signed this session in: the ID token's `iat` (seconds since the epoch)."""
    issued = user_info.get("iat")
    if isinstance(issued, bool) or not isinstance(issued, (int, float)):
        return None
    return float(issued)


def session_user(user_info: Mapping[str, Any], allow_list: str, signed_out: "SignedOut") -> str | None:
    """The e-mail a signed-in session acts as now, or None: a verified e-mail, on the allow-list, of
    a sign-in not older than that user's last "sign out everywhere"."""
    email = verified_email(user_info)
    if email is None or not allowed(email, allow_list):
        return None
    return email if signed_out.session_counts(email, signed_in_at(user_info)) else None


# -- signed out everywhere ---------------------------------------------------------------------------
def signed_out_file(users_file: Path) -> Path:
    """Beside the users file (same private folder)."""
    return users_file.with_name(SIGNED_OUT_FILE_NAME)


class SignedOut:
    """Per e-mail, the time before which sign-ins no longer count (`{"format": 1, "valid_after":
    {email: seconds}}`, mode 600)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, float]:
        try:
            mode = self.path.stat().st_mode
        except FileNotFoundError:
            return {}
        if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise DeepSynthError(f"{self.path}: other users can change who is signed out (mode "
                                 f"{stat.S_IMODE(mode):o}); run `chmod 600 {self.path}`")
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise DeepSynthError(f"{self.path}: not a DeepSynth signed-out file ({error})") from None
        times = data.get("valid_after") if isinstance(data, dict) and data.get("format") == _FORMAT else None
        if not isinstance(times, dict) or not all(
                isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) for k, v in times.items()):
            raise DeepSynthError(f"{self.path}: not a DeepSynth signed-out file (expected "
                                 '{"format": 1, "valid_after": {email: seconds}})')
        return {key: float(value) for key, value in times.items()}

    def valid_after(self, email: str) -> float:
        return self.read().get(email.strip().casefold(), 0.0)

    def sign_out_everywhere(self, email: str, now: float | None = None) -> float:
        """Every session of `email` signed in until now stops counting at its next click."""
        from deepsynth.atomic_files import write_bytes_atomic

        email = email.strip().casefold()
        when = time.time() if now is None else now
        times = self.read()
        times[email] = when
        if not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, mode=0o700)
        payload = json.dumps({"format": _FORMAT, "valid_after": dict(sorted(times.items()))}, indent=2) + "\n"
        write_bytes_atomic(self.path, payload.encode("utf-8"))  # mkstemp: 0600 from the start
        os.chmod(self.path, 0o600)
        return when

    def session_counts(self, email: str, issued_at: float | None) -> bool:
        """Whether a session of `email` signed in at `issued_at` still counts (a session with no
        sign-in time never does: the sign-out could not be told apart)."""
        return issued_at is not None and issued_at > self.valid_after(email)
