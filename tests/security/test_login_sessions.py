"""Issue 21, item 2: signed-out and removed users kept acting.

The attack, as it was run: a websocket client signed in, opened the Train page, and sent clicks
inside the live job panel (a fragment: its reruns do not run `app.py`, where the sign-in gate
was) after "Sign out", and after the user was deleted from the users file: Cancel killed the job
10 ms after the removal. Here the same messages go to a real `deepsynth dashboard` server with a
real (sleeping) job process; every fragment run now checks the session against the users file as
it is at that moment."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from dashboard_wire import CHECKOUT, Client, click, serving, text_value

from deepsynth.dashboard_host import users

PASSWORD = "correct horse battery staple"
SIGN_IN = "This dashboard is shared: sign in to use it."


@pytest.fixture
def users_file(tmp_path):
    path = tmp_path / "config" / "dashboard-users.json"
    users.add_user(path, "alice", PASSWORD)
    users.add_user(path, "bob", "another long password")
    return path


def signed_in_on_train(port: int) -> tuple[Client, object]:
    client = Client(port)
    form = client.run()
    client.run(widgets=[text_value(form.widget("User name").id, "alice"),
                        text_value(form.widget("Password").id, PASSWORD), click(form.widget("Sign in").id)])
    page = client.run(page="train")
    return client, page


def remove_alice(path) -> None:
    data = json.loads(path.read_text())
    del data["users"]["alice"]
    path.write_text(json.dumps(data))


def job_alive(job) -> bool:
    from deepsynth import jobs

    return jobs.get_job(job.job_id).alive


def test_a_click_inside_the_live_panel_counts_only_while_the_session_does(running_job, users_file, tmp_path):
    with serving(tmp_path, {users.USERS_FILE_ENV: str(users_file)}) as port:
        # 1. signed out: the Cancel button's fragment is clicked anyway
        client, page = signed_in_on_train(port)
        cancel = page.widget("Cancel")
        assert cancel.fragment_id, "Cancel is drawn inside the live panel's fragment"
        assert client.run(page="train", widgets=[click(page.widget("Sign out").id)]).has(SIGN_IN)
        answer = client.run(page="train", widgets=[click(cancel.id)], fragment_id=cancel.fragment_id)
        assert job_alive(running_job) and answer.has(SIGN_IN)  # the whole app reran: the form
        client.close()
        # 2. removed from the users file while signed in
        client, page = signed_in_on_train(port)
        cancel = page.widget("Cancel")
        remove_alice(users_file)
        answer = client.run(page="train", widgets=[click(cancel.id)], fragment_id=cancel.fragment_id)
        assert job_alive(running_job) and answer.has(SIGN_IN)
        client.close()
        # 3. the check lets a live session through: alice, back in the file, cancels the job
        users.add_user(users_file, "alice", PASSWORD)
        client, page = signed_in_on_train(port)
        cancel = page.widget("Cancel")
        client.run(page="train", widgets=[click(cancel.id)], fragment_id=cancel.fragment_id, timeout=90)
        client.close()
    assert not job_alive(running_job)


def test_add_user_on_a_running_open_dashboard_turns_the_login_on_at_the_next_click(tmp_path):
    """Issue 21, item 3: `--add-user` printed "the dashboard now asks everyone to sign in" while a
    running dashboard without users kept serving everyone until a restart."""
    users_file = tmp_path / "config" / "dashboard-users.json"
    with serving(tmp_path, {}, "--users-file", str(users_file)) as port:
        with Client(port) as client:
            assert client.run().has("Presets & estimate")  # no users yet: open, on loopback
            added = subprocess.run([sys.executable, "-m", "deepsynth", "dashboard", "--add-user", "carol",
                                    "--users-file", str(users_file)], input="a long enough password\n",
                                   capture_output=True, text=True, timeout=120,
                                   env={**__import__("os").environ, "PYTHONPATH": str(CHECKOUT)})
            assert added.returncode == 0, added.stderr
            assert "asks everyone to sign in from its next click" in added.stdout
            after = client.run()  # the same session's next click
            assert after.has(SIGN_IN) and not after.has("Presets & estimate")
