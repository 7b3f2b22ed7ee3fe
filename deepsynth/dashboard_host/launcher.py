"""`deepsynth dashboard`: start the Streamlit dashboard (`dashboard/app.py`), 127.0.0.1 by default.

Streamlit listens on every interface unless told otherwise; the dashboard starts jobs, reads and
writes files, so it binds loopback unless `--host` names another address. Beyond loopback a login
is required (`deepsynth.dashboard_host.users`): users made with `--add-user NAME` (a scrypt hash in a
0600 users file outside the repository), or the team's OpenID Connect provider (`--oidc-provider URL`
or `--oidc`: `deepsynth.dashboard_host.oidc` writes Streamlit's private `[auth]` secrets for this
run, passed with `--secrets.files`; `--allow-email/--allow-domain` say who gets in, `--admin` who
may also delete, move aliases and allow downloads). Without one the
launch is REFUSED, unless `--insecure-no-login` says the exposure is wanted. Once the users file
has users, the login is on for every address, from the next click of a dashboard already running
(the app reads the file on every run). The app learns where the file is, and whether OIDC is
used, from the environment the launcher gives it (`DEEPSYNTH_DASHBOARD_USERS`,
`DEEPSYNTH_DASHBOARD_LOGIN`); the Streamlit settings come from `server_options`. It runs as
`python dashboard/serve.py run dashboard/app.py ...` (`streamlit run` with the additions listed in
dashboard/serve.py) from this interpreter, an argv list (no shell), in the foreground
until Ctrl-C. This module never imports streamlit: `deepsynth/` stays free of it.
"""

from __future__ import annotations

import argparse
import getpass
import importlib.util
import os
import sys
from pathlib import Path
from typing import IO, Callable

from deepsynth.dashboard_host import addresses, oidc, roles, server_options
from deepsynth.dashboard_host import users as auth
from deepsynth.errors import DeepSynthError
from deepsynth.tracking.server import is_loopback

HELP = ("Start the Streamlit dashboard (http://127.0.0.1:8501 unless --host/--port say otherwise; "
        "--add-user NAME makes a login)")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501


def app_path(name: str = "app.py") -> Path:
    """`<repo>/dashboard/app.py` (the dashboard ships beside the package, not inside it)."""
    path = Path(__file__).resolve().parents[2] / "dashboard" / name
    if not path.is_file():
        raise DeepSynthError(f"dashboard app not found at {path}: run DeepSynth from its source checkout "
                             "(`pip install -e .`), where dashboard/ sits beside deepsynth/")
    return path


def dashboard_command(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, allowed_hosts: list[str] = (),
                      secrets_file: Path | None = None) -> list[str]:
    """The argv that serves the dashboard: this Python, loopback unless asked, no telemetry, only
    the bound names (and the team's `allowed_hosts`) accepted as Host; `secrets_file`: the only
    secrets file Streamlit reads (the OIDC `[auth]` section the launcher wrote)."""
    if not 1 <= port <= 65535:
        raise DeepSynthError(f"--port must be in 1..65535, got {port}")
    extra = [server_options.check_allowed_host(name) for name in allowed_hosts]
    # dashboard/serve.py is `streamlit run` plus a Host/Origin check on every HTTP route, no
    # metrics route and no install path sent before sign-in (what Streamlit has no setting for)
    return [sys.executable, str(app_path("serve.py")), "run", str(app_path()),
            *server_options.streamlit_flags(host, port, extra),
            *(["--secrets.files", str(secrets_file)] if secrets_file is not None else [])]


LAUNCHER_ENV = (auth.USERS_FILE_ENV, auth.LOGIN_ENV, auth.INSECURE_NO_LOGIN_ENV, auth.OIDC_ALLOW_ENV, roles.ADMINS_ENV,
                addresses.TRUSTED_PROXIES_ENV, addresses.FORWARDED_ALLOW_IPS_ENV)
