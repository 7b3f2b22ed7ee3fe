"""The sign-in gate: `require_login()` runs in `app.py` before any page or navigation is drawn, and
`fragment()` (used instead of `st.fragment` everywhere) runs the same check before every fragment
run, so a click inside a live panel is refused once its session no longer counts.

- Password login (the users file has users: `deepsynth dashboard --add-user NAME`): a form; pages
  and fragments run only for a session whose user is in the users file as it is NOW (read on every
  run: removing a user signs them out at their next click, adding the first user turns the login
  on without a restart). A wrong password gets one neutral answer, and repeated failures slow down
  (`deepsynth.dashboard_host.throttle`: counted on disk per client address and per user name, out
  of reach of Streamlit's "clear cache" message).
- OIDC (`deepsynth dashboard --oidc-provider URL`): Streamlit's `st.login`; a session is named by
  its VERIFIED e-mail, gets in only when it is on the allow-list (`DEEPSYNTH_DASHBOARD_OIDC_ALLOW`),
  and stops counting once its user was signed out everywhere after it signed in
  (`deepsynth.dashboard_host.oidc`: `session_user`, checked on every run and fragment run).
- No login: served only on loopback. Reachable from other machines (`server.address` unset or
  not loopback) the app draws a refusal and nothing else, unless the launcher's
  `--insecure-no-login` said so.
The signed-in user name is kept in `st.session_state[USER_KEY]` (None without a login): the Train
page records it on the jobs it starts.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable

import streamlit as st

from deepsynth.dashboard_host import addresses, oidc, sessions
from deepsynth.dashboard_host import users as auth
from deepsynth.dashboard_host.throttle import FailedSignIns, throttle_file
from deepsynth.errors import DeepSynthError

USER_KEY = auth.SESSION_USER_KEY


def signed_in_user() -> str | None:
    """Who this session belongs to (None when the dashboard has no login)."""
    return st.session_state.get(USER_KEY)


def client_address() -> str:
    """The address failed sign-ins from this browser are counted against."""
    try:
        remote = st.context.ip_address
        forwarded = st.context.headers.get_all("X-Forwarded-For") if st.context.headers else []
    except Exception:  # no browser connection (a test run): this machine
        remote, forwarded = None, []
    return addresses.client_address(remote, forwarded, addresses.trusted_proxies())


def _signed_out() -> oidc.SignedOut:
    return oidc.SignedOut(oidc.signed_out_file(auth.users_file()))


def _oidc_user() -> str | None:
    """The verified, allowed e-mail this browser signed in with, if its sign-in still counts."""
    return oidc.session_user(st.user.to_dict(), os.environ.get(auth.OIDC_ALLOW_ENV, ""), _signed_out())


def session_is_live() -> bool:
    """Whether this session may act now, against the users file as it is now."""
    try:
        mode = auth.login_mode()
        users = auth.read_users(auth.users_file()) if mode == auth.PASSWORD else {}
        if mode == auth.OIDC:
            email = _oidc_user()
            return email is not None and signed_in_user() == email
    except DeepSynthError:
        return False  # a broken users or signed-out file lets no one act
    return sessions.live_user(signed_in_user(), mode, users)


def fragment(function: Callable | None = None, **options: Any):
    """`st.fragment` whose every run first checks the session: a fragment's own reruns (its
    `run_every` timer, a click inside it) do not run `app.py`, so `require_login` alone would
    never see them. A session that no longer counts reruns the whole app, which shows the form."""
    def wrap(body: Callable) -> Callable:
        @functools.wraps(body)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not session_is_live():
                st.session_state.pop(USER_KEY, None)
                st.rerun(scope="app")
            return body(*args, **kwargs)

        return st.fragment(guarded, **options)

    return wrap(function) if function is not None else wrap


def require_login(sections: Any = None) -> str | None:
    """Let the session through (returning its user name, None without a login) or draw the
    sign-in form / the refusal and stop the script run.

    While signed out only the page a link asked for (/train) is declared, hidden (`sections` is
    what `st.navigation` takes): nothing is drawn, no other page is named, and that page is the
    one shown after signing in."""
    try:
        mode = auth.login_mode()
        if mode == auth.PASSWORD:
            return _password_gate(auth.read_users(auth.users_file()), sections)
        if mode == auth.OIDC:
            return _oidc_gate(sections)
    except DeepSynthError as error:
        st.session_state.pop(USER_KEY, None)
        st.error(f"The dashboard's login is misconfigured, so it shows nothing: {error}")
        st.stop()
    st.session_state[USER_KEY] = None
    address = st.get_option("server.address")
    if auth.reachable_beyond_loopback(address) and os.environ.get(auth.INSECURE_NO_LOGIN_ENV) != "1":
        where = f"server.address = {address!r}" if address else "server.address is unset: every network interface"
        st.error(
            f"This dashboard is reachable from other machines ({where}) and has no login, so it shows "
            "nothing. Serve it on this machine only: `deepsynth dashboard` (127.0.0.1), or `streamlit run "
            "dashboard/app.py` (dashboard/.streamlit/config.toml binds 127.0.0.1). "
            "For a team, create a login first: `deepsynth dashboard --add-user NAME` (see docs/TEAM.md).")
        st.stop()
    return None


def _sign_out() -> None:
    st.session_state.clear()  # nothing of one person's session is left for the next


def _sidebar_user(user: str, sign_out) -> None:
    with st.sidebar:
        st.caption(f"Signed in as **{user}**")
        st.button("Sign out", key="login.sign_out", on_click=sign_out)


def _asked_page(pages: list) -> Any:
    """The page this run was asked for (a link's /train, a rerun of the page on screen), if it is
    one of `pages`: what `st.navigation` itself would resolve."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    manager = ctx.pages_manager if ctx is not None else None
    if manager is None:
        return None
    for wanted in (manager.intended_page_script_hash, manager.current_page_script_hash):
        found = next((page for page in pages if wanted and page._script_hash == wanted), None)
        if found is not None:
            return found
    name = manager.intended_page_name
    return next((page for page in pages if name and page.url_path == name), None)


SIGN_IN_ROOT_TITLE = "Sign in"


def _sign_in_root() -> None:
    """The root's stand-in while signed out (never run: the gate stops the script first)."""


def _keep_the_asked_page(sections: Any) -> None:
    """Declare the one page the address asks for (else the default one), hidden: nothing runs or
    is drawn, the browser learns no other page's name, and after signing in the same page shows
    (a page's identity is its url path)."""
    if not sections:
        return
    pages = [page for section in sections.values() for page in section]
    default = next((page for page in pages if page.url_path == ""), pages[0])  # "": the default page
    chosen = _asked_page(pages) or default
    # The first page declared is the default one and is served at the root (its own path is
    # dropped): a "Sign in" stand-in takes the root, so the asked page keeps its path (/train, not
    # "Page not found"); the browser learns that one page and the sign-in root, nothing else.
    if chosen is default:
        st.navigation([default], position="hidden")
    else:
        st.navigation([st.Page(_sign_in_root, title=SIGN_IN_ROOT_TITLE, url_path="sign-in", default=True), chosen],
                      position="hidden")


def _password_gate(users: dict[str, str], sections: Any) -> str:
    user = st.session_state.get(USER_KEY)
    if sessions.live_user(user, auth.PASSWORD, users):
        _sidebar_user(user, _sign_out)
        return user
    st.session_state.pop(USER_KEY, None)
    _keep_the_asked_page(sections)
    st.title("DeepSynth")
    st.caption("This dashboard is shared: sign in to use it.")
    with st.form("login.form", clear_on_submit=True, width=420):
        name = st.text_input("User name", key="login.user", autocomplete="username")
        password = st.text_input("Password", type="password", key="login.password",
                                 autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        counts = FailedSignIns(throttle_file(auth.users_file()))
        result = sessions.sign_in(users, name.strip(), password, counts, client_address(),
                                  every_address=not addresses.addresses_are_real())
        if result.user is not None:
            st.session_state[USER_KEY] = result.user
            st.rerun()
        st.error(result.message)
    st.caption("No account? The person who runs this dashboard adds one with "
               "`deepsynth dashboard --add-user NAME`.")
    st.stop()


def _sign_out_everywhere() -> None:
    email = signed_in_user()
    if email:
        _signed_out().sign_out_everywhere(email)
    st.session_state.clear()
    st.logout()


def _oidc_gate(sections: Any) -> str:
    info = st.user.to_dict()
    if not info.get("is_logged_in"):  # absent when no identity was set up
        st.session_state.pop(USER_KEY, None)
        _keep_the_asked_page(sections)
        st.title("DeepSynth")
        st.caption("This dashboard is shared: sign in to use it.")
        st.button("Sign in", type="primary", key="login.oidc", on_click=st.login)
        st.stop()
    email = _oidc_user()
    if email is None:
        st.session_state.pop(USER_KEY, None)
        _keep_the_asked_page(sections)
        st.title("DeepSynth")
        st.error(_oidc_refusal(info))
        st.button("Sign out", key="login.sign_out", on_click=st.logout)
        st.stop()
    st.session_state[USER_KEY] = email
    with st.sidebar:
        st.caption(f"Signed in as **{email}**")
        st.button("Sign out", key="login.sign_out", on_click=st.logout)
        st.button("Sign out everywhere", key="login.sign_out_everywhere", on_click=_sign_out_everywhere,
                  help="Ends your sessions in every browser (Sign out ends this one).")
    return email


def _oidc_refusal(info: dict) -> str:
    """Why a signed-in browser is refused: unverified address, not on the list, or signed out everywhere."""
    claimed = str(info.get("email") or "this account")
    email = oidc.verified_email(info)
    if email is None:
        return f"{claimed}: the identity provider did not say this address is verified, so it may not use this dashboard."
    if not oidc.allowed(email, os.environ.get(auth.OIDC_ALLOW_ENV, "")):
        return f"{email} may not use this dashboard: ask the person who runs it to add it (--allow-email)."
    return f"{email} was signed out everywhere since this browser signed in: sign out, then sign in again."
