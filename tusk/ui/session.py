"""Per-browser-session state: open connections, keyed by connection name.

A connection is opened for the signed-in user (tusk.connections.open_for): checked against
their permissions, confined to the data roots on a shared Tusk, and run in an engine worker
process for in-process engines. PostgreSQL attachments of a DuckDB session (single-user mode)
are remembered here, so a session opened again (after a lost connection or an engine restart)
attaches them again.
"""

from __future__ import annotations

import contextlib
from typing import Any

import streamlit as st

from tusk import connections
from tusk.engines.base import Connection, attaching
from tusk.errors import BadInput, ConnectionLost, TuskError
from tusk.ui.shell import md_escape

_KEY = "tusk_open_connections"
_ATTACHED = "tusk_pg_attachments"  # connection name -> [(PostgreSQL connection name, alias)]


def _open() -> dict[str, Any]:
    if _KEY not in st.session_state:
        st.session_state[_KEY] = {}
    return st.session_state[_KEY]


def _attachments(name: str) -> list[tuple[str, str]]:
    return st.session_state.setdefault(_ATTACHED, {}).setdefault(name, [])


def _user() -> Any:
    from tusk.ui.shell import current_user

    return current_user()


def _open_for_user(name: str, user: Any) -> Connection:
    """Open `name` for `user` with this session's remembered PostgreSQL attachments."""
    spec = connections.ensure_demo() if name == connections.DEMO_NAME else connections.get(name)
    attach = [(connections.get(pg), alias) for pg, alias in _attachments(name)]
    return connections.open_for(spec, user, attach=attach)


def connection(name: str) -> Connection:
    """This session's open connection to `name`, opened on first use for the signed-in user
    (ConnectionFailed); reopened when another user signed in in this browser session."""
    opened = _open()
    user = _user()
    owner = user.id if user is not None else None
    if name in opened and opened[name][0] != owner:
        forget(name)
    if name not in opened:
        try:
            conn = _open_for_user(name, user)
        except TuskError as exc:
            wanted = _attachments(name)
            if not wanted:
                raise
            # An attached server is gone (or its connection was deleted): open without it.
            wanted.clear()
            conn = _open_for_user(name, user)
            st.toast(
                f"Opened without the attached databases: {md_escape(exc.message)}",
                icon=":material/warning:",
            )
        opened[name] = (owner, conn)
    return opened[name][1]


def attach_postgres(name: str, pg_name: str, alias: str) -> None:
    """Attach the saved PostgreSQL connection `pg_name` to this session's DuckDB connection
    `name` as `alias`, remembered so a reopened session attaches it again. A confined
    session (a shared Tusk) cannot: BadInput says so (tusk.connections.open_for)."""
    conn = connection(name)
    if conn.confined:
        raise BadInput(
            "On a shared Tusk, DuckDB sessions are confined to the data roots and cannot "
            "attach PostgreSQL.",
            "Attach unavailable",
        )
    if not attaching(conn):
        raise BadInput(f"{name} cannot attach databases.", "Attach unavailable")
    conn.attach_postgres(connections.get(pg_name), alias)
    _attachments(name).append((pg_name, alias))


def detached(name: str, alias: str) -> None:
    """Forget an attachment after DETACH, so a reopened session does not attach it again."""
    wanted = _attachments(name)
    wanted[:] = [(pg, a) for pg, a in wanted if a != alias]


def forget(name: str) -> None:
    """Close and drop a session's connection (after edits, or when it broke)."""
    entry = _open().pop(name, None)
    if entry is not None:
        # Closing a broken connection may fail; there is nothing more to do then.
        with contextlib.suppress(Exception):
            entry[1].close()


def forget_if_lost(name: str, exc: BaseException) -> None:
    """After a failed call on `name`: drop its connection if `exc` says it was lost, so the
    next use reconnects (the failed statement is never run again)."""
    if isinstance(exc, ConnectionLost):
        forget(name)
