"""A form's last values, kept on disk per user, so a reload, a page switch or a dashboard restart
finds the form as the user left it.

`<workspace>/workspace/dashboard-forms/<user>.json` = `{form: {widget key: value}}`. Streamlit drops
the state of widgets a run did not draw (another page, a `st.stop()` above them), and a reload
starts an empty session: session state alone cannot keep intent, so the values live here. The user
comes from `current_user()`: "local" unless a login has put a name in the session.

    memory = FormMemory("train")
    memory.restore(["train.max_steps", ...], defaults)   # before the widgets: fills session state
    ...widgets with those keys...
    memory.save(["train.max_steps", ...])                # after them: writes what changed
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import streamlit as st

from deepsynth import paths
from deepsynth.atomic_files import write_json_atomic
from deepsynth.dashboard_host.users import SESSION_USER_KEY as USER_KEY  # absent: the single local user

FOLDER = "dashboard-forms"
LOCAL_USER = "local"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def current_user() -> str:
    """Who is using this session: the login's name (`st.session_state[USER_KEY]`), else "local"."""
    name = st.session_state.get(USER_KEY)
    return str(name) if isinstance(name, str) and name.strip() else LOCAL_USER


def keep(keys: Iterable[str]) -> None:
    """Re-assert these widgets' session values before they are drawn. Streamlit forgets a widget
    that a run did not draw (another page, a `st.stop()` above it), and a widget whose value was
    set through session state comes back showing its own default (0, the first option) while the
    session still holds the value: the next interaction then sends the wrong one. Setting the
    value again each run prevents both (Streamlit's documented idiom). Never for buttons or file
    uploaders, whose values cannot be set."""
    for key in keys:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def memory_path(user: str | None = None) -> Path:
    """The user's form file; the name is reduced to file-safe characters (never a path)."""
    name = _SAFE.sub("_", user or current_user()).strip("._") or LOCAL_USER
    return paths.home() / "workspace" / FOLDER / f"{name[:64]}.json"


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


class FormMemory:
    """One form's remembered widget values for the current user."""

    def __init__(self, form: str, user: str | None = None) -> None:
        self.form = form
        self.path = memory_path(user)

    def _all(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def values(self) -> dict[str, Any]:
        saved = self._all().get(self.form)
        return dict(saved) if isinstance(saved, dict) else {}

    def restore(self, keys: Iterable[str], defaults: Mapping[str, Any] | None = None) -> None:
        """Give every widget key that has no session value its remembered value, else its default
        (call before drawing the widgets, which then take no `value=` of their own); keys with a
        value keep it across page switches and stopped runs (`keep`)."""
        saved = self.values()
        defaults = defaults or {}
        keys = list(keys)
        keep(keys)
        for key in keys:
            if key in st.session_state:
                continue
            if key in saved:
                st.session_state[key] = saved[key]
            elif key in defaults:
                st.session_state[key] = defaults[key]

    def save(self, keys: Iterable[str]) -> None:
        """Remember the session's current values of `keys` (written only when something changed)."""
        current = {key: st.session_state[key] for key in keys
                   if key in st.session_state and _jsonable(st.session_state[key])}
        data = self._all()
        merged = {**(data.get(self.form) or {}), **current}
        if merged != data.get(self.form):
            data[self.form] = merged
            write_json_atomic(self.path, data)

    def remember(self, key: str, value: Any) -> None:
        """Remember one value that is not a widget (e.g. the dataset just built)."""
        data = self._all()
        form = dict(data.get(self.form) or {})
        if form.get(key) != value:
            form[key] = value
            data[self.form] = form
            write_json_atomic(self.path, data)

    def forget(self, keys: Iterable[str]) -> None:
        data = self._all()
        form = {k: v for k, v in (data.get(self.form) or {}).items() if k not in set(keys)}
        data[self.form] = form
        write_json_atomic(self.path, data)
