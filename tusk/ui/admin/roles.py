"""Admin → Roles: the server's roles with their attributes and memberships; create, change,
grant, revoke and drop (changes need admin.maintenance, see tusk.admin.roles)."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from tusk import auth
from tusk.admin import roles
from tusk.errors import BadInput, TuskError
from tusk.ui import humanize
from tusk.ui.confirm import confirm_dialog
from tusk.ui.shell import show_error

if TYPE_CHECKING:
    from tusk.admin import AdminConnection
    from tusk.auth.schema import User

P = "admin_roles_"
FEEDBACK = P + "feedback"
DROP_PENDING = P + "drop_pending"
ALTER_LOADED = P + "alter_loaded"
FLAGS: dict[str, str] = {
    "login": "Can log in",
    "superuser": "Superuser",
    "createdb": "Create databases",
    "createrole": "Create roles",
    "replication": "Replication",
    "bypassrls": "Bypass row security",
}
_CREATE_DEFAULTS: dict[str, Any] = {
    P + "create_name": "",
    P + "create_password": "",
    P + "create_login": True,
    P + "create_superuser": False,
    P + "create_createdb": False,
    P + "create_createrole": False,
    P + "create_replication": False,
    P + "create_bypassrls": False,
    P + "create_limit": -1,
    P + "create_expires": False,
    P + "create_member_of": [],
}


def render(conn: AdminConnection, user: User | None) -> None:
    """The Roles tab."""
    _feedback()
    everyone = roles.list_roles(conn)
    show_system = st.toggle(
        "Show predefined roles (pg_*)",
        key=P + "show_system",
        persist_state="page",
        help="PostgreSQL's built-in roles, such as pg_monitor or pg_read_all_data.",
    )
    shown = [r for r in everyone if show_system or not r.system]
    st.dataframe(
        table(shown, humanize.browser_zone()),
        hide_index=True,
        column_config=_COLUMNS,
        width="stretch",
    )
    st.caption(humanize.count(len(shown), "role"))
    if not auth.allowed(user, roles.PERMISSION):
        st.caption(
            f":material/lock: Changing roles needs the {roles.PERMISSION} permission; "
            "ask an administrator."
        )
        return
    ours = roles.names(everyone)
    with st.expander("Create role", icon=":material/person_add:", expanded=not ours):
        _create_form(conn, user, everyone)
    if not ours:
        return
    with st.expander("Change role", icon=":material/edit:"):
        _alter_form(conn, user, everyone)
    with st.expander("Membership", icon=":material/group_add:"):
        _membership(conn, user, everyone)
    with st.expander("Drop role", icon=":material/delete:"):
        _drop_picker(ours)
    pending = st.session_state.get(DROP_PENDING)
    if pending is not None:
        _drop_dialog(conn, user, pending)


_COLUMNS: dict[str, Any] = {
    "Role": st.column_config.TextColumn("Role", pinned=True),
    "Login": st.column_config.CheckboxColumn("Login", help="Can log in"),
    "Superuser": st.column_config.CheckboxColumn("Superuser"),
    "Create DB": st.column_config.CheckboxColumn("Create DB", help="May create databases"),
    "Create role": st.column_config.CheckboxColumn("Create role", help="May create roles"),
    "Replication": st.column_config.CheckboxColumn("Replication"),
    "Bypass RLS": st.column_config.CheckboxColumn("Bypass RLS", help="Bypasses row security"),
    "Connection limit": st.column_config.TextColumn("Connection limit"),
    "Valid until": st.column_config.TextColumn("Valid until", help="When its password expires"),
    "Member of": st.column_config.ListColumn("Member of"),
    "Members": st.column_config.ListColumn("Members"),
}


def table(items: list[roles.Role], zone: dt.tzinfo) -> pd.DataFrame:
    """The roles as the table shows them."""
    return pd.DataFrame(
        {
            "Role": [r.name for r in items],
            "Login": [r.login for r in items],
            "Superuser": [r.superuser for r in items],
            "Create DB": [r.createdb for r in items],
            "Create role": [r.createrole for r in items],
            "Replication": [r.replication for r in items],
            "Bypass RLS": [r.bypassrls for r in items],
            "Connection limit": [
                "no limit" if r.connection_limit < 0 else f"{r.connection_limit:,}" for r in items
            ],
            "Valid until": [_valid_until(r, zone) for r in items],
            "Member of": [list(r.member_of) for r in items],
            "Members": [list(r.members) for r in items],
        },
        columns=list(_COLUMNS),
    )


def _valid_until(role: roles.Role, zone: dt.tzinfo) -> str:
    if role.valid_until is None:
        return "expired" if role.expired else "never"
    text = role.valid_until.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
    return f"{text} (expired)" if role.expired else text


def _feedback() -> None:
    """What the last action did: a toast for success, an error box for a failure."""
    outcome = st.session_state.pop(FEEDBACK, None)
    if outcome is None:
        return
    if isinstance(outcome, TuskError):
        show_error(outcome)
    else:
        st.toast(str(outcome), icon=":material/check_circle:")


def literal(name: str) -> str:
    """A name as a markdown code span: shown literally, even with ` or -- in it (escaped
    markdown still turns -- into a dash)."""
    longest = max((len(run) for run in re.findall(r"`+", name)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {name} {fence}"


