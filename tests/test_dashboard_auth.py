"""deepsynth.dashboard_host: scrypt records, the users file, equal work for unknown users, the throttle on disk,
the client address behind a trusted proxy, live sessions."""

from __future__ import annotations

import json
import os
import stat

import pytest

from deepsynth.dashboard_host import addresses, sessions, throttle
from deepsynth.dashboard_host import users as auth
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


def counts_in(tmp_path, now=None, **kwargs) -> throttle.FailedSignIns:
    clock = (lambda: now[0]) if now is not None else __import__("time").time
    return throttle.FailedSignIns(throttle.throttle_file(tmp_path / "users.json"), clock=clock, **kwargs)


def test_an_unknown_user_costs_the_same_scrypt_work_and_gets_the_same_answer(monkeypatch, tmp_path):
    users = {"alice": auth.hash_password("a long enough password")}
    auth._dummy_record()  # made once per process, before any attempt
    calls = []
    real = auth.hashlib.scrypt
    monkeypatch.setattr(auth.hashlib, "scrypt", lambda *a, **k: calls.append(k["n"]) or real(*a, **k))
    results = [sessions.sign_in(users, name, "wrong password!", counts_in(tmp_path / name), "10.0.0.1")
               for name in ("alice", "zed")]
    assert calls == [16384, 16384]
    assert results[0] == results[1] == sessions.SignIn(None, auth.WRONG_CREDENTIALS, 0.0)


def test_three_failures_are_free_then_the_wait_doubles_up_to_30_s():
    assert [throttle.delay_after(n) for n in range(10)] == [0, 0, 0, 2, 4, 8, 16, 30, 30, 30]


def test_the_counts_live_in_a_private_file_shared_by_every_process(tmp_path):
    now = [1000.0]
    first, second = counts_in(tmp_path, now), counts_in(tmp_path, now)  # two server processes
    for _ in range(2):
        first.failed("alice", "10.0.0.1")
    assert second.failed("alice", "10.0.0.1") == 2  # the third failure, counted by another process
    assert first.wait_s("alice", "10.0.0.1") == 2
    path = throttle.throttle_file(tmp_path / "users.json")
    assert path.name == "users.failed-sign-ins.json" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.with_name(path.name + ".lock").stat().st_mode) == 0o600
    now[0] += throttle.FORGET_AFTER_S
    assert second.wait_s("alice", "10.0.0.1") == 0  # forgotten an hour after the last failure


def test_a_guesser_slows_down_per_address_and_per_name_but_the_real_user_elsewhere_never_waits(tmp_path):
    now = [1000.0]
    counts = counts_in(tmp_path, now)
    waits = [counts.failed("alice", "203.0.113.9") for _ in range(8)]
    assert waits == [0, 0, 2, 4, 8, 16, 30, 30]
    assert counts.wait_s("bob", "203.0.113.9") == 30  # per address: another name from there waits too
    assert counts.wait_s("alice", "198.51.100.7") == 0  # the real user, from a clean address: never
    # a guesser spread over addresses: each new address fails once, then waits for the name's count
    counts.failed("alice", "203.0.113.10")
    assert counts.wait_s("alice", "203.0.113.10") == 30 and counts.wait_s("carol", "203.0.113.10") == 0
    now[0] += 30
    assert counts.wait_s("alice", "203.0.113.9") == 0
    counts.succeeded("alice", "203.0.113.9")  # the address starts afresh
    assert counts.failed("alice", "203.0.113.9") == 0 or counts.wait_s("alice", "203.0.113.9") <= 30


def test_a_locked_attempt_does_no_hashing(monkeypatch, tmp_path):
    counts = counts_in(tmp_path, free_attempts=1, base_delay_s=30)
    counts.failed("alice", "10.0.0.1")
    monkeypatch.setattr(auth.hashlib, "scrypt", lambda *a, **k: pytest.fail("hashed while locked"))
    result = sessions.sign_in({}, "alice", "x", counts, "10.0.0.1")
    assert result.user is None and result.message == "Too many failed sign-ins: try again in 30 s."


