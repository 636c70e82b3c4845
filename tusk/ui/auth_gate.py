"""Sign-in for multi-user mode: a server-side session per browser session, checked every run,
and a streamlit-authenticator cookie so a reload or a new tab stays signed in.

Who does what:
- streamlit-authenticator (the product card's component) keeps the login cookie: a JWT signed
  with the secret made by `tusk auth init` (auth_cookie.key, 0600), read back on a new browser
  session (`login(location="unrendered")`), set after a sign-in and deleted at sign-out.
  Its credentials dict is built from auth.db (`sessions.credentials()`, `auto_hash=False`).
- Tusk's own form and `tusk.auth.sessions.verify_login` check the password (bcrypt over a
  SHA-256 pre-hash, which the component cannot verify), rate-limit failures and audit them.
- Every browser session holds a server-side session token (TOKEN). A password change,
  deactivation or deletion revokes the user's sessions, so the next rerun anywhere signs out;
  a cookie issued before the revocation is refused (`store.cookie_user`).
- The cookie names the user by uid (random, never reused), not by id or name: a deleted
  user's cookie can never sign in whoever is created next.
- The signed-in user and their permissions are read from auth.db once per script run (never
  reused in another run, and read again within it after this process wrote to auth.db): a
  page run asks for them a dozen times or more.

The component claims bare session-state keys (name, username, authentication_status, email,
roles, logout); Tusk's keys all start with "tusk_" and never touch them except where the
component needs them to write the cookie.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from tusk import auth
from tusk.errors import TuskError
from tusk.ui.error_display import show_error

if TYPE_CHECKING:
    from tusk.auth.schema import User

TOKEN = "tusk_auth_token"  # our own key: streamlit-authenticator claims bare names
SIGNING_OUT = "tusk_auth_signing_out"
COOKIE_EXP = "tusk_auth_cookie_exp"  # the expiry that identifies this browser's login cookie
COOKIE_NAME = "tusk_auth"
COOKIE_DAYS = 7.0


def _current_run() -> object | None:
    """An object that stands for the script run in progress, or None outside one. Streamlit
    makes a new ParallelFragmentCoordinator at the start of every run (callbacks and fragment
    runs included), before any of our code runs: its identity is the run's."""
    ctx = get_script_run_ctx(suppress_warning=True)
    return getattr(ctx, "parallel_coordinator", None) if ctx is not None else None


auth.set_run_scope(_current_run)  # allowed() reads a user's permissions once per run
# run -> {session token: (store.commits() when read, user)}; an entry goes with its run object.
_users_by_run: weakref.WeakKeyDictionary[object, dict[str, tuple[int, User]]] = (
    weakref.WeakKeyDictionary()
)
_users_lock = threading.Lock()


def _authenticator() -> Any:
    """The component, fed from auth.db. Only built when this browser session has no valid
    server session (first run, sign-in, sign-out): it renders a hidden cookie iframe."""
    import streamlit_authenticator as stauth

    from tusk.auth.sessions import cookie_key, credentials

    return stauth.Authenticate(
        credentials(),
        cookie_name=COOKIE_NAME,
        cookie_key=cookie_key(),
        cookie_expiry_days=COOKIE_DAYS,
        auto_hash=False,
        login_sleep_time=0,  # its default sleeps 0.7 s on every signed-out run
    )


def current_user() -> User | None:
    """The signed-in user (None in single mode or when signed out)."""
    if auth.mode() == "single":
        return None
    token = st.session_state.get(TOKEN)
    if not token:
        return None
    from tusk.auth import database
    from tusk.auth.sessions import session_user

    run = _current_run()
    commits = database.commits()
    if run is not None:
        with _users_lock:
            cached = _users_by_run.get(run, {}).get(token)
        if cached is not None and cached[0] == commits:
            return cached[1]
    user = session_user(token)
    if user is None:
        st.session_state.pop(TOKEN, None)  # revoked elsewhere: sign this session out
    elif run is not None:
        with _users_lock:
            # Counted before the lookup, so a write made meanwhile (even the lookup's own
            # last_seen) means one more lookup, never a stale user.
            _users_by_run.setdefault(run, {})[token] = (commits, user)
    return user


def request_sign_out() -> None:
    """Sign out on the next run (the gate deletes the cookie while drawing the form)."""
    st.session_state[SIGNING_OUT] = True


def _sign_out_now(authenticator: Any) -> None:
    """End the server session and void the cookie in auth.db (the browser may close before
    it runs the component's cookie deletion), then ask the browser to delete it."""
    from tusk.auth.sessions import revoke_session, void_cookie

    user = current_user()
    expires = st.session_state.pop(COOKIE_EXP, None)
    if user is not None and user.id is not None and expires is not None:
        void_cookie(user.id, float(expires))
    token = st.session_state.pop(TOKEN, None)
    if token:
        revoke_session(token)
    _forget_cookie(authenticator)


