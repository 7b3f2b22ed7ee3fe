"""Issue 21, item 14: sign in through the team's OpenID Connect provider.

Fast tests: the allow-list, the roles rule, the "signed out everywhere" check, the settings file
and the secrets the launcher writes for Streamlit. The end-to-end test runs a REAL OpenID Connect
provider on a free loopback port (`oidc-provider-mock`, started and stopped by pid), serves the
dashboard with `deepsynth dashboard --oidc-provider ...`, and signs in with Debian's headless
Chromium: refused without sign-in, allowed after, refused for an address not on the list and for
an unverified one, signed out everywhere (from the dashboard's button and from the command line),
including a click on the live job panel's Cancel (a fragment: its reruns skip app.py) sent over the
websocket of another tab that still holds the 30-day sign-in cookie: the job stays alive."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
from headless_chromium import browser  # noqa: F401  (a fixture)
from dashboard_wire import CHECKOUT, Client, click, free_port, serving

from deepsynth.cli import build_parser
from deepsynth.dashboard_host import launcher, oidc, roles
from deepsynth.dashboard_host import users as accounts
from deepsynth.errors import DeepSynthError

ALICE = {"sub": "alice", "email": "Alice@Team.example", "email_verified": True}
BOB = {"sub": "bob", "email": "bob@team.example", "email_verified": True}
MALLORY = {"sub": "mallory", "email": "mallory@elsewhere.example", "email_verified": True}
EVE = {"sub": "eve", "email": "eve@team.example", "email_verified": False}  # claims a team address, unverified
SIGN_IN = "This dashboard is shared: sign in to use it."


# -- the allow-list, the verified e-mail, the roles rule --------------------------------------------
def signed_in(claims: dict, **extra) -> dict:
    return {"is_logged_in": True, "iat": 1_000, **claims, **extra}


def test_the_allow_list_takes_addresses_and_whole_domains():
    allow = "alice@team.example,@partner.example"
    assert oidc.allowed("alice@team.example", allow) and oidc.allowed("ALICE@Team.Example", allow)
    assert oidc.allowed("carol@partner.example", allow)
    assert not oidc.allowed("bob@team.example", allow)
    assert not oidc.allowed("carol@evil-partner.example", allow)  # a domain is matched whole, not as a suffix
    assert not oidc.allowed("carol@partner.example.evil.org", allow)
    assert not oidc.allowed("alice@team.example", "")  # an empty list lets no one in
    assert not oidc.allowed(None, allow) and not oidc.allowed("team.example", "@team.example")


def test_only_a_verified_email_names_a_session():
    assert oidc.verified_email(signed_in(ALICE)) == "alice@team.example"
    assert oidc.verified_email(signed_in(EVE)) is None
    assert oidc.verified_email(signed_in(ALICE, email_verified="yes")) is None
    assert oidc.verified_email(signed_in({"email": "alice@team.example"})) is None  # no claim: not verified
    assert oidc.verified_email({**ALICE, "is_logged_in": False}) is None


def test_a_session_counts_while_verified_allowed_and_not_signed_out_since(tmp_path):
    signed_out = oidc.SignedOut(tmp_path / oidc.SIGNED_OUT_FILE_NAME)
    allow = "@team.example"
    assert oidc.session_user(signed_in(ALICE, iat=1_000), allow, signed_out) == "alice@team.example"
    assert oidc.session_user(signed_in(MALLORY), allow, signed_out) is None
    assert oidc.session_user(signed_in(EVE), allow, signed_out) is None
    assert oidc.session_user({**signed_in(ALICE), "iat": None}, allow, signed_out) is None  # no sign-in time

    signed_out.sign_out_everywhere("ALICE@team.example", now=2_000.5)
    assert stat.S_IMODE(signed_out.path.stat().st_mode) == 0o600
    assert oidc.session_user(signed_in(ALICE, iat=1_000), allow, signed_out) is None
    assert oidc.session_user(signed_in(ALICE, iat=2_000), allow, signed_out) is None  # same second: refused
    assert oidc.session_user(signed_in(ALICE, iat=2_001), allow, signed_out) == "alice@team.example"
    assert oidc.session_user(signed_in(BOB, iat=1_000), allow, signed_out) == "bob@team.example"  # only alice's


def test_a_tampered_signed_out_file_lets_no_one_act(tmp_path):
    signed_out = oidc.SignedOut(tmp_path / oidc.SIGNED_OUT_FILE_NAME)
    signed_out.sign_out_everywhere("alice@team.example", now=5.0)
    os.chmod(signed_out.path, 0o666)
    with pytest.raises(DeepSynthError, match="chmod 600"):
        signed_out.valid_after("alice@team.example")
    os.chmod(signed_out.path, 0o600)
    signed_out.path.write_text('{"format": 1, "valid_after": {"alice@team.example": "never"}}')
    with pytest.raises(DeepSynthError, match="not a DeepSynth signed-out file"):
        signed_out.valid_after("alice@team.example")


def test_members_train_compare_export_and_admins_also_delete_move_aliases_allow_downloads():
    admins = ["root@team.example"]
    for action in (roles.TRAIN, roles.COMPARE, roles.EXPORT):
        assert roles.may("alice@team.example", action, admins) and roles.may("ROOT@team.example", action, admins)
    for action in (roles.DELETE, roles.MOVE_ALIAS, roles.ALLOW_DOWNLOAD):
        assert not roles.may("alice@team.example", action, admins)
        assert roles.may("Root@Team.example", action, admins)
    assert roles.may(None, roles.MOVE_ALIAS, [])  # no login: the machine's own user
    with pytest.raises(ValueError, match="unknown dashboard action"):
        roles.may("root@team.example", "format disk", admins)


def test_admins_come_from_the_launchers_environment(monkeypatch):
    monkeypatch.setenv(roles.ADMINS_ENV, "root@team.example, lead@team.example")
    assert roles.may("lead@team.example", roles.DELETE) and not roles.may("alice@team.example", roles.DELETE)
    monkeypatch.delenv(roles.ADMINS_ENV)
    assert not roles.may("lead@team.example", roles.DELETE)


# -- settings and the secrets the launcher writes ----------------------------------------------------
def write_settings(folder: Path, mode: int = 0o600, **values) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / oidc.SETTINGS_FILE_NAME
    path.write_text("".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items()))
    os.chmod(path, mode)
    return path


def parse(*flags: str):
    return build_parser().parse_args(["dashboard", *flags])


def test_the_launcher_writes_private_auth_secrets_and_passes_only_them(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    write_settings(tmp_path / "config" / "deepsynth", client_id="deepsynth", client_secret="s3cret-from-the-file",
                   allow_domain=["team.example"], admin="root@team.example")
    calls = []
    assert launcher.run(parse("--port", "8600", "--oidc-provider", "https://idp.example/.well-known/openid-configuration",
                              "--allow-email", "guest@else.example"),
                        call=lambda argv, env: calls.append((argv, env)) or 0) == 0
    (argv, env), = calls
    secrets_path = Path(argv[argv.index("--secrets.files") + 1])
    assert argv.count("--secrets.files") == 1 and str(CHECKOUT) not in str(secrets_path.resolve())
    assert stat.S_IMODE(secrets_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets_path.parent.stat().st_mode) == 0o700
    auth = tomllib.loads(secrets_path.read_text())["auth"]
    assert auth["client_secret"] == "s3cret-from-the-file" and auth["client_id"] == "deepsynth"
    assert auth["redirect_uri"] == "http://127.0.0.1:8600/oauth2callback"
    assert auth["server_metadata_url"] == "https://idp.example/.well-known/openid-configuration"
    assert len(auth["cookie_secret"]) >= 40
    assert "s3cret-from-the-file" not in " ".join(argv)  # never on a command line (ps shows it)
    assert env[accounts.LOGIN_ENV] == accounts.OIDC
    assert env[accounts.OIDC_ALLOW_ENV] == "guest@else.example,@team.example"
    assert env[roles.ADMINS_ENV] == "root@team.example"

    launcher.run(parse("--port", "8600", "--oidc-provider", "https://idp.example/x", "--oidc-allow", "@old.example"),
                 call=lambda argv, env: calls.append((argv, env)) or 0)
    assert calls[-1][1][accounts.OIDC_ALLOW_ENV] == "@team.example,@old.example"  # the older --oidc-allow @DOMAIN
    assert tomllib.loads(secrets_path.read_text())["auth"]["cookie_secret"] != auth["cookie_secret"]  # new per launch


@pytest.mark.parametrize("settings, flags, message", [
    ({"client_id": "c", "client_secret": "s"}, ["--oidc-provider", "https://idp.example/x"], "needs an allow-list"),
    ({"client_id": "c"}, ["--oidc-provider", "https://idp.example/x", "--allow-domain", "team.example"], "client_secret"),
    ({"client_id": "c", "client_secret": "s"}, ["--oidc-provider", "http://idp.example/x", "--allow-domain", "t.example"],
     "https://"),
    ({"client_id": "c", "client_secret": "s"}, ["--oidc-provider", "https://i.example/x", "--allow-domain", "*.example"],
     "--allow-domain"),
    ({"client_id": "c", "client_secret": "s"}, ["--oidc-provider", "https://i.example/x", "--allow-email", "nobody"],
     "--allow-email"),
    ({"client_id": "c", "client_secret": "s", "allow_domain": "t.example"},
     ["--oidc-provider", "https://i.example/x", "--host", "0.0.0.0"], "--oidc-redirect-uri"),
    ({"client_id": "c", "client_secret": "s", "colour": "blue"}, ["--oidc"], "unknown setting"),
])
def test_incomplete_or_unsafe_oidc_settings_are_refused_naming_the_flag(tmp_path, monkeypatch, settings, flags, message):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv(oidc.CLIENT_SECRET_ENV, raising=False)
    write_settings(tmp_path / "config" / "deepsynth", **settings)
    with pytest.raises(DeepSynthError, match=message.replace("*", r"\*").replace(".", r"\.")):
        launcher.run(parse(*flags), call=lambda argv, env: 0)


def test_a_settings_file_others_can_read_or_inside_the_checkout_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    write_settings(tmp_path / "config" / "deepsynth", mode=0o644, client_id="c", client_secret="s")
    with pytest.raises(DeepSynthError, match="chmod 600"):
        launcher.run(parse("--oidc-provider", "https://i.example/x", "--allow-domain", "t.example"),
                     call=lambda argv, env: 0)
    with pytest.raises(DeepSynthError, match="outside the DeepSynth checkout"):
        oidc.check_private_file(CHECKOUT / "requirements.txt", "OIDC settings file")
    with pytest.raises(DeepSynthError, match="outside the DeepSynth checkout"):
        oidc.write_streamlit_secrets(CHECKOUT / "dashboard-secrets", oidc.OidcSettings(), 8501)
    assert not (CHECKOUT / "dashboard-secrets").exists()


def test_sign_out_everywhere_from_the_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    before = time.time()
    assert launcher.run(parse("--sign-out-everywhere", "Alice@Team.example"), call=None) == 0
    signed_out = oidc.SignedOut(oidc.signed_out_file(accounts.users_file()))
    assert before <= signed_out.valid_after("alice@team.example") <= time.time()
    assert "alice@team.example" in capsys.readouterr().out
    with pytest.raises(DeepSynthError, match="--sign-out-everywhere"):
        launcher.run(parse("--sign-out-everywhere", "not-an-address"), call=None)


# -- the whole flow: a real provider, a real dashboard, a real browser --------------------------------
@pytest.fixture
def provider(tmp_path):
    """oidc-provider-mock on a free loopback port, with predefined users; its discovery URL."""
    port = free_port()
    claims = [json.dumps(user) for user in (ALICE, BOB, MALLORY, EVE)]
    log = open(tmp_path / "provider.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "oidc_provider_mock", "--port", str(port),
                                *[flag for each in claims for flag in ("--user-claims", each)]],
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/.well-known/openid-configuration"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    assert json.loads(answer.read())["issuer"]
                    break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "provider.log").read_text()
                time.sleep(0.3)
        yield url
    finally:
        process.terminate()  # stopped by its pid
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def job_alive(job) -> bool:
    from deepsynth import jobs

    return jobs.get_job(job.job_id).alive


def wait_text(page, text: str, timeout_ms: int = 60_000) -> None:
    page.get_by_text(text, exact=False).first.wait_for(state="attached", timeout=timeout_ms)


def sign_in_as(page, url: str, sub: str) -> None:
    """Open the dashboard, press Sign in, pick `sub` at the provider, come back."""
    page.goto(url)
    wait_text(page, SIGN_IN)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/oauth2/authorize**", timeout=60_000)
    page.get_by_role("button", name=sub, exact=True).click()
    page.wait_for_url(f"{url}/**", timeout=60_000)


def browser_tab(port: int, url: str, cookies: list[dict]) -> Client:
    """A websocket session carrying a browser's cookies, as its page would open it: the sign-in
    cookie counts only with the page's Origin and the XSRF token (the `_streamlit_xsrf` cookie)."""
    import socket

    from websockets.sync.client import connect

    xsrf = next(cookie["value"] for cookie in cookies if cookie["name"] == "_streamlit_xsrf")
    headers = {"Origin": url, "Cookie": "; ".join(f"{c['name']}={c['value']}" for c in cookies)}
    tab = Client.__new__(Client)
    tab.socket = connect(f"ws://127.0.0.1:{port}/_stcore/stream", sock=socket.create_connection(("127.0.0.1", port)),
                         subprotocols=["streamlit", xsrf], additional_headers=headers, open_timeout=20, max_size=None)
    return tab