def test_a_damaged_or_unlockable_file_never_opens_the_door(tmp_path):
    counts = counts_in(tmp_path, free_attempts=1)
    counts.path.parent.mkdir(parents=True, exist_ok=True)
    counts.path.write_text("{not json")
    assert counts.failed("alice", "10.0.0.1") == 2  # starts again from the damaged file
    handle = __import__("deepsynth.file_locks", fromlist=["try_lock"]).try_lock(counts.lock_path, 1)
    try:
        throttle.LOCK_WAIT_S, saved = 0.1, throttle.LOCK_WAIT_S
        assert counts.wait_s("nobody", "10.9.9.9") == 1.0  # held by another process: wait, not "go"
    finally:
        throttle.LOCK_WAIT_S = saved
        handle.close()


def test_the_throttle_file_is_bounded(tmp_path):
    counts = counts_in(tmp_path, max_keys=100)
    for index in range(120):
        counts.failed(f"user{index}", f"10.0.{index // 250}.{index % 250}")
    assert len(json.loads(counts.path.read_text())["counts"]) <= 100


def test_forwarded_addresses_count_only_behind_a_trusted_proxy():
    forged = ["1.2.3.4"]
    assert addresses.client_address("203.0.113.9", forged) == "203.0.113.9"  # no proxy configured
    assert addresses.client_address(None, forged) == "127.0.0.1"
    proxies = addresses.trusted_proxies({addresses.TRUSTED_PROXIES_ENV: "127.0.0.1, 10.0.0.2"})
    assert proxies == {"127.0.0.1", "10.0.0.2"}
    assert addresses.client_address(None, ["1.2.3.4, 198.51.100.7"], proxies) == "198.51.100.7"
    assert addresses.client_address("10.0.0.2", ["198.51.100.7, 10.0.0.2"], proxies) == "198.51.100.7"
    assert addresses.client_address("203.0.113.9", ["198.51.100.7"], proxies) == "203.0.113.9"  # not the proxy
    assert addresses.client_address(None, ["garbage"], proxies) == "127.0.0.1"
    with pytest.raises(DeepSynthError, match="--trusted-proxy 'proxy.example.org'"):
        addresses.check_proxy_address("proxy.example.org")


def test_a_session_counts_only_while_its_user_is_in_the_users_file_now():
    users = {"alice": "record"}
    assert sessions.live_user("alice", auth.PASSWORD, users)
    assert not sessions.live_user("alice", auth.PASSWORD, {})  # removed
    assert not sessions.live_user(None, auth.PASSWORD, users)  # signed out
    assert sessions.live_user(None, auth.NONE, {})
    assert sessions.live_user("a@x.org", auth.OIDC, {}, "a@x.org", "@x.org")
    assert not sessions.live_user("a@x.org", auth.OIDC, {}, None, "@x.org")  # signed out at the provider


def test_login_mode_and_exposure(tmp_path):
    env = {auth.USERS_FILE_ENV: str(tmp_path / "none.json")}
    assert auth.login_mode(env) == auth.NONE
    auth.add_user(tmp_path / "u.json", "alice", "a long enough password")
    assert auth.login_mode({auth.USERS_FILE_ENV: str(tmp_path / "u.json")}) == auth.PASSWORD
    assert auth.login_mode({**env, auth.LOGIN_ENV: "oidc"}) == auth.OIDC
    # the users file decides on every call, whatever the launcher saw at start-up
    assert auth.login_mode({auth.USERS_FILE_ENV: str(tmp_path / "u.json"), auth.LOGIN_ENV: "password"}) == auth.PASSWORD
    for stale in ("none", "off"):
        with pytest.raises(DeepSynthError, match=r"must be one of password, oidc \(or unset\)"):
            auth.login_mode({auth.LOGIN_ENV: stale})
    assert [auth.reachable_beyond_loopback(a) for a in (None, "", "0.0.0.0", "::", "10.1.2.3", "127.0.0.1",
                                                        "localhost", "::1")] == [True] * 5 + [False] * 3


def test_oidc_allow_list():
    allow = "alice@example.org, @team.example.com"
    assert auth.oidc_allowed("Alice@Example.org", allow) and auth.oidc_allowed("bob@team.example.com", allow)
    assert not auth.oidc_allowed("bob@example.org", allow) and not auth.oidc_allowed("x@evil.team.example.com", allow)
    assert not auth.oidc_allowed("anyone@gmail.com", "") and not auth.oidc_allowed("", allow)
