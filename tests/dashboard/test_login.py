"""The dashboard's sign-in gate (dashboard/ui/login.py), page by page through AppTest.

Signed out, no page draws anything but the form and no job can start; a wrong password gets one
neutral answer whether or not the user exists, and repeated failures slow down per user name and
per session; the right password opens every page, records the user on the jobs it starts, and
signing out closes them again. Without a login, an app reachable from other machines shows only
a refusal."""

from __future__ import annotations

import psutil
import pytest
from dashboard_testing import APP, PAGES, texts

from deepsynth import jobs
from deepsynth.dashboard_host import users as dashboard_auth

PASSWORD = "correct horse battery staple"
PAGE_TITLES = ("Presets & estimate", "Dataset", "Train", "Compare runs", "Export & registry", "Playground")


@pytest.fixture
def users(workspace, monkeypatch):
    """A users file with alice and bob, outside the repository, and the login on."""
    path = workspace / "private" / "dashboard-users.json"
    dashboard_auth.add_user(path, "alice", PASSWORD)
    dashboard_auth.add_user(path, "bob", "another long password")
    monkeypatch.setenv(dashboard_auth.USERS_FILE_ENV, str(path))
    return path


def open_app(page: str = "estimate", **state):
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(APP), default_timeout=60)
    for key, value in state.items():
        app.session_state[key] = value
    app.switch_page(f"../pages/{page}.py").run()
    assert not app.exception, app.exception
    return app


def sign_in(app, name: str, password: str):
    app.text_input(key="login.user").input(name)
    app.text_input(key="login.password").input(password)
    app.button[0].click().run()  # the form's submit button
    assert not app.exception, app.exception
    return app


def assert_only_the_login_form(app) -> None:
    assert [t.value for t in app.title] == ["DeepSynth"]
    assert sorted(w.key for w in app.text_input) == ["login.password", "login.user"]
    assert [b.label for b in app.button] == ["Sign in"]
    for kind in ("selectbox", "number_input", "radio", "dataframe", "metric", "expander", "tabs", "code"):
        assert len(app.get(kind)) == 0, kind
    shown = texts(app)
    assert not any(title in shown for title in PAGE_TITLES[2:]), shown
    assert "Running jobs" not in shown and "Signed in" not in shown
    assert len(app.sidebar) == 0


@pytest.mark.parametrize("page", PAGES)
def test_signed_out_every_page_shows_only_the_login_form(page, users, fake_spawn, datasets_setting):
    app = open_app(page, **{"deepsynth.spawn": fake_spawn})
    assert_only_the_login_form(app)
    assert not fake_spawn.calls and jobs.list_jobs() == []


def test_a_start_click_without_a_valid_session_starts_nothing(users, fake_spawn, datasets_setting):
    app = open_app("train", **{"deepsynth.spawn": fake_spawn})
    sign_in(app, "alice", PASSWORD)
    app.selectbox(key="train.preset").set_value("minimal").run()
    start = app.button(key="train.start")
    dashboard_auth.add_user(users, "carol", "a third long password")  # rewrite the file ...
    users.write_text(users.read_text().replace('"alice"', '"alice-revoked"'))  # ... and revoke alice
    start.click().run()
    assert_only_the_login_form(app)
    assert not fake_spawn.calls and jobs.list_jobs() == []
    # a session state naming a user who is not in the users file is not a session
    forged = open_app("train", **{"deepsynth.spawn": fake_spawn, "deepsynth.user": "mallory"})
    assert_only_the_login_form(forged)
    assert not fake_spawn.calls and jobs.list_jobs() == []


def test_a_wrong_password_gets_the_same_answer_whether_or_not_the_user_exists(users):
    answers = []
    for name in ("alice", "nobody"):
        app = sign_in(open_app(), name, "wrong password here")
        assert_only_the_login_form(app)
        answers.append([e.value for e in app.error])
    assert answers == [[dashboard_auth.WRONG_CREDENTIALS]] * 2
    assert dashboard_auth.WRONG_CREDENTIALS == "Wrong user name or password."


@pytest.fixture
def client_address(monkeypatch):
    """Set the address the next AppTest runs come from (`st.context.ip_address`; None: this machine)."""
    from streamlit.runtime.context import ContextProxy

    current = [None]
    monkeypatch.setattr(ContextProxy, "ip_address", property(lambda self: current[0]))
    return current


def test_repeated_failures_slow_down_per_address_and_per_user_name(users, client_address, monkeypatch):
    from deepsynth.dashboard_host.addresses import FORWARDED_ALLOW_IPS_ENV

    monkeypatch.setenv(FORWARDED_ALLOW_IPS_ENV, "")  # as `deepsynth dashboard` starts it: addresses are real
    client_address[0] = "203.0.113.9"
    app = open_app()
    for _ in range(3):  # the free attempts
        assert [e.value for e in sign_in(app, "alice", "guess").error] == [dashboard_auth.WRONG_CREDENTIALS]
    locked = sign_in(app, "alice", PASSWORD).error  # the 4th attempt waits, even with the right password
    assert [e.value for e in locked] == ["Too many failed sign-ins: try again in 2 s."]
    # per address: a fresh session from there cannot try alice, nor another name
    assert "Too many failed sign-ins" in sign_in(open_app(), "alice", PASSWORD).error[0].value
    assert "Too many failed sign-ins" in sign_in(open_app(), "bob", "another long password").error[0].value
    assert_only_the_login_form(app)
    # the real alice, from another address, is not slowed by the guesser
    client_address[0] = "198.51.100.7"
    other = sign_in(open_app(), "alice", PASSWORD)
    assert not other.error and "Signed in as **alice**" in texts(other)


