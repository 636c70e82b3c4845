"""The Profile page: your name, e-mail, password, groups and sessions."""

from __future__ import annotations

from typing import Any

import streamlit as st

from tusk import auth
from tusk.auth.grants import permissions_of
from tusk.auth.passwords import PASSWORD_RULE
from tusk.auth.sessions import create_session, revoke_sessions
from tusk.auth.users import change_own_password, groups_of, update_user
from tusk.errors import TuskError
from tusk.ui.auth_gate import TOKEN, remember, request_sign_out
from tusk.ui.shell import (
    current_user,
    header,
    md_escape,
    setup_page,
    show_error,
    sidebar_footer,
)


def render() -> None:
    """The whole Profile page (a note in single-user mode, where there is no login)."""
    info = setup_page("Profile")
    sidebar_footer()
    header(info)

    me = current_user()
    if me is None:
        st.info(
            "Tusk runs in single-user mode: there is no login and no profile. To have users, run "
            "`tusk auth init` and then `tusk auth enable`.",
            icon=":material/info:",
        )
        st.stop()

    details, password, access = st.tabs(
        [":material/badge: Details", ":material/password: Password", ":material/key: Access"]
    )
    with details, st.form("profile_details"):
        _details(me)
    with password:
        _password(me)
    with access:
        _access(me)


def _details(me: Any) -> None:
    """Display name and e-mail."""
    st.text_input("User name", value=me.username, disabled=True)
    name = st.text_input("Display name", value=me.display_name, key="profile_name")
    email = st.text_input("E-mail", value=me.email, key="profile_email")
    if st.form_submit_button("Save", type="primary"):
        try:
            update_user(me, display_name=name, email=email, actor=me)
        except TuskError as exc:
            show_error(exc)
        else:
            st.toast("Profile saved", icon=":material/check:")


def _password(me: Any) -> None:
    """Change the password; sign out everywhere."""
    with st.form("profile_password"):
        current = st.text_input("Current password", type="password", key="profile_pw_current")
        new = st.text_input(
            "New password", type="password", key="profile_pw_new", help=PASSWORD_RULE
        )
        again = st.text_input("New password again", type="password", key="profile_pw_again")
        if st.form_submit_button("Change password", type="primary"):
            if new != again:
                st.error("The two new passwords differ.")
            else:
                try:
                    changed = change_own_password(me, current, new)
                except TuskError as exc:
                    show_error(exc)
                else:
                    # Every session of this user ended; keep this browser signed in.
                    st.session_state[TOKEN] = create_session(changed)
                    remember(changed)  # the old login cookie was voided with the sessions
                    st.success("Password changed. Your other sessions were signed out.")
    if st.button("Sign out everywhere", icon=":material/logout:", key="profile_sign_out_all"):
        revoke_sessions(int(me.id or 0), actor=me)
        request_sign_out()
        st.rerun()


def _access(me: Any) -> None:
    """Groups and the permissions they grant."""
    groups = groups_of(me)
    st.markdown(
        "**Groups:** "
        + (", ".join(md_escape(g) for g in groups) if groups else "none")
        + (" · **administrator** (every permission)" if me.is_admin else "")
    )
    mine = permissions_of(me)
    for category, perms in auth.permissions.CATEGORIES.items():
        marks = " · ".join(f"{'✅' if p in mine else '—'} `{p.split('.', 1)[1]}`" for p in perms)
        st.markdown(f"**{category}** — {marks}")
