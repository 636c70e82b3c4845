"""Per-browser-session state: open connections, keyed by connection name."""

from __future__ import annotations

import contextlib
from typing import Any

import streamlit as st

from tusk import connections
from tusk.engines.base import Connection
from tusk.engines.registry import connect

_KEY = "tusk_open_connections"


def _open() -> dict[str, Any]:
    if _KEY not in st.session_state:
        st.session_state[_KEY] = {}
    return st.session_state[_KEY]


def connection(name: str) -> Connection:
    """This session's open connection to `name`, opened on first use (ConnectionFailed)."""
    opened = _open()
    if name not in opened:
        spec = connections.ensure_demo() if name == connections.DEMO_NAME else connections.get(name)
        opened[name] = connect(spec)
    return opened[name]


def forget(name: str) -> None:
    """Close and drop a session's connection (after edits, or when it broke)."""
    conn = _open().pop(name, None)
    if conn is not None:
        # Closing a broken connection may fail; there is nothing more to do then.
        with contextlib.suppress(Exception):
            conn.close()
