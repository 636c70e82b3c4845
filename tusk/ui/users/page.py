"""The Users page: users, groups and their permissions (multi-user mode), and the audit log."""

from __future__ import annotations

from typing import Any

import streamlit as st

from tusk import auth
from tusk.auth import permissions
from tusk.auth.audit import audit_log
from tusk.auth.groups import create_group, delete_group, list_groups, set_group_permissions
from tusk.auth.passwords import PASSWORD_RULE
from tusk.auth.users import (
    activate,
    create_user,
    deactivate,
    delete_user,
    groups_of,
    list_users,
    set_password,
    set_user_groups,
    update_user,
)
from tusk.errors import TuskError
from tusk.ui.shell import current_user, header, md_escape, setup_page, show_error, sidebar_footer


def render() -> None:
    """The whole Users page: the single-user note, or the users, groups and audit tabs."""
    info = setup_page("Users")  # needs system.users in multi-user mode
    sidebar_footer()
    header(info)

    me = current_user()
    if auth.mode() == "single":
        st.info(
            "Tusk runs in single-user mode: no login, everything allowed. To have users, run "
            "`tusk auth init` (creates the groups and an admin) and then `tusk auth enable`.",
            icon=":material/info:",
        )
        st.stop()

    actor = me if me is not None else "system"  # a User: the auth action checks its permissions too
    users_tab, groups_tab, audit_tab = st.tabs(
        [":material/group: Users", ":material/groups: Groups", ":material/history: Audit log"]
    )
    with users_tab:
        _users(me, actor)
    with groups_tab:
        _groups(me, actor)
    with audit_tab:
        _audit()


def _act(me: Any, label: str, permission: str, action) -> bool:  # noqa: ANN001 - a zero-arg callable
    """Run a change after checking `me`'s permission; show errors; True when it worked."""
    try:
        auth.require(me, permission)
        action()
    except TuskError as exc:
        show_error(exc)
        return False
    st.toast(label, icon=":material/check:")
    return True