def _done(message: str) -> None:
    st.session_state[FEEDBACK] = message


def _failed(exc: TuskError) -> None:
    st.session_state[FEEDBACK] = exc


def _until(prefix: str) -> dt.datetime | None:
    """The expiry chosen in a form (date and time in the browser's zone), or None for never."""
    if not st.session_state.get(prefix + "expires"):
        return None
    day = st.session_state.get(prefix + "until_date") or dt.date.today()
    at = st.session_state.get(prefix + "until_time") or dt.time(0, 0)
    return dt.datetime.combine(day, at, tzinfo=humanize.browser_zone())


def _expiry_inputs(prefix: str) -> None:
    st.checkbox("Password expires", key=prefix + "expires", persist_state="page")
    left, right = st.columns(2)
    left.date_input("Expires on", key=prefix + "until_date", persist_state="page")
    right.time_input(
        "at", key=prefix + "until_time", step=dt.timedelta(minutes=15), persist_state="page"
    )


def _flag_inputs(prefix: str) -> None:
    cols = st.columns(3)
    for i, (flag, label) in enumerate(FLAGS.items()):
        cols[i % 3].checkbox(label, key=prefix + flag, persist_state="page")


# Create ---------------------------------------------------------------------------------


def _create_form(conn: AdminConnection, user: User | None, everyone: list[roles.Role]) -> None:
    for key, value in _CREATE_DEFAULTS.items():
        st.session_state.setdefault(key, value)
    st.session_state.setdefault(P + "create_until_date", dt.date.today() + dt.timedelta(days=365))
    st.session_state.setdefault(P + "create_until_time", dt.time(0, 0))
    options = [r.name for r in everyone]
    # A group dropped since the last run cannot stay selected (the multiselect would refuse it).
    st.session_state[P + "create_member_of"] = [
        g for g in st.session_state[P + "create_member_of"] if g in options
    ]
    with st.form(P + "create_form", border=False):
        left, right = st.columns(2)
        left.text_input(
            "Name", key=P + "create_name", persist_state="page", max_chars=roles.NAME_MAX_BYTES
        )
        right.text_input(
            "Password",
            key=P + "create_password",
            type="password",
            help="Leave empty for a role without password. Only its SCRAM verifier is sent.",
        )
        _flag_inputs(P + "create_")
        st.number_input(
            "Connection limit",
            key=P + "create_limit",
            persist_state="page",
            min_value=-1,
            step=1,
            help="-1: no limit",
        )
        _expiry_inputs(P + "create_")
        st.multiselect("Member of", options, key=P + "create_member_of", persist_state="page")
        st.form_submit_button(
            "Create role",
            key=P + "create_submit",
            icon=":material/person_add:",
            type="primary",
            on_click=_create,
            args=(conn, user),
        )


