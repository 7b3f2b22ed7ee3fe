"""Issue 21, item 13: unauthenticated extras. Before signing in, `/_stcore/metrics` answered, the
navigation message listed every page, and the session's first message carried the checkout's
install path (and a `load_git_info` request named its branch and files). Here a real
`deepsynth dashboard` with a login is asked for each of them by a client that never signs in."""

from __future__ import annotations

import http.client
import time

import pytest
from dashboard_wire import CHECKOUT, Client, click, serving, text_value

from deepsynth.dashboard_host import users

PASSWORD = "correct horse battery staple"


@pytest.fixture
def users_file(tmp_path):
    path = tmp_path / "config" / "dashboard-users.json"
    users.add_user(path, "alice", PASSWORD)
    return path


def status(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.request("GET", path)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def test_signed_out_nothing_but_the_form_and_the_asked_page_is_told(users_file, tmp_path):
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    with serving(tmp_path, {users.USERS_FILE_ENV: str(users_file)}) as port:
        code, body = status(port, "/_stcore/metrics")  # now the app's page shell, like any unknown path
        assert b"active_sessions" not in body and b"# TYPE" not in body and b"<!doctype html>" in body.lower()
        with Client(port) as client:
            assert client.run().pages == ["Presets & estimate"]  # at /: the default page alone
            url = f"http://127.0.0.1:{port}/train"
            form = client.run(page="train", url=url)
            assert str(CHECKOUT) not in form.script_path and form.script_path == "dashboard/app.py"
            assert form.pages == ["Sign in", "Train"]  # the page the address names (hidden) and the root's stand-in
            assert not any(name in form.pages for name in ("Dataset", "Compare", "Playground"))
            git = BackMsg()
            git.load_git_info = True
            client.send(git)
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:  # nothing about the repository comes back
                try:
                    data = client.socket.recv(timeout=0.5)
                except TimeoutError:
                    continue
                message = ForwardMsg()
                message.ParseFromString(data)
                assert message.WhichOneof("type") != "git_info_changed"
            # signing in shows the page the link asked for, and only now every page
            signed_in = client.run(page="train", url=url, widgets=[
                text_value(form.widget("User name").id, "alice"), text_value(form.widget("Password").id, PASSWORD),
                click(form.widget("Sign in").id)])
            assert signed_in.has("Signed in as **alice**") and signed_in.has("No jobs yet.")
            assert {"Dataset", "Train", "Compare", "Playground"} <= set(signed_in.pages)