def test_the_right_password_opens_every_page_and_signing_out_closes_them(users, fake_spawn, datasets_setting):
    app = sign_in(open_app("estimate", **{"deepsynth.spawn": fake_spawn}), "alice", PASSWORD)
    assert "Presets & estimate" in texts(app) and "Signed in as **alice**" in texts(app)
    for page, title in zip(PAGES, PAGE_TITLES):
        app.switch_page(f"../pages/{page}.py").run()
        assert not app.exception, app.exception
        assert title in texts(app), page
    app.switch_page("../pages/train.py").run()
    app.selectbox(key="train.preset").set_value("minimal").run()
    app.button(key="train.start").click().run()
    (job,) = jobs.list_jobs()
    assert job.user == "alice"
    assert psutil.Process(fake_spawn.processes[0].pid).environ()["DEEPSYNTH_USER"] == "alice"
    assert app.dataframe[0].value["user"].tolist() == ["alice"]
    app.button(key="login.sign_out").click().run()
    assert_only_the_login_form(app)
    assert "deepsynth.spawn" not in app.session_state  # nothing of the session is left


def test_each_signed_in_user_keeps_their_own_train_form(users, fake_spawn, datasets_setting, workspace):
    alice = sign_in(open_app("train", **{"deepsynth.spawn": fake_spawn}), "alice", PASSWORD)
    alice.number_input(key="train.cfg.max_steps").set_value(10).run()
    assert (workspace / "workspace" / "dashboard-forms" / "alice.json").is_file()
    bob = sign_in(open_app("train", **{"deepsynth.spawn": fake_spawn}), "bob", "another long password")
    assert bob.number_input(key="train.cfg.max_steps").value == 0  # alice's form is hers
    again = sign_in(open_app("train", **{"deepsynth.spawn": fake_spawn}), "alice", PASSWORD)
    assert again.number_input(key="train.cfg.max_steps").value == 10


@pytest.mark.parametrize("address", ["0.0.0.0", "192.0.2.10", None])
def test_without_a_login_an_app_reachable_from_other_machines_shows_nothing(address, workspace, monkeypatch):
    from streamlit import config

    config.set_option("server.address", address)
    app = open_app("train")
    assert [e.value for e in app.error][0].startswith("This dashboard is reachable from other machines (")
    assert "has no login, so it shows nothing" in app.error[0].value
    assert not app.title and not app.button and not app.text_input and len(app.sidebar) == 0
    monkeypatch.setenv(dashboard_auth.INSECURE_NO_LOGIN_ENV, "1")  # the launcher's explicit override
    assert "Train" in texts(open_app("train"))


def test_on_loopback_without_users_the_pages_need_no_login(workspace):
    app = open_app("train")
    assert "Train" in texts(app) and not app.error and "login.user" not in [w.key for w in app.text_input]


def test_with_oidc_signed_out_shows_only_the_sign_in_button(workspace, monkeypatch, fake_spawn):
    monkeypatch.setenv(dashboard_auth.LOGIN_ENV, dashboard_auth.OIDC)
    monkeypatch.setenv(dashboard_auth.OIDC_ALLOW_ENV, "@example.org")
    for page in PAGES:
        app = open_app(page, **{"deepsynth.spawn": fake_spawn})
        assert [t.value for t in app.title] == ["DeepSynth"] and [b.label for b in app.button] == ["Sign in"]
        assert not app.text_input and not app.selectbox and len(app.sidebar) == 0
    assert not fake_spawn.calls and jobs.list_jobs() == []


def test_every_fragment_checks_the_session():
    """A fragment's own reruns skip app.py's gate: every one must be `login.fragment`."""
    from dashboard_testing import ROOT

    sources = [*ROOT.joinpath("dashboard").rglob("*.py"), *ROOT.joinpath("pages").glob("*.py")]
    direct = [str(path.relative_to(ROOT)) for path in sources
              if "st.fragment(" in path.read_text() and path.name != "login.py"]
    assert direct == []


def test_a_settings_change_from_a_removed_user_is_not_saved(users, workspace):
    app = sign_in(open_app(), "alice", PASSWORD)
    users.write_text(users.read_text().replace('"alice"', '"alice-revoked"'))
    app.text_input(key="settings.tracking_uri").input("http://attacker.example:5000").run()
    assert_only_the_login_form(app)
    saved = workspace / "workspace" / "dashboard.json"
    assert not saved.exists() or "attacker" not in saved.read_text()
