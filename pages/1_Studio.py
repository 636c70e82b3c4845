"""Tusk · Studio: run SQL against any saved connection."""

from __future__ import annotations

import streamlit as st

from tusk import connections, queries
from tusk.config import load as load_settings
from tusk.engines.registry import LABELS
from tusk.errors import TuskError
from tusk.store import history
from tusk.ui import humanize
from tusk.ui.session import connection, forget
from tusk.ui.shell import header, md_escape, setup_page, show_error, sidebar_footer

info = setup_page("Studio")

try:
    names = connections.names()
except TuskError as exc:
    show_error(exc)
    names = [connections.DEMO_NAME]

with st.sidebar:
    current = st.selectbox("Connection", names, key="studio_connection")
sidebar_footer()

try:
    spec = connections.get(current)
except TuskError as exc:  # e.g. a password that no longer decrypts: say so, keep the page
    header(info)
    show_error(exc)
    st.stop()
header(info, f"{LABELS[spec.engine]} · **{md_escape(spec.name)}**")

st.caption(
    "Quick query. The full Studio — query tabs, an editor with autocomplete, the schema "
    "browser and the results grid — is coming; this box runs real SQL today."
)

query_tab, history_tab = st.tabs([":material/play_arrow: Query", ":material/history: History"])

with query_tab:
    if "studio_sql" not in st.session_state:
        st.session_state["studio_sql"] = "select * from orders limit 100"
    sql = st.text_area("SQL", key="studio_sql", height=160)
    run = st.button("Run", type="primary", icon=":material/play_arrow:", key="studio_run")
    if run and sql.strip():
        limit = int(load_settings()["default_limit"])
        try:
            result = queries.run(spec, connection(current), sql, limit=limit)
        except TuskError as exc:
            if exc.title == "Connection failed":
                forget(current)
            show_error(exc)
        else:
            st.session_state["studio_result"] = result
    result = st.session_state.get("studio_result")
    if result is not None:
        took = humanize.duration(result.elapsed_s)
        if result.table.num_columns:
            shown = humanize.count(result.table.num_rows, "row")
            more = " (more rows exist — showing the first ones)" if result.truncated else ""
            st.caption(f"{shown}{more} · {took}")
            st.dataframe(result.table, width="stretch", hide_index=True)
        else:
            affected = result.affected_rows
            done = (
                "Statement ran"
                if affected is None
                else humanize.count(affected, "row") + " affected"
            )
            st.success(f"{done} · {took}")

with history_tab:
    needle = st.text_input("Search history", key="studio_history_search")
    entries = history.search(needle, connection=current, limit=200)
    if not entries:
        st.caption("No statements run on this connection yet.")
    else:
        st.dataframe(
            [
                {
                    "when": e.ts,
                    "statement": e.statement,
                    "ms": round((e.duration_s or 0) * 1000, 1),
                    "rows": e.row_count,
                    "error": e.error,
                }
                for e in entries
            ],
            width="stretch",
            hide_index=True,
        )
        if st.button("Clear history", icon=":material/delete:", key="studio_clear_history"):
            history.clear(current)
            st.rerun()