def _forget_cookie(authenticator: Any) -> None:
    """Delete the login cookie and clear the component's keys (it then ignores the stale
    cookie the browser sent when this session started)."""
    st.session_state["authentication_status"] = True  # its logout refuses otherwise
    authenticator.logout(location="unrendered")


def remember(user: User, authenticator: Any | None = None) -> None:
    """Give this browser a login cookie for `user` (after a sign-in or a password change)."""
    authenticator = authenticator or _authenticator()
    st.session_state["username"] = user.uid  # the component signs this key into the JWT
    st.session_state["logout"] = None
    authenticator.cookie_controller.set_cookie()
    st.session_state[COOKIE_EXP] = authenticator.cookie_controller.cookie_model.exp_date


def _from_cookie(authenticator: Any) -> User | None:
    """A new browser session of someone who signed in before: trust the cookie only if
    auth.db still does (user active, cookie newer than their last revocation)."""
    from streamlit_authenticator.utilities import LoginError

    from tusk.auth.sessions import cookie_user, create_session

    st.session_state["authentication_status"] = None  # make it read the cookie afresh
    try:
        authenticator.login(location="unrendered")
    except LoginError:  # the cookie names a deleted or deactivated user
        _forget_cookie(authenticator)
        return None
    if not st.session_state.get("authentication_status"):
        return None
    payload = authenticator.cookie_controller.cookie_model.token or {}
    expires = float(payload.get("exp_date", 0))
    user = cookie_user(str(st.session_state.get("username")), expires, COOKIE_DAYS * 86400)
    if user is None:
        _forget_cookie(authenticator)
        return None
    try:
        st.session_state[TOKEN] = create_session(user)
    except TuskError:
        return None
    st.session_state[COOKIE_EXP] = expires
    return user


def gate() -> User | None:
    """Stop the page until someone signs in (multi mode); force a due password change."""
    if auth.mode() == "single":
        return None
    if st.session_state.pop(SIGNING_OUT, False):
        authenticator = _authenticator()
        _sign_out_now(authenticator)
        user = _login_form(authenticator)
    else:
        user = current_user()
        if user is None:
            authenticator = _authenticator()
            user = _from_cookie(authenticator) or _login_form(authenticator)
    if user is None:
        st.stop()
    if user.must_change_password:
        user = _change_password_form(user)
        if user is None:
            st.stop()
    return user


def _login_form(authenticator: Any) -> User | None:
    """Draw the sign-in form; on success clear it, set the cookie and go on with this run
    (no rerun: that would drop the cookie component before the browser runs it)."""
    from tusk.auth.sessions import create_session, verify_login

    area = st.empty()
    with area.container():
        st.title(":material/database: Tusk")
        with st.form("tusk_login_form"):
            st.markdown("#### Sign in")
            username = st.text_input("User name", key="tusk_login_username")
            password = st.text_input("Password", type="password", key="tusk_login_password")
            submitted = st.form_submit_button("Sign in", type="primary")
        if not submitted:
            return None
        try:
            user = verify_login(username, password)
        except TuskError as exc:
            show_error(exc)
            return None
        if user is None:
            st.error("Wrong user name or password.")
            return None
    st.session_state[TOKEN] = create_session(user)
    area.empty()
    remember(user, authenticator)
    return user


def _change_password_form(user: User) -> User | None:
    """The forced change after an admin reset or `auth init`: nothing else until it is done."""
    from tusk.auth.passwords import PASSWORD_RULE
    from tusk.auth.sessions import create_session
    from tusk.auth.users import change_own_password

    area = st.empty()
    with area.container():
        st.title(":material/lock_reset: Choose a new password")
        st.info("Your password must be changed before you go on.", icon=":material/info:")
        with st.form("tusk_change_password_form"):
            current = st.text_input("Current password", type="password", key="tusk_pw_current")
            new = st.text_input(
                "New password", type="password", key="tusk_pw_new", help=PASSWORD_RULE
            )
            again = st.text_input("New password again", type="password", key="tusk_pw_again")
            submitted = st.form_submit_button("Change password", type="primary")
        if not submitted:
            return None
        if new != again:
            st.error("The two new passwords differ.")
            return None
        try:
            changed = change_own_password(user, current, new)
        except TuskError as exc:
            show_error(exc)
            return None
    # Changing the password revoked every session and cookie, this one's too: start afresh.
    st.session_state[TOKEN] = create_session(changed)
    area.empty()
    remember(changed)
    return changed