"""What the launcher alone says to the app: never inherited from the shell that started it."""
EXPOSURE = ("anyone who can reach {where} can start and cancel training jobs (processes running as "
            "this user), read the datasets, runs and adapters this account can read, export and register "
            "adapters, and run inference")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help="address to bind (default 127.0.0.1: this machine only); another address "
                             "needs a login (--add-user, --oidc) or --insecure-no-login")
    parser.add_argument("--add-user", metavar="NAME", default=None,
                        help="create a dashboard user, or change their password (read from the terminal, or "
                             "from the first line of stdin), store its scrypt hash in the users file, and exit")
    parser.add_argument("--users-file", metavar="PATH", default=None,
                        help=f"users file (default ${auth.USERS_FILE_ENV} or {auth.default_users_file()})")
    parser.add_argument("--oidc", action="store_true",
                        help="sign in through the team's OpenID Connect provider (Streamlit's st.login): its "
                             f"settings from --oidc-config (default {oidc.default_settings_file()}) and the "
                             "flags below; see docs/TEAM.md")
    parser.add_argument("--oidc-config", metavar="PATH", default=None,
                        help=f"OIDC settings file, mode 600, outside the checkout (default "
                             f"{oidc.default_settings_file()}): server_metadata_url, client_id, client_secret, "
                             "redirect_uri, allow_email, allow_domain, admin")
    parser.add_argument("--oidc-provider", metavar="URL", default=None,
                        help="the provider's discovery URL (https://.../.well-known/openid-configuration); "
                             "implies --oidc")
    parser.add_argument("--oidc-client-id", metavar="ID", default=None,
                        help="the client id registered with the provider (the client secret is read from the "
                             f"settings file or ${oidc.CLIENT_SECRET_ENV}, never from the command line)")
    parser.add_argument("--oidc-redirect-uri", metavar="URL", default=None,
                        help=f"where the provider sends browsers back (registered with it; ends with "
                             f"{oidc.CALLBACK_PATH}); default http://HOST:PORT{oidc.CALLBACK_PATH} on loopback")
    parser.add_argument("--allow-email", "--oidc-allow", dest="allow_email", action="append", default=[],
                        metavar="EMAIL", help="with OIDC: an e-mail address that may sign in (repeat)")
    parser.add_argument("--allow-domain", action="append", default=[], metavar="DOMAIN",
                        help="with OIDC: every verified address @DOMAIN may sign in (repeat)")
    parser.add_argument("--admin", action="append", default=[], metavar="EMAIL|NAME",
                        help="a dashboard admin (repeat): may also delete, move aliases and allow downloads; "
                             "everyone else signed in may train, compare and export")
    parser.add_argument("--sign-out-everywhere", metavar="EMAIL", default=None,
                        help="end every dashboard session of EMAIL (every browser, every dashboard using this "
                             "users file's folder) at its next click, and exit")
    parser.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                        help="a host name teammates use to reach the dashboard (repeat; *.example.org for a "
                             "domain); the bound address and this machine's names are always accepted, any other "
                             "Host is refused (DNS rebinding)")
    parser.add_argument("--trusted-proxy", action="append", default=[], metavar="ADDRESS",
                        help="IP address of a reverse proxy in front of the dashboard (repeat): failed sign-ins are "
                             "then counted per the address it forwards (X-Forwarded-For); ignored otherwise")
    parser.add_argument("--insecure-no-login", action="store_true",
                        help="serve a non-loopback --host WITHOUT a login: " + EXPOSURE.format(where="the port"))


def read_new_password(stdin: IO[str] = sys.stdin, ask: Callable[[str], str] = getpass.getpass) -> str:
    """The new password: typed twice at a terminal, or the first line of a pipe."""
    if stdin.isatty():
        first = ask("New dashboard password: ")
        if ask("Repeat it: ") != first:
            raise DeepSynthError("the two passwords differ; nothing was written")
        return first
    return stdin.readline().rstrip("\r\n")


def login_environment(args: argparse.Namespace, users_path: Path) -> dict[str, str]:
    """The environment that tells the app how to sign people in; refuses an exposed bind without one.
    The users file is named even while it is empty: the app reads it on every run, so a user added
    later turns the login on at the next click."""
    exposed = not is_loopback(args.host)
    proxies = [addresses.check_proxy_address(address) for address in args.trusted_proxy]
    env = {auth.USERS_FILE_ENV: str(users_path),  # uvicorn believes X-Forwarded-For from these alone
           addresses.FORWARDED_ALLOW_IPS_ENV: addresses.forwarded_allow_ips(proxies)}
    if proxies:
        env[addresses.TRUSTED_PROXIES_ENV] = ",".join(proxies)
    admins = [oidc.check_email(name, "--admin") if "@" in name else auth.check_user_name(name) for name in args.admin]
    if admins:
        env[roles.ADMINS_ENV] = ",".join(admins)
    if args.oidc or args.oidc_provider:
        if importlib.util.find_spec("authlib") is None:
            raise DeepSynthError("--oidc needs Authlib (pip install Authlib==1.9.10), which Streamlit's st.login uses")
        settings = oidc_settings(args)
        if settings.admins:
            env[roles.ADMINS_ENV] = ",".join(settings.admins)
        return {**env, auth.LOGIN_ENV: auth.OIDC, auth.OIDC_ALLOW_ENV: settings.allow_list()}
    if auth.read_users(users_path):
        return env
    if exposed and not args.insecure_no_login:
        raise DeepSynthError(
            f"--host {args.host} is reachable from other machines and the dashboard has no login: "
            + EXPOSURE.format(where=f"{args.host}:{args.port}") + ". Create a user first "
            f"(`deepsynth dashboard --add-user NAME`, stored in {users_path}) or use --oidc; "
            "--insecure-no-login serves it anyway")
    if exposed:
        env[auth.INSECURE_NO_LOGIN_ENV] = "1"
    return env


