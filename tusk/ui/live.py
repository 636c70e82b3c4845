"""Controls shared by the live views (dashboard, activity, locks): refresh interval and pause,
and a confirmation dialog for signalling a session (cancel its query or terminate it, as
PostgreSQL's pg_signal_backend role says) that survives the views' refreshes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from tusk.ui.confirm import confirm_dialog
from tusk.ui.shell import md_escape

if TYPE_CHECKING:
    from tusk.admin import AdminConnection
    from tusk.auth.schema import User

INTERVALS: dict[str, float] = {"2 s": 2.0, "5 s": 5.0, "10 s": 10.0, "30 s": 30.0, "1 min": 60.0}
DEFAULT_INTERVAL = "5 s"
_SIGNAL_KEY = "tusk_admin_signal"  # (how, pid, summary) waiting for the user's confirmation


def controls(prefix: str) -> float | None:
    """Pause switch and interval picker; the seconds between refreshes, or None when paused."""
    left, right, _ = st.columns([1, 1, 3], vertical_alignment="bottom")
    every = right.selectbox(
        "Refresh every",
        list(INTERVALS),
        index=list(INTERVALS).index(DEFAULT_INTERVAL),
        key=f"{prefix}_every",
    )
    paused = left.toggle("Pause", key=f"{prefix}_paused", help="Stop refreshing this view")
    return None if paused else INTERVALS[str(every)]


def ask_signal(how: str, pid: int, summary: str) -> None:
    """Ask for confirmation (from inside a fragment: the dialog opens on the full rerun)."""
    st.session_state[_SIGNAL_KEY] = (how, pid, summary)
    st.rerun()


def signal_dialog(conn: AdminConnection, user: User | None) -> None:
    """The confirmation dialog, open while a cancel or terminate waits; call once per full run."""
    pending = st.session_state.get(_SIGNAL_KEY)
    if not pending:
        return
    how, pid, summary = pending
    verb = "Cancel the query of" if how == "cancel" else "Terminate"

    def content() -> None:
        st.markdown(summary)
        if how == "cancel":
            st.caption("The running statement stops with an error; the session stays connected.")
        else:
            st.warning(
                "The session's connection is closed and its open transaction rolled back.",
                icon=":material/warning:",
            )

    def send() -> None:
        from tusk.admin import activity

        act = activity.cancel if how == "cancel" else activity.terminate
        if act(conn, pid, actor=user):
            done = "Cancel sent to" if how == "cancel" else "Terminated"
            st.toast(f"{done} session {pid}", icon=":material/check:")
        else:
            st.toast(f"Session {pid} was already gone", icon=":material/info:")

    confirm_dialog(
        f"{verb} session {pid}?",
        content,
        action="Cancel query" if how == "cancel" else "Terminate session",
        on_confirm=send,
        close=lambda: st.session_state.pop(_SIGNAL_KEY, None),
        keys=("admin_signal_yes", "admin_signal_no"),
        cancel="Keep it running",
    )


def session_summary(pid: int, usename: str, datname: str, query: str) -> str:
    """Markdown naming a session for a confirmation: pid, user, database and its query."""
    text = " ".join(query.split()).replace("`", "'")
    short = text[:300] + ("…" if len(text) > 300 else "")
    return (
        f"**pid {pid}** · user **{md_escape(usename or '?')}** · database "
        f"**{md_escape(datname or '?')}**\n\n`{short}`"
    )