def _create(conn: AdminConnection, user: User | None) -> None:
    s = st.session_state
    name = s[P + "create_name"]
    try:
        roles.create_role(
            conn,
            user,
            name,
            **{flag: bool(s[P + "create_" + flag]) for flag in FLAGS},
            connection_limit=int(s[P + "create_limit"]),
            valid_until=_until(P + "create_"),
            password=s[P + "create_password"] or None,
            member_of=list(s[P + "create_member_of"]),
        )
    except TuskError as exc:
        s[P + "create_password"] = ""  # never kept around after use
        _failed(exc)
        return
    for key, value in _CREATE_DEFAULTS.items():
        s[key] = value
    _done(f"Role {literal(name)} created.")


# Alter ----------------------------------------------------------------------------------


def _alter_form(conn: AdminConnection, user: User | None, everyone: list[roles.Role]) -> None:
    ours = [r for r in everyone if not r.system]
    by_name = {r.name: r for r in ours}
    name = st.selectbox("Role", list(by_name), key=P + "alter_role", persist_state="page")
    role = by_name.get(str(name))
    if role is None:
        return
    # Reload on another role, and when Streamlit dropped the form's state (it forgets widget
    # values while their tab is not drawn).
    if st.session_state.get(ALTER_LOADED) != role.name or P + "alter_limit" not in st.session_state:
        _load(role)
    with st.form(P + "alter_form", border=False):
        _flag_inputs(P + "alter_")
        st.number_input(
            "Connection limit", key=P + "alter_limit", min_value=-1, step=1, help="-1: no limit"
        )
        _expiry_inputs(P + "alter_")
        left, right = st.columns(2)
        left.text_input(
            "New password",
            key=P + "alter_password",
            type="password",
            help="Leave empty to keep the current password.",
        )
        right.checkbox("Remove the password", key=P + "alter_no_password")
        st.form_submit_button(
            "Save changes",
            key=P + "alter_submit",
            icon=":material/save:",
            type="primary",
            on_click=_alter,
            args=(conn, user, role.name),
        )


def _load(role: roles.Role) -> None:
    """Fill the change form with the role's current attributes."""
    s = st.session_state
    for flag in FLAGS:
        s[P + "alter_" + flag] = getattr(role, flag)
    s[P + "alter_limit"] = role.connection_limit
    s[P + "alter_expires"] = role.valid_until is not None
    until = (role.valid_until or dt.datetime.now(dt.UTC) + dt.timedelta(days=365)).astimezone(
        humanize.browser_zone()
    )
    s[P + "alter_until_date"] = until.date()
    s[P + "alter_until_time"] = until.time().replace(second=0, microsecond=0, tzinfo=None)
    s[P + "alter_password"] = ""
    s[P + "alter_no_password"] = False
    s[ALTER_LOADED] = role.name


def _same_minute(a: dt.datetime | None, b: dt.datetime | None) -> bool:
    """True when both are "never", or the same time to the minute (the form's precision)."""
    if a is None or b is None:
        return a is b
    return a.replace(second=0, microsecond=0) == b.replace(second=0, microsecond=0)


def _alter(conn: AdminConnection, user: User | None, name: str) -> None:
    s = st.session_state
    password = s[P + "alter_password"]
    s[P + "alter_password"] = ""  # never kept around after use
    try:
        current = roles.get_role(conn, name)
        if current is None:
            raise BadInput(f"Role {name!r} no longer exists.", "Role not found")
        changes: dict[str, Any] = {
            flag: bool(s[P + "alter_" + flag])
            for flag in FLAGS
            if bool(s[P + "alter_" + flag]) != getattr(current, flag)
        }
        limit = int(s[P + "alter_limit"])
        if limit != current.connection_limit:
            changes["connection_limit"] = limit
        until = _until(P + "alter_")
        if not _same_minute(until, current.valid_until):
            changes["valid_until"] = until
        if s[P + "alter_no_password"]:
            changes["password"] = None
        elif password:
            changes["password"] = password
        roles.alter_role(conn, user, name, **changes)
    except TuskError as exc:
        _failed(exc)
        return
    s.pop(ALTER_LOADED, None)  # reload the form from the server
    _done(f"Role {literal(name)} changed.")


