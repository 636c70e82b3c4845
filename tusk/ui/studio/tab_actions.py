"""Callbacks that change the query tabs: a new tab, a rename, SQL (and parameter values) put into a
tab."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from tusk import connections
from tusk.ui.studio import parameters
from tusk.ui.studio import tabs as qtabs


def new_tab_like(tab_id: str) -> None:
    """A new empty tab on the same connection as `tab_id`."""
    current = next((t for t in qtabs.tabs() if t.id == tab_id), None)
    qtabs.new_tab(current.connection if current else connections.DEMO_NAME)


def rename_from_widget(tab_id: str) -> None:
    """Callback of the rename popover."""
    qtabs.rename_tab(tab_id, str(st.session_state.get(f"studio_rename_{tab_id}", "")))


def insert_into_tab(sql: str, values: Mapping[str, Any] | None = None) -> None:
    """Put SQL into the active tab's editor (schema browser, history, saved queries), and the
    values of its `:name` parameters into their inputs (history)."""
    tab = qtabs.active()
    qtabs.set_sql(tab, sql)
    parameters.put_values(tab, values)


def open_in_new_tab(
    sql: str,
    connection_name: str,
    title: str | None = None,
    values: Mapping[str, Any] | None = None,
) -> None:
    """Open SQL in a new tab (with the values of its `:name` parameters, from history)."""
    tab = qtabs.new_tab(connection_name, sql, title)
    tab.editor_version += 1
    parameters.put_values(tab, values)
