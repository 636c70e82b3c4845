"""Admin · Activity: the server's sessions (not ours), live, with cancel and terminate."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from tusk import auth
from tusk.admin import activity
from tusk.ui import humanize, live

if TYPE_CHECKING:
    from tusk.admin import AdminConnection
    from tusk.admin.activity import Session
    from tusk.auth.schema import User

STATES = ["active", "idle", "idle in transaction", "idle in transaction (aborted)", "disabled"]


def render(conn: AdminConnection, user: User | None) -> None:
    """Filters, the live session list, and the cancel / terminate actions."""
    live.signal_dialog(conn, user)
    every = live.controls("admin_act")
    a, b, c = st.columns([2, 2, 1], vertical_alignment="bottom")
    search = a.text_input(
        "Filter", key="admin_act_search", placeholder="user, database, application, query, pid…"
    )
    states = b.multiselect("States", STATES, key="admin_act_states", placeholder="All states")
    background = c.toggle("Background processes", key="admin_act_background")
    may_signal = auth.allowed(user, "admin.processes")

    @st.fragment(run_every=every)
    def table() -> None:
        found = activity.sessions(conn, all_backends=background, states=states, search=search)
        _summary(found)
        if not found:
            st.info("No session matches." if (search or states) else "No other sessions.")
            return
        st.dataframe(
            {
                "": [_flag(s) for s in found],
                "pid": [s.pid for s in found],
                "user": [s.usename for s in found],
                "database": [s.datname for s in found],
                "application": [s.application_name for s in found],
                "client": [s.client_addr or "local" for s in found],
                "state": [s.state or s.backend_type for s in found],
                "waiting for": [_wait(s) for s in found],
                "query age": [_age(s.query_age_s) for s in found],
                "transaction age": [_age(s.xact_age_s) for s in found],
                "blocked by": [", ".join(map(str, s.blocked_by)) for s in found],
                "query": [" ".join(s.query.split())[:500] for s in found],
            },
            hide_index=True,
            width="stretch",
            column_config={
                "": st.column_config.TextColumn(
                    "", width="small", help="🔴 blocked by another session · 🟠 long-running"
                ),
                "query": st.column_config.TextColumn("query", width="large"),
            },
        )
        _actions(found, may_signal)

    table()


def _summary(found: list[Session]) -> None:
    blocked = sum(s.blocked for s in found)
    long = sum(s.long_running for s in found)
    parts = [humanize.count(len(found), "session")]
    if blocked:
        parts.append(f"🔴 {blocked} blocked")
    if long:
        parts.append(f"🟠 {long} running over {activity.LONG_RUNNING_S:.0f} s")
    st.caption(" · ".join(parts))


def _flag(s: Session) -> str:
    if s.blocked:
        return "🔴"
    if s.long_running:
        return "🟠"
    return ""


def _wait(s: Session) -> str:
    if not s.wait_event_type:
        return ""
    return f"{s.wait_event_type}: {s.wait_event}" if s.wait_event else s.wait_event_type


def _age(seconds: float | None) -> str:
    return "" if seconds is None else humanize.duration(max(seconds, 0.0))


def _actions(found: list[Session], may_signal: bool) -> None:
    """Pick a session, read its whole query, cancel or terminate it (after confirming)."""
    by_pid = {s.pid: s for s in found}
    left, right = st.columns([3, 2], vertical_alignment="bottom")
    pid = left.selectbox(
        "Session",
        list(by_pid),
        format_func=lambda p: (
            f"{p} · {by_pid[p].usename or by_pid[p].backend_type} · "
            f"{by_pid[p].state or '—'} · {' '.join(by_pid[p].query.split())[:60]}"
        ),
        key="admin_act_pid",
    )
    if pid is None:
        return
    chosen = by_pid[pid]
    summary = live.session_summary(chosen.pid, chosen.usename, chosen.datname, chosen.query)
    help_text = None if may_signal else "Needs the admin.processes permission."
    cancel_col, terminate_col = right.columns(2)
    if cancel_col.button(
        "Cancel query",
        key="admin_act_cancel",
        icon=":material/stop_circle:",
        disabled=not may_signal,
        help=help_text or "pg_cancel_backend: stop the statement, keep the session",
    ):
        live.ask_signal("cancel", chosen.pid, summary)
    if terminate_col.button(
        "Terminate",
        key="admin_act_terminate",
        icon=":material/cancel:",
        disabled=not may_signal,
        help=help_text or "pg_terminate_backend: end the session",
    ):
        live.ask_signal("terminate", chosen.pid, summary)
    if chosen.query:
        with st.expander("Full query", expanded=False):
            st.code(chosen.query, language="sql")