# Membership -----------------------------------------------------------------------------


def _membership(conn: AdminConnection, user: User | None, everyone: list[roles.Role]) -> None:
    left, right = st.columns(2)
    left.selectbox(
        "Role",
        [r.name for r in everyone],
        key=P + "member_role",
        persist_state="page",
        help="The role whose privileges are granted (predefined pg_* roles included).",
    )
    right.selectbox("Member", roles.names(everyone), key=P + "member_member", persist_state="page")
    st.checkbox(
        "With admin option",
        key=P + "member_admin",
        help="The member may grant this role to others.",
    )
    grant, revoke = st.columns(2)
    grant.button(
        "Grant",
        key=P + "grant",
        icon=":material/group_add:",
        on_click=_grant,
        args=(conn, user),
        width="stretch",
    )
    revoke.button(
        "Revoke",
        key=P + "revoke",
        icon=":material/group_remove:",
        on_click=_revoke,
        args=(conn, user),
        width="stretch",
    )


def _grant(conn: AdminConnection, user: User | None) -> None:
    s = st.session_state
    role, member = s.get(P + "member_role"), s.get(P + "member_member")
    try:
        roles.grant_membership(
            conn, user, str(role or ""), str(member or ""), admin_option=bool(s[P + "member_admin"])
        )
    except TuskError as exc:
        _failed(exc)
        return
    _done(f"{literal(str(member))} is now a member of {literal(str(role))}.")


def _revoke(conn: AdminConnection, user: User | None) -> None:
    s = st.session_state
    role, member = s.get(P + "member_role"), s.get(P + "member_member")
    try:
        roles.revoke_membership(conn, user, str(role or ""), str(member or ""))
    except TuskError as exc:
        _failed(exc)
        return
    _done(f"{literal(str(member))} is no longer a member of {literal(str(role))}.")


# Drop -----------------------------------------------------------------------------------


def _drop_picker(names: list[str]) -> None:
    st.selectbox("Role", names, key=P + "drop_role", persist_state="page")
    st.button(
        "Drop role…",
        key=P + "drop",
        icon=":material/delete:",
        on_click=_ask_drop,
    )


def _ask_drop() -> None:
    st.session_state[DROP_PENDING] = st.session_state.get(P + "drop_role")
    st.session_state[P + "drop_confirm"] = ""


def _cancel_drop() -> None:
    st.session_state.pop(DROP_PENDING, None)


# Opened from a session-state flag, not from the button's run: a dialog opened by a click
# closes on the next widget interaction (typing the name is one).
def _drop_dialog(conn: AdminConnection, user: User | None, name: str) -> None:
    def content() -> bool:
        st.markdown(
            "Drop this role? Its memberships go with it. The server refuses while it owns "
            "objects or holds privileges in this database."
        )
        # st.code shows the name exactly as it must be typed (markdown would turn -- into a dash).
        st.code(name, language=None, wrap_lines=True)
        return st.text_input("Type the role name to confirm", key=P + "drop_confirm") == name

    confirm_dialog(
        "Drop role",
        content,
        action="Drop role",
        icon=":material/delete:",
        on_confirm=lambda: _drop(conn, user, name),  # keeps its outcome for _feedback
        close=_cancel_drop,
        keys=(P + "drop_confirm_button", P + "drop_cancel"),
        cancel="Cancel",
        stretch=True,
    )


def _drop(conn: AdminConnection, user: User | None, name: str) -> None:
    s = st.session_state
    s.pop(DROP_PENDING, None)
    if s.get(P + "drop_confirm") != name:
        return  # the button is disabled then; a stale click changes nothing
    try:
        roles.drop_role(conn, user, name)
    except TuskError as exc:
        _failed(exc)
        return
    if s.get(ALTER_LOADED) == name:
        s.pop(ALTER_LOADED, None)
    _done(f"Role {literal(name)} dropped.")