def oidc_settings(args: argparse.Namespace) -> oidc.OidcSettings:
    """The OIDC settings: the settings file, then the flags (which add allowed addresses, domains and
    admins, and replace the provider, client id and redirect URI), checked and completed."""
    path = Path(args.oidc_config).expanduser() if args.oidc_config else oidc.default_settings_file()
    if args.oidc_config and not path.exists():
        raise DeepSynthError(f"--oidc-config {args.oidc_config}: no such file")
    read = oidc.read_settings(path)
    admins = [*read.admins, *args.admin]
    emails = [entry for entry in args.allow_email if not entry.strip().startswith("@")]
    domains = [entry for entry in args.allow_email if entry.strip().startswith("@")]  # --oidc-allow @DOMAIN
    settings = oidc.OidcSettings(
        server_metadata_url=args.oidc_provider or read.server_metadata_url,
        client_id=args.oidc_client_id or read.client_id, client_secret=read.client_secret,
        redirect_uri=args.oidc_redirect_uri or read.redirect_uri,
        allow_emails=tuple(dict.fromkeys(oidc.check_email(e, "--allow-email") for e in [*read.allow_emails, *emails])),
        allow_domains=tuple(dict.fromkeys(oidc.check_domain(d) for d in [*read.allow_domains, *domains, *args.allow_domain])),
        admins=tuple(dict.fromkeys(oidc.check_email(a, "--admin") for a in admins)))
    return oidc.complete(settings, args.host, args.port)


def become_server(argv: list[str], env: dict[str, str]) -> int:
    """Replace this process with the Streamlit server (exec): the pid that started `deepsynth
    dashboard` is the server's, so stopping that pid stops the server. As a child it was left
    running, serving, when its launcher alone was stopped by pid."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], argv, env)
    return 0  # not reached


def run(args: argparse.Namespace, call: Callable[..., int] = become_server,
        stdin: IO[str] = sys.stdin, ask: Callable[[str], str] = getpass.getpass) -> int:
    users_path = Path(args.users_file).expanduser() if args.users_file else auth.users_file()
    if args.add_user is not None:
        auth.check_user_name(args.add_user)
        created = auth.add_user(users_path, args.add_user, read_new_password(stdin, ask))
        print(f"{'added' if created else 'changed the password of'} dashboard user {args.add_user!r} in "
              f"{users_path} (scrypt hash, mode 600); a dashboard using this file asks everyone to sign in "
              "from its next click (one started with --oidc signs in through the identity provider instead)")
        return 0
    if args.sign_out_everywhere is not None:
        email = oidc.check_email(args.sign_out_everywhere, "--sign-out-everywhere")
        signed_out = oidc.SignedOut(oidc.signed_out_file(users_path))
        signed_out.sign_out_everywhere(email)
        print(f"signed {email} out of every dashboard session (recorded in {signed_out.path}); "
              "their next click shows the sign-in page")
        return 0
    login = login_environment(args, users_path)
    secrets_file = None
    if login.get(auth.LOGIN_ENV) == auth.OIDC:
        secrets_file = oidc.write_streamlit_secrets(users_path.parent / oidc.SECRETS_FOLDER_NAME,
                                                    oidc_settings(args), args.port)
    argv = dashboard_command(args.host, args.port, args.allowed_host, secrets_file)
    if login.get(auth.INSECURE_NO_LOGIN_ENV):
        print(f"warning: --insecure-no-login: {EXPOSURE.format(where=f'{args.host}:{args.port}')}, with no "
              "login; prefer --add-user, or an SSH tunnel to 127.0.0.1", file=sys.stderr)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    if login.get(auth.LOGIN_ENV) == auth.OIDC:
        how = f"sign-in: OpenID Connect, allowed: {login[auth.OIDC_ALLOW_ENV]}"
    elif auth.read_users(users_path):
        how = f"sign-in: users in {users_path}"
    else:
        how = f"no sign-in until a user is added to {users_path}"
    print(f"DeepSynth dashboard: http://{shown}:{args.port}  ({how}; Ctrl-C to stop)", flush=True)
    inherited = {name: value for name, value in os.environ.items() if name not in LAUNCHER_ENV}
    return call(argv, env={**inherited, **login})