def sign_out(page, url: str, button: str) -> None:
    """Press `button`; Streamlit's sign-out ends the session at the provider too (RP-initiated
    logout: the provider asks to confirm), then the browser is back, signed out."""
    page.get_by_role("button", name=button, exact=True).click()
    page.wait_for_url("**/oauth2/end_session**", timeout=60_000)
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(f"{url}/**", timeout=60_000)
    wait_text(page, SIGN_IN)


@pytest.mark.slow
@pytest.mark.browser
def test_sign_in_through_a_real_provider_in_chromium(provider, browser, running_job, tmp_path):
    config = tmp_path / "config"
    write_settings(config / "deepsynth", client_id="deepsynth-dashboard", client_secret="a-client-secret")
    env = {"XDG_CONFIG_HOME": str(config), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    flags = ["--oidc-provider", provider, "--allow-domain", "team.example", "--admin", "bob@team.example"]
    with serving(tmp_path, env, *flags) as port:
        url = f"http://127.0.0.1:{port}"
        first = browser.new_context().new_page()

        # refused without sign-in: only the button, no page, no navigation
        first.goto(f"{url}/train")
        wait_text(first, SIGN_IN)
        first.wait_for_timeout(1_000)
        body = first.inner_text("body")
        assert "Jobs" not in body and "Export & registry" not in body and "Signed in as" not in body

        # allowed after: named by the verified e-mail (lower-cased); the provider sends the browser
        # back to the dashboard's root, the default page, with every page in the navigation
        sign_in_as(first, url, "alice")
        wait_text(first, "Signed in as alice@team.example")
        wait_text(first, "Memory per term")
        assert "Export & registry" in first.inner_text("body")

        # a second browser of the same person
        second = browser.new_context().new_page()
        sign_in_as(second, url, "alice")
        wait_text(second, "Signed in as alice@team.example")

        # refused for an address not on the list, and for an unverified team address
        for sub, shown in (("mallory", "mallory@elsewhere.example may not use this dashboard"),
                           ("eve", "eve@team.example: the identity provider did not say this address is verified")):
            other = browser.new_context().new_page()
            sign_in_as(other, url, sub)
            wait_text(other, shown)
            assert "Memory per term" not in other.inner_text("body") and "Signed in as" not in other.inner_text("body")
            other.context.close()

        # a third tab of alice's, open on the Train page over its own websocket (her cookie): the
        # live job panel's Cancel button, a fragment whose clicks do not run app.py
        tab = browser_tab(port, url, first.context.cookies())
        train = tab.run(page="train")
        assert train.has("Signed in as **alice@team.example**"), train.texts
        cancel = train.widget("Cancel")
        assert cancel.fragment_id, "Cancel is drawn inside the live panel's fragment"

        # signed out everywhere, from the first browser: the second one's next page load is refused
        sign_out(first, url, "Sign out everywhere")
        answer = tab.run(page="train", widgets=[click(cancel.id)], fragment_id=cancel.fragment_id)
        assert answer.has("alice@team.example was signed out everywhere") and job_alive(running_job)
        tab.close()
        second.reload()
        wait_text(second, "alice@team.example was signed out everywhere")
        assert "Memory per term" not in second.inner_text("body")

        # signing in again (a newer sign-in) works
        time.sleep(1.1)  # ID token times are whole seconds: a sign-in in the same second is refused
        sign_out(second, url, "Sign out")
        sign_in_as(second, url, "alice")
        wait_text(second, "Signed in as alice@team.example")

        # ... and from the command line, for a session that signed in earlier
        time.sleep(1.1)
        subprocess.run([sys.executable, "-m", "deepsynth", "dashboard", "--sign-out-everywhere", "alice@team.example"],
                       check=True, env={**os.environ, **env, "PYTHONPATH": str(CHECKOUT)}, capture_output=True)
        second.reload()
        wait_text(second, "alice@team.example was signed out everywhere")


# -- the roles rule where the dashboard moves aliases ---------------------------------------------------
@pytest.fixture
def two_versions(tmp_path, monkeypatch):
    """A tracking store with one adapter registered twice (`shared`: `champion` -> version 1), and a
    password login for alice (member) and bob (admin)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dashboard"))
    from dashboard_testing import write_fake_adapter

    from deepsynth.tracking.registry import register_adapter
    from deepsynth.tracking.store import RunLogger

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    logger = RunLogger.start("roles-tests", run_name="run", uri=uri, params={"lora.rank": 4})
    logger.log_artifacts(write_fake_adapter(tmp_path / "adapter"), "adapter")
    logger.finish()
    register_adapter(logger.run_id, "shared", alias="champion", uri=uri)
    register_adapter(logger.run_id, "shared", uri=uri)
    users_file = tmp_path / "private" / "users.json"
    for name in ("alice", "bob"):
        accounts.add_user(users_file, name, "correct horse battery staple")
    for name, value in {"DEEPSYNTH_HOME": str(tmp_path), "MLFLOW_TRACKING_URI": uri, roles.ADMINS_ENV: "bob",
                        accounts.USERS_FILE_ENV: str(users_file)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(accounts.LOGIN_ENV, raising=False)
    return uri


def move_champion_to_2(user: str):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    st.cache_data.clear()
    app = AppTest.from_file(str(CHECKOUT / "dashboard" / "app.py"), default_timeout=60)
    app.session_state[accounts.SESSION_USER_KEY] = user
    app.switch_page("../pages/registry.py").run()
    app.selectbox(key="registry.alias.name").set_value("shared").run()
    app.selectbox(key="registry.alias.version").set_value("2")
    app.text_input(key="registry.alias.alias").set_value("champion").run()
    app.button(key="registry.alias.go").click().run()
    assert not app.exception, app.exception
    return app


def test_only_an_admin_moves_an_alias_on_the_registry_page(two_versions):
    from deepsynth.tracking.registry import list_adapters

    def champion() -> str:
        return next(a for a in list_adapters(uri=two_versions) if a.name == "shared").aliases["champion"]

    refused = move_champion_to_2("alice")
    assert any("alice may not move alias" in error.value for error in refused.error)
    assert champion() == "1"
    allowed_app = move_champion_to_2("bob")
    assert not allowed_app.error and champion() == "2"


# -- the gate, run by Streamlit's AppTest with a signed-in st.user ---------------------------------------
@pytest.fixture
def oidc_app(tmp_path, monkeypatch):
    """open(user_claims) -> AppTest of the Train page in a dashboard started with OIDC (allow-list
    @team.example), the signed-out file beside the users file in tmp_path."""
    from streamlit.testing.v1 import AppTest

    for name, value in {"DEEPSYNTH_HOME": str(tmp_path), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'm.db'}",
                        accounts.USERS_FILE_ENV: str(tmp_path / "private" / "users.json"),
                        accounts.LOGIN_ENV: accounts.OIDC, accounts.OIDC_ALLOW_ENV: "@team.example"}.items():
        monkeypatch.setenv(name, value)

    def open_(user: dict) -> AppTest:
        app = AppTest.from_file(str(CHECKOUT / "dashboard" / "app.py"), default_timeout=60)
        app.user = user
        app.switch_page("../pages/train.py").run()
        assert not app.exception, app.exception
        return app

    return open_


def test_the_session_is_named_by_the_verified_email(oidc_app):
    app = oidc_app(signed_in(ALICE, iat=time.time()))
    assert app.session_state[accounts.SESSION_USER_KEY] == "alice@team.example"  # what jobs and MLflow tags record
    assert any("Signed in as **alice@team.example**" in caption.value for caption in app.sidebar.caption)
    assert [button.label for button in app.sidebar.button] == ["Sign out", "Sign out everywhere"]


@pytest.mark.parametrize("claims, shown", [
    (MALLORY, "mallory@elsewhere.example may not use this dashboard"),
    (EVE, "eve@team.example: the identity provider did not say this address is verified"),
])
def test_an_address_off_the_list_or_unverified_sees_only_a_refusal(oidc_app, claims, shown):
    app = oidc_app(signed_in(claims, iat=time.time()))
    assert [error.value for error in app.error] and shown in app.error[0].value
    assert accounts.SESSION_USER_KEY not in app.session_state and len(app.sidebar) == 0
    assert [button.label for button in app.button] == ["Sign out"]


def test_a_session_older_than_sign_out_everywhere_is_refused_at_its_next_run(oidc_app, tmp_path):
    app = oidc_app(signed_in(ALICE, iat=time.time() - 60))
    assert app.session_state[accounts.SESSION_USER_KEY] == "alice@team.example"
    oidc.SignedOut(tmp_path / "private" / oidc.SIGNED_OUT_FILE_NAME).sign_out_everywhere("alice@team.example")
    app.run()
    assert "alice@team.example was signed out everywhere" in app.error[0].value
    assert accounts.SESSION_USER_KEY not in app.session_state
