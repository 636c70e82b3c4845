"""The Admin page's frame: PostgreSQL connection picker, the admin connection kept for the
browser session, and the sections as lazy tabs (only the open tab runs its queries)."""

from __future__ import annotations

import contextlib
from types import ModuleType
from typing import TYPE_CHECKING, NamedTuple

import streamlit as st

from tusk import auth, connections
from tusk.engines.abilities import engine_abilities
from tusk.errors import TuskError
from tusk.ui.admin import (
    activity,
    backup,
    dashboard,
    extensions,
    locks,
    maintenance,
    roles,
    settings,
)
from tusk.ui.shell import current_user, header, md_escape, setup_page, show_error, sidebar_footer

if TYPE_CHECKING:
    from tusk.admin import AdminConnection
    from tusk.engines.spec import ConnectionSpec

PICK_KEY = "admin_connection"
TAB_KEY = "admin_tab"
_OPEN_KEY = "tusk_admin_connections"


class Section(NamedTuple):
    """One tab: its label, the module whose render(conn, user) draws it, and the permission
    it needs."""

    label: str
    module: ModuleType
    permission: str


SECTIONS: tuple[Section, ...] = (
    Section(":material/monitoring: Dashboard", dashboard, "admin.view"),
    Section(":material/bolt: Activity", activity, "admin.view"),
    Section(":material/lock: Locks", locks, "admin.view"),
    Section(":material/backup: Backups", backup, "admin.backup"),
    Section(":material/cleaning_services: Maintenance", maintenance, "admin.maintenance"),
    Section(":material/extension: Extensions", extensions, "admin.extensions"),
    Section(":material/badge: Roles", roles, "admin.view"),
    Section(":material/tune: Settings", settings, "admin.view"),
)


def render() -> None:
    """The whole Admin page: connection picker, header, and the open tab."""
    info = setup_page("Admin")
    spec = pick_connection()
    sidebar_footer()
    header(info, None if spec is None else f":material/dns: **{md_escape(spec.name)}**")
    if spec is None:
        no_connection()
        st.stop()
    conn = open_connection(spec)
    if conn is None:
        st.stop()
    sections(conn)


def pick_connection() -> ConnectionSpec | None:
    """The sidebar's PostgreSQL connection picker; None when there is none saved."""
    try:
        specs = [
            s for s in connections.list_connections() if engine_abilities(s.engine).administrable
        ]
    except TuskError as exc:  # a damaged connections.toml: name it, no traceback
        show_error(exc)
        return None
    if not specs:
        return None
    names = [s.name for s in specs]
    with st.sidebar:
        name = st.selectbox(
            "PostgreSQL connection",
            names,
            key=PICK_KEY,
            index=names.index(st.session_state[PICK_KEY])
            if st.session_state.get(PICK_KEY) in names
            else 0,
        )
    return connections.get(str(name))


def no_connection() -> None:
    """The empty state: what is missing and where to add it."""
    st.info(
        "No PostgreSQL connection yet — add one in the Studio (Connections → Add), then come "
        "back here to watch and administer the server.",
        icon=":material/info:",
    )
    st.page_link("pages/1_Studio.py", label="Open the Studio", icon=":material/terminal:")


def open_connection(spec: ConnectionSpec) -> AdminConnection | None:
    """This browser session's admin connection to `spec`, reopened when it broke; None (with
    the error shown) when the server cannot be reached."""
    from tusk import admin

    opened: dict[str, AdminConnection] = st.session_state.setdefault(_OPEN_KEY, {})
    conn = opened.get(spec.name)
    if conn is not None and (conn.closed or conn.spec != spec):
        forget(spec.name)
        conn = None
    if conn is None:
        try:
            conn = admin.connect(spec)
        except TuskError as exc:
            show_error(exc)
            if st.button("Try again", icon=":material/refresh:", key="admin_retry"):
                st.rerun()
            return None
        opened[spec.name] = conn
    return conn


def forget(name: str) -> None:
    """Close and drop the admin connection to `name`."""
    opened: dict[str, AdminConnection] = st.session_state.setdefault(_OPEN_KEY, {})
    conn = opened.pop(name, None)
    if conn is not None:
        with contextlib.suppress(Exception):
            conn.close()


def sections(conn: AdminConnection) -> None:
    """The tabs; only the open one draws (and queries the server)."""
    user = current_user()
    tabs = st.tabs([s.label for s in SECTIONS], key=TAB_KEY, on_change="rerun")
    for tab, section in zip(tabs, SECTIONS, strict=True):
        if not tab.open:
            continue
        with tab:
            if not auth.allowed(user, section.permission):
                st.info(
                    f"This section needs the {section.permission} permission; ask an "
                    "administrator.",
                    icon=":material/block:",
                )
                continue
            try:
                section.module.render(conn, user)
            except TuskError as exc:
                show_error(exc)
                if conn.closed:
                    forget(conn.spec.name)
                    st.caption(f"The connection to {md_escape(conn.spec.name)} was lost.")
