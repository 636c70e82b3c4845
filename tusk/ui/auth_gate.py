"""Sign-in for multi-user mode: a server-side session per browser session, checked every run.

A password change, deactivation or deletion revokes the user's sessions in auth.db, so the
next rerun of any browser session of that user signs it out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from tusk import auth
from tusk.errors import TuskError

if TYPE_CHECKING:
    from tusk.auth.store import User

TOKEN = "tusk_auth_token"  # our own key: streamlit-authenticator claims bare names


def current_user() -> User | None:
    """The signed-in user (None in single mode or when signed out)."""
    if auth.mode() == "single":
        return None
    token = st.session_state.get(TOKEN)
    if not token:
        return None
    from tusk.auth import store

    user = store.session_user(token)
    if user is None:
        st.session_state.pop(TOKEN, None)  # revoked elsewhere: sign this session out
    return user


def sign_out() -> None:
    """End this browser session's sign-in."""
    token = st.session_state.pop(TOKEN, None)
    if token:
        from tusk.auth import store

        store.revoke_session(token)


def gate() -> User | None:
    """Stop the page until someone signs in (multi mode); force a due password change."""
    if auth.mode() == "single":
        return None
    user = current_user()
    if user is None:
        _login_form()
        st.stop()
    if user.must_change_password:
        _change_password_form(user)
        st.stop()
    return user


def _login_form() -> None:
    from tusk.auth import store

    st.title(":material/database: Tusk")
    with st.form("tusk_login_form"):
        st.markdown("#### Sign in")
        username = st.text_input("User name", key="tusk_login_username")
        password = st.text_input("Password", type="password", key="tusk_login_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        return
    try:
        user = store.verify_login(username, password)
    except TuskError as exc:
        st.error(f"**{exc.title}** — {exc.message}")
        return
    if user is None:
        st.error("Wrong user name or password.")
        return
    st.session_state[TOKEN] = store.create_session(user)
    st.session_state.pop("tusk_login_password", None)
    st.rerun()


def _change_password_form(user: User) -> None:
    from tusk.auth import store

    st.title(":material/lock_reset: Choose a new password")
    st.info("Your password must be changed before you go on.", icon=":material/info:")
    with st.form("tusk_change_password_form"):
        current = st.text_input("Current password", type="password", key="tusk_pw_current")
        new = st.text_input("New password", type="password", key="tusk_pw_new")
        again = st.text_input("New password again", type="password", key="tusk_pw_again")
        submitted = st.form_submit_button("Change password", type="primary")
    if not submitted:
        return
    if new != again:
        st.error("The two new passwords differ.")
        return
    try:
        changed = store.change_own_password(user, current, new)
    except TuskError as exc:
        st.error(f"**{exc.title}** — {exc.message}")
        return
    # Changing the password revoked every session, this one included: sign in afresh.
    st.session_state[TOKEN] = store.create_session(changed)
    st.rerun()
