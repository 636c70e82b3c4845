"""Which connection each query tab runs on: the sidebar picker, a deleted, renamed or forbidden
connection, and a saved connection that changed."""

from __future__ import annotations

import streamlit as st

from tusk import connections
from tusk.engines.spec import ConnectionSpec
from tusk.ui.session import forget
from tusk.ui.shell import md_escape
from tusk.ui.studio import tabs as qtabs
from tusk.ui.studio.catalog import connection_busy, forget_catalog
from tusk.ui.studio.explain import forget_plans

_PICKS = "studio_conn_pending"  # tab id → connection chosen outside the picker
_SPECS = "studio_conn_specs"  # connection name → the saved spec this session last used


def apply_pending() -> None:
    """Apply a tab switch asked for in the previous run."""
    qtabs.apply_pending()


def set_tab_connection(tab_id: str) -> None:
    """Callback of the connection picker: the tab now runs on the chosen connection."""
    name = st.session_state.get(f"studio_conn_{tab_id}")
    if name:
        set_connection_of(tab_id, name)


def after_dialog(tab_id: str, name: str) -> None:
    """Callback of the connection dialog: a saved (added or edited) connection becomes the
    tab's. After a delete the form names the demo, which can be neither added nor edited:
    the tab then keeps its deleted connection and asks for another rather than moving to
    one the user did not choose."""
    if name == connections.DEMO_NAME:
        return
    set_connection_of(tab_id, name)


def set_connection_of(tab_id: str, name: str) -> None:
    """Point a tab at a connection (after picking, adding or editing one)."""
    for tab in qtabs.tabs():
        if tab.id == tab_id:
            if tab.connection != name:
                # Results (and their Export, which runs the statement again) belong to the
                # connection they came from, never to the one picked now.
                tab.outcomes = []
                forget_plans(tab.id)
            tab.connection = name
    # A drawn widget's value cannot be set in the same run: the page applies this before it
    # draws the picker next time (popping the key would not do: the browser keeps the old one).
    st.session_state.setdefault(_PICKS, {})[tab_id] = name
    forget(name)  # an edited connection must be reopened with its new fields


def picker_value(tab_id: str, current: str, names: list[str]) -> str | None:
    """Before drawing a tab's connection picker: apply a pending choice. None (the picker
    shows "Choose a connection") when the tab's connection is gone: never another one."""
    key = f"studio_conn_{tab_id}"
    pending = st.session_state.setdefault(_PICKS, {}).pop(tab_id, None)
    value = pending or current
    if value not in names:
        value = None
    st.session_state[key] = value
    return value


def missing_connection(tab: qtabs.QueryTab, names: list[str]) -> str | None:
    """Why the tab cannot run, when its connection no longer exists (deleted or renamed by
    anyone, or named by a link or draft); None when it exists. The tab keeps its SQL and the
    name: nothing runs until the user picks a connection."""
    if tab.connection in names:
        return None
    if tab.connection:
        # This session may still hold the deleted connection open: close it, never use it.
        forget(tab.connection)
        forget_catalog(tab.connection)
        st.session_state.setdefault(_SPECS, {}).pop(tab.connection, None)
        return (
            f"The connection **{md_escape(tab.connection)}** was deleted or renamed; choose a "
            "connection for this tab in the sidebar. Its SQL is kept and runs nowhere until "
            "you do."
        )
    return "This tab has no connection: choose one in the sidebar before running its SQL."


def unusable_connection(tab: qtabs.QueryTab, usable: list[str]) -> str | None:
    """Why the tab cannot run on an existing connection the signed-in user may not use
    (connections.use; the library refuses it too); None when they may."""
    if tab.connection in usable:
        return None
    return (
        f"Running SQL on **{md_escape(tab.connection)}** needs the connections.use permission; "
        "ask an administrator, or choose the demo for this tab in the sidebar. Its SQL is kept."
    )


def follow_saved(spec: ConnectionSpec) -> None:
    """Close this session's connection to `spec.name` when the saved connection changed
    since it was opened (edited by anyone, or deleted and saved again under the same name):
    the next use opens what is saved now, never a deleted connection's target."""
    seen: dict[str, ConnectionSpec] = st.session_state.setdefault(_SPECS, {})
    if spec.name in seen and seen[spec.name] != spec:
        if connection_busy(spec.name):
            return  # never close a connection under a running query: the next page run will
        forget(spec.name)
        forget_catalog(spec.name)
    seen[spec.name] = spec
