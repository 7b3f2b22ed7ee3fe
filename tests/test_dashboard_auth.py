"""deepsynth.dashboard_auth: scrypt records, the users file, equal work for unknown users, the throttle."""

from __future__ import annotations

import json
import os
import stat

import pytest

from deepsynth import dashboard_auth as auth
from deepsynth.errors import DeepSynthError


def test_records_are_salted_scrypt_and_verify_only_the_right_password():
    first, second = auth.hash_password("a long enough password"), auth.hash_password("a long enough password")
    assert first != second and first.startswith("scrypt$n=16384,r=8,p=1$")  # a salt of its own each
    assert auth.verify_password("a long enough password", first)
    assert not auth.verify_password("a long enough passworD", first)
    with pytest.raises(DeepSynthError, match="unsupported parameters"):
        auth.verify_password("x", "scrypt$n=1073741824,r=8,p=1$" + first.split("$", 2)[2])  # ~1 TiB asked
    with pytest.raises(DeepSynthError, match="malformed"):
        auth.verify_password("x", "plain-text-password")


def test_the_users_file_is_private_hashed_and_outside_the_repository(tmp_path):
    path = tmp_path / "cfg" / "users.json"
    assert auth.add_user(path, "alice", "a long enough password") is True
    assert auth.add_user(path, "alice", "another long password") is False  # a password change
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    stored = json.loads(path.read_text())
    assert "another long password" not in path.read_text() and set(stored["users"]) == {"alice"}
    assert auth.verify_password("another long password", auth.read_users(path)["alice"])
    os.chmod(path, 0o644)
    with pytest.raises(DeepSynthError, match=r"other users can read or change this users file \(mode 644\); run `chmod 600"):
        auth.read_users(path)
    inside = auth._source_root() / "tests" / "users.json"
    with pytest.raises(DeepSynthError, match="must live outside the DeepSynth checkout"):
        auth.add_user(inside, "alice", "a long enough password")
    assert not inside.exists()


@pytest.mark.parametrize("name", ["", "../x", "a b", "x;rm", "é", "a" * 65])
def test_user_names_that_could_mislead_are_refused(name, tmp_path):
    with pytest.raises(DeepSynthError, match="user name"):
        auth.add_user(tmp_path / "u.json", name, "a long enough password")
    assert not (tmp_path / "u.json").exists()


@pytest.mark.parametrize("password", ["short", "password1234", "PASSWORD1234"])
def test_weak_passwords_are_refused(password, tmp_path):
    with pytest.raises(DeepSynthError, match="at least 12 characters"):
        auth.add_user(tmp_path / "u.json", "alice", password)
    assert not (tmp_path / "u.json").exists()


def test_an_unknown_user_costs_the_same_scrypt_work_and_gets_the_same_answer(monkeypatch):
    users = {"alice": auth.hash_password("a long enough password")}
    auth._dummy_record()  # made once per process, before any attempt
    calls = []
    real = auth.hashlib.scrypt
    monkeypatch.setattr(auth.hashlib, "scrypt", lambda *a, **k: calls.append(k["n"]) or real(*a, **k))
    results = [auth.sign_in(users, name, "wrong password!", auth.LoginThrottle(), "s") for name in ("alice", "zed")]
    assert calls == [16384, 16384]
    assert results[0] == results[1] == auth.SignIn(None, auth.WRONG_CREDENTIALS, 0.0)


def test_the_throttle_doubles_the_wait_per_name_and_per_session_and_a_success_clears_it():
    now = [100.0]
    throttle = auth.LoginThrottle(free_attempts=2, base_delay_s=2, max_delay_s=10, clock=lambda: now[0])
    for _ in range(2):
        throttle.failed("Alice", "s1")
    assert throttle.wait_s("alice", "s9") == 0 and throttle.wait_s("bob", "s1") == 0
    waits = []
    for _ in range(4):
        throttle.failed("alice", "s1")
        waits.append(throttle.wait_s("ALICE ", "s2"))  # per name (case and spaces folded)
    assert waits == [2, 4, 8, 10]
    assert throttle.wait_s("bob", "s1") == 10  # per session
    now[0] += 10
    assert throttle.wait_s("alice", "s1") == 0
    throttle.succeeded("alice", "s1")
    throttle.failed("alice", "s1")
    assert throttle.wait_s("alice", "s1") == 0  # counting starts again


def test_a_locked_attempt_does_no_hashing(monkeypatch):
    throttle = auth.LoginThrottle(free_attempts=0, base_delay_s=30)
    throttle.failed("alice", "s")
    monkeypatch.setattr(auth.hashlib, "scrypt", lambda *a, **k: pytest.fail("hashed while locked"))
    result = auth.sign_in({}, "alice", "x", throttle, "s")
    assert result.user is None and result.message == "Too many failed sign-ins: try again in 30 s."


def test_the_throttle_memory_is_bounded():
    throttle = auth.LoginThrottle(max_keys=100)
    for index in range(1000):
        throttle.failed(f"user{index}", f"session{index}")
    assert len(throttle._failures) <= 100


def test_login_mode_and_exposure(tmp_path):
    env = {auth.USERS_FILE_ENV: str(tmp_path / "none.json")}
    assert auth.login_mode(env) == auth.NONE
    auth.add_user(tmp_path / "u.json", "alice", "a long enough password")
    assert auth.login_mode({auth.USERS_FILE_ENV: str(tmp_path / "u.json")}) == auth.PASSWORD
    assert auth.login_mode({**env, auth.LOGIN_ENV: "oidc"}) == auth.OIDC
    with pytest.raises(DeepSynthError, match="must be one of password, oidc, none"):
        auth.login_mode({auth.LOGIN_ENV: "off"})
    assert [auth.reachable_beyond_loopback(a) for a in (None, "", "0.0.0.0", "::", "10.1.2.3", "127.0.0.1",
                                                        "localhost", "::1")] == [True] * 5 + [False] * 3


def test_oidc_allow_list():
    allow = "alice@example.org, @team.example.com"
    assert auth.oidc_allowed("Alice@Example.org", allow) and auth.oidc_allowed("bob@team.example.com", allow)
    assert not auth.oidc_allowed("bob@example.org", allow) and not auth.oidc_allowed("x@evil.team.example.com", allow)
    assert not auth.oidc_allowed("anyone@gmail.com", "") and not auth.oidc_allowed("", allow)