def _users(me: Any, actor: Any) -> None:
    """Users: the table, the add form and the editor of one user."""
    group_names = [g.name for g, _, _ in list_groups()]
    users = list_users()
    st.dataframe(
        [
            {
                "user": u.username,
                "name": u.display_name,
                "e-mail": u.email,
                "admin": u.is_admin,
                "active": u.active,
                "groups": ", ".join(groups_of(u)),
                "last login": u.last_login,
            }
            for u in users
        ],
        hide_index=True,
        width="stretch",
    )
    with st.expander("Add a user", icon=":material/person_add:"), st.form("users_add"):
        name = st.text_input("User name", key="users_new_name")
        display = st.text_input("Display name", key="users_new_display")
        email = st.text_input("E-mail", key="users_new_email")
        password = st.text_input(
            "Password", type="password", key="users_new_password", help=PASSWORD_RULE
        )
        temporary = st.checkbox("Must change it at first sign-in", value=True)
        is_admin = st.checkbox("Administrator", key="users_new_admin")
        groups = st.multiselect("Groups", group_names, key="users_new_groups")
        if st.form_submit_button("Add user", type="primary") and _act(
            me,
            f"Added {name}",
            permissions.SYSTEM_USERS,
            lambda: create_user(
                name,
                password,
                display_name=display or None,
                email=email or None,
                is_admin=is_admin,
                must_change_password=temporary,
                groups=groups,
                actor=actor,
            ),
        ):
            st.rerun()

    picked = st.selectbox(
        "Edit user",
        [u.username for u in users],
        key="users_pick",
        index=None,
        placeholder="Choose a user…",
    )
    target = next((u for u in users if u.username == picked), None)
    if target is not None:
        with st.container(border=True):
            st.markdown(f"**{md_escape(target.username)}**")
            chosen = [
                g
                for g in group_names
                if st.checkbox(g, value=g in groups_of(target), key=f"users_g_{target.id}_{g}")
            ]
            admin_flag = st.checkbox(
                "Administrator", value=target.is_admin, key=f"users_admin_{target.id}"
            )
            save, toggle, delete = st.columns(3)

            def save_user() -> None:
                set_user_groups(target, chosen, actor=actor)
                update_user(target, is_admin=admin_flag, actor=actor)

            if save.button("Save", type="primary", key=f"users_save_{target.id}") and _act(
                me, f"Saved {target.username}", permissions.SYSTEM_USERS, save_user
            ):
                st.rerun()
            label = "Deactivate" if target.active else "Activate"
            if toggle.button(label, key=f"users_toggle_{target.id}") and _act(
                me,
                f"{label}d {target.username}",
                permissions.SYSTEM_USERS,
                lambda: (deactivate if target.active else activate)(target, actor=actor),
            ):
                st.rerun()
            with delete.popover("Delete", icon=":material/delete:"):
                st.caption(f"Type **{md_escape(target.username)}** to delete this user.")
                typed = st.text_input("User name", key=f"users_del_confirm_{target.id}")
                if st.button(
                    "Delete user",
                    key=f"users_del_{target.id}",
                    disabled=typed != target.username,
                ) and _act(
                    me,
                    f"Deleted {target.username}",
                    permissions.SYSTEM_USERS,
                    lambda: delete_user(target, actor=actor),
                ):
                    st.session_state.pop("users_pick", None)
                    st.rerun()
            with st.expander("Reset password"):
                new_pw = st.text_input(
                    "New password",
                    type="password",
                    key=f"users_pw_{target.id}",
                    help=PASSWORD_RULE,
                )
                must = st.checkbox(
                    "Must change it at next sign-in", value=True, key=f"users_pw_must_{target.id}"
                )
                if st.button("Reset password", key=f"users_pw_go_{target.id}") and _act(
                    me,
                    f"Password reset for {target.username}",
                    permissions.SYSTEM_USERS,
                    lambda: set_password(target, new_pw, must_change=must, actor=actor),
                ):
                    st.rerun()


def _groups(me: Any, actor: Any) -> None:
    """Groups and their permissions."""
    if not auth.allowed(me, permissions.SYSTEM_GROUPS):
        st.error("**Permission denied** — managing groups needs the system.groups permission.")
    else:
        for group, perms, members in list_groups():
            with st.expander(f":material/groups: {md_escape(group.name)} · {members} members"):
                granted = []
                for category, names in permissions.CATEGORIES.items():
                    st.markdown(f"**{category}**")
                    cols = st.columns(len(names))
                    for col, p in zip(cols, names, strict=True):
                        if col.checkbox(
                            p.split(".", 1)[1], value=p in perms, key=f"grp_{group.id}_{p}"
                        ):
                            granted.append(p)
                if st.button("Save permissions", key=f"grp_save_{group.id}") and _act(
                    me,
                    f"Saved {group.name}",
                    permissions.SYSTEM_GROUPS,
                    lambda g=group.name, chosen=tuple(granted): set_group_permissions(
                        g, chosen, actor=actor
                    ),
                ):
                    st.rerun()
                if st.button("Delete group", key=f"grp_del_{group.id}") and _act(
                    me,
                    f"Deleted {group.name}",
                    permissions.SYSTEM_GROUPS,
                    lambda g=group.name: delete_group(g, actor=actor),
                ):
                    st.rerun()
        with st.form("groups_add"):
            new_group = st.text_input("New group", key="groups_new_name")
            if st.form_submit_button("Add group") and _act(
                me,
                f"Added {new_group}",
                permissions.SYSTEM_GROUPS,
                lambda: create_group(new_group, actor=actor),
            ):
                st.rerun()


def _audit() -> None:
    """The last 200 audit entries."""
    st.dataframe(
        [
            {"when": e.ts, "who": e.actor, "what": e.action, "target": e.target, "detail": e.detail}
            for e in audit_log(200)
        ],
        hide_index=True,
        width="stretch",
    )
