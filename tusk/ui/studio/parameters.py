"""The inputs of a query's `:name` parameters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from tusk import params, sqltext
from tusk.ui.studio import tabs as qtabs


def input_key(tab_id: str, name: str) -> str:
    """The widget key of a tab's input for parameter `name`."""
    return f"param_{tab_id}_{name}"


def put_values(tab: qtabs.QueryTab, values: Mapping[str, Any] | None) -> None:
    """Fill a tab's parameter inputs with `values` (as history kept them), from a callback."""
    for name, value in (values or {}).items():
        tab.params[name] = st.session_state[input_key(tab.id, name)] = params.text_of(value)


def parameter_inputs(tab: qtabs.QueryTab, sql: str, engine: str | None = None) -> list[str]:
    """Inputs for the `:name` parameters of the SQL (read in `engine`'s dialect); returns the
    names still without a value."""
    try:
        names = params.find(sql, dialect=engine or sqltext.DEFAULT_DIALECT)
    except Exception:  # noqa: BLE001 - a half-typed query must not break the page
        return []
    if not names:
        return []
    with st.container(border=True):
        st.caption(
            "Parameters — bound as real parameters, never pasted into the SQL. "
            "Numbers, true/false and NULL are typed; quote a value ('42') to keep it text."
        )
        cols = st.columns(min(len(names), 4))
        for i, name in enumerate(names):
            key = input_key(tab.id, name)
            if key not in st.session_state:
                st.session_state[key] = tab.params.get(name, "")
            tab.params[name] = cols[i % len(cols)].text_input(f":{name}", key=key)
    return [n for n in names if tab.params.get(n, "") == ""]
