"""The Studio's catalog of each connection, cached per browser session: schema browser,
autocomplete, attached DuckDB databases."""

from __future__ import annotations

from typing import Any

import streamlit as st

from tusk.catalog import Catalog
from tusk.engines.abilities import engine_abilities
from tusk.engines.base import attaching
from tusk.engines.spec import ConnectionSpec
from tusk.errors import ConnectionFailed, TuskError
from tusk.ui.session import connection, forget, forget_if_lost
from tusk.ui.studio import tabs as qtabs
from tusk.ui.studio.tabs import is_busy

_CATALOGS = "studio_catalogs"
_ATTACHED = "studio_attached"  # DuckDB connection name → its attached databases, last read


def default_schema(engine: str) -> str:
    """The schema names are resolved in when not qualified."""
    return engine_abilities(engine).default_schema or "main"


def read_catalog(spec: ConnectionSpec) -> Catalog | TuskError | None:
    """The connection's catalog, cached per session; the error when it cannot be read (the
    caller shows it, once); None while a query runs on the connection (never waits on it)."""
    cache: dict[str, Catalog] = st.session_state.setdefault(_CATALOGS, {})
    if spec.name in cache:
        return cache[spec.name]
    if connection_busy(spec.name):
        return None  # the catalog loads after the run
    try:
        catalog = connection(spec.name).catalog()
    except TuskError as exc:
        if isinstance(exc, ConnectionFailed):
            forget(spec.name)
        forget_if_lost(spec.name, exc)
        return exc
    cache[spec.name] = catalog
    return catalog


def forget_catalog(name: str) -> None:
    """Drop a cached catalog (and attached databases) so the next draw reads them again
    (F5 / Refresh / after DDL, ATTACH or DETACH)."""
    st.session_state.setdefault(_CATALOGS, {}).pop(name, None)
    st.session_state.setdefault(_ATTACHED, {}).pop(name, None)


def connection_busy(name: str) -> bool:
    """True while one of this session's tabs runs a query on `name`: its connection answers
    one call at a time, so a page read would wait for the query to end."""
    return any(is_busy(t) and t.run.spec.name == name for t in qtabs.tabs())


def attached_databases(name: str) -> list[str] | None:
    """A DuckDB connection's attached databases, read once and kept until forget_catalog;
    None while a query runs on it and they were not read yet (never waits for the query)."""
    cache: dict[str, list[str]] = st.session_state.setdefault(_ATTACHED, {})
    if name not in cache:
        if connection_busy(name):
            return None
        conn = connection(name)
        cache[name] = conn.attached() if attaching(conn) else []
    return cache[name]


def completions_for(catalog: Catalog | None, sql: str, engine: str) -> dict[str, Any]:
    """Editor completion data (tusk.completion.editor_data): keywords, schemas, tables, the
    columns of the tables in the SQL, and every table's columns for the browser's `alias.`."""
    from tusk import completion

    try:
        return completion.editor_data(catalog or Catalog(), sql, engine)
    except Exception:  # noqa: BLE001 - autocomplete must never break the page
        keywords = [
            {"caption": k, "value": k, "meta": "keyword", "score": 1}
            for k in completion.keywords(engine)
        ]
        return {"entries": keywords, "tables": [], "lookup": {}}
