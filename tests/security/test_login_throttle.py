"""Issue 21, item 1: the login throttle could be switched off without logging in.

The attack, as it was run: password guesses over Streamlit's websocket, with the `clear_cache`
message (which wipes every `st.cache_resource`, where the counts lived, and the session state) sent
between guesses: 40 wrong passwords went through in 6.9 s and the 12th guess signed in. Here the
same messages go to a real `deepsynth dashboard` server; the counts now live in a file beside the
users file, per client address and per user name."""

from __future__ import annotations

import json
import time

import pytest
from dashboard_wire import Client, click, launcher_command, plain_streamlit_command, serving, text_value

from deepsynth.dashboard_host import users
from deepsynth.dashboard_host.throttle import throttle_file

PASSWORD = "correct horse battery staple"
LOCKED = "Too many failed sign-ins: try again in"


@pytest.fixture
def users_file(tmp_path):
    path = tmp_path / "config" / "dashboard-users.json"
    users.add_user(path, "alice", PASSWORD)
    return path


class Guesser:
    """One websocket session that submits the sign-in form in one message per guess, sending
    `clear_cache` first each time (it wipes the cache and this session's state)."""

    def __init__(self, port: int, **headers: str) -> None:
        self.client = Client(port, headers=headers)
        form = self.client.run()
        self.ids = [form.widget(label).id for label in ("User name", "Password", "Sign in")]

    def __call__(self, name: str, password: str) -> str:
        self.client.clear_cache()
        run = self.client.run(widgets=[text_value(self.ids[0], name), text_value(self.ids[1], password),
                                       click(self.ids[2])])
        for answer, text in (("locked", LOCKED), ("signed in", "Signed in as"), ("wrong", users.WRONG_CREDENTIALS)):
            if run.has(text):
                return answer
        raise AssertionError(run.texts)

    def close(self) -> None:
        self.client.close()


@pytest.mark.parametrize("command", [launcher_command, plain_streamlit_command])
def test_clear_cache_between_guesses_no_longer_resets_the_count(command, users_file, tmp_path):
    """Also for `streamlit run /abs/dashboard/app.py` from another folder, where Streamlit's server
    believes X-Forwarded-For from local clients: the name's count then applies to every address."""
    with serving(tmp_path, {users.USERS_FILE_ENV: str(users_file)}, command=command) as port:
        guess = Guesser(port)
        answers = [guess("alice", f"guess {n}") for n in range(3)]
        answers.append(guess("alice", PASSWORD))  # the 4th attempt waits 2 s, even the right password
        time.sleep(2.2)
        answers.append(guess("alice", "guess 4"))  # tried after the wait: checked, wrong; now 4 s
        time.sleep(4.2)
        answers.append(guess("alice", "guess 5"))  # now 8 s
        guess.close()
        # a fresh session, a forged X-Forwarded-For (no trusted proxy: ignored), the cache wiped again
        other = Guesser(port, **{"X-Forwarded-For": "10.9.9.9"})
        answers.append(other("alice", PASSWORD))
        other.close()
    assert answers == ["wrong", "wrong", "wrong", "locked", "wrong", "wrong", "locked"]
    counts = json.loads(throttle_file(users_file).read_text())["counts"]
    assert counts["user:alice"][0] == 5
    if command is launcher_command:  # the forged X-Forwarded-For was not believed
        assert counts["address:127.0.0.1"][0] == 5 and len(counts) == 2


def test_behind_a_trusted_proxy_the_guesser_waits_and_the_real_user_signs_in(users_file, tmp_path):
    with serving(tmp_path, {users.USERS_FILE_ENV: str(users_file)}, "--trusted-proxy", "127.0.0.1") as port:
        guess = Guesser(port, **{"X-Forwarded-For": "203.0.113.9"})
        answers = [guess("alice", f"guess {n}") for n in range(3)]
        answers += [guess("alice", PASSWORD), guess("bob", "another guess here")]  # per address, any name
        guess.close()
        alice = Guesser(port, **{"X-Forwarded-For": "198.51.100.7"})
        answers.append(alice("alice", PASSWORD))
        alice.close()
    assert answers == ["wrong", "wrong", "wrong", "locked", "locked", "signed in"]
