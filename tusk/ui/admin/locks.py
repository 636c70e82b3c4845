"""Admin · Locks: who blocks whom as a graph and a tree (each session once), the root
blocker's query with one-click terminate, and the raw pg_locks list, capped and filtered."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from tusk import auth
from tusk.admin import locks
from tusk.ui import humanize, live
from tusk.ui.shell import md_escape

if TYPE_CHECKING:
    from tusk.admin import AdminConnection
    from tusk.auth.schema import User

MODES = [
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
]
LOCKTYPES = [
    "relation",
    "extend",
    "frozenid",
    "page",
    "tuple",
    "transactionid",
    "virtualxid",
    "spectoken",
    "object",
    "userlock",
    "advisory",
]
LIMITS = [100, 1000, 10_000]


def render(conn: AdminConnection, user: User | None) -> None:
    """The live blocking view, then the raw locks."""
    live.signal_dialog(conn, user)
    every = live.controls("admin_locks")
    may_terminate = auth.allowed(user, "admin.processes")

    @st.fragment(run_every=every)
    def blocking() -> None:
        graph = locks.blocking_graph(conn)
        if not graph.sessions:
            st.success("No session is waiting on a lock.", icon=":material/lock_open:")
            return
        waiting = sum(1 for s in graph.sessions.values() if s.blocked_by)
        st.markdown(
            f"**{humanize.count(waiting, 'session')} waiting** behind "
            f"{humanize.count(len(graph.roots), 'root blocker')}"
        )
        picture, tree = st.columns([1, 1])
        with picture:
            st.graphviz_chart(graph.dot(), width="stretch")
        with tree:
            for pid, depth, blockers in graph.tree():
                s = graph.sessions[pid]
                pad = "\u2003" * depth + ("└ " if depth else "")
                waits = f" · waits on {', '.join(map(str, blockers))}" if blockers else ""
                age = s.xact_age_s if s.state.startswith("idle in") else s.query_age_s
                since = f" · {humanize.duration(max(age, 0.0))}" if age is not None else ""
                st.markdown(
                    f"{pad}**{pid}** {md_escape(s.usename)} · {md_escape(s.state)}{since}{waits}"
                )
        for root in graph.roots:
            s = graph.sessions[root]
            with st.container(border=True):
                blocked = graph.blocking(root)
                st.markdown(
                    f":material/block: **Root blocker {root}** · {md_escape(s.usename)} on "
                    f"{md_escape(s.datname)} · {md_escape(s.state)} · blocks "
                    f"{', '.join(map(str, blocked)) or 'nobody directly'}"
                )
                st.code(s.query or "(no query text)", language="sql")
                if st.button(
                    f"Terminate {root}",
                    key=f"admin_locks_terminate_{root}",
                    icon=":material/cancel:",
                    type="primary",
                    disabled=not may_terminate,
                    help=None if may_terminate else "Needs the admin.processes permission.",
                ):
                    live.ask_signal(
                        "terminate",
                        root,
                        live.session_summary(root, s.usename, s.datname, s.query),
                    )

    blocking()
    st.divider()
    _raw_locks(conn)


def _like_escape(text: str) -> str:
    """Match the text literally inside an ILIKE pattern (backslash is the default escape)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _raw_locks(conn: AdminConnection) -> None:
    st.markdown("**All locks** (`pg_locks`)")
    a, b, c, d, e, f = st.columns([1, 1, 2, 2, 2, 1], vertical_alignment="bottom")
    pid_text = a.text_input("pid", key="admin_locks_pid")
    granted = b.selectbox("Granted", ["any", "waiting", "granted"], key="admin_locks_granted")
    mode = c.selectbox("Mode", ["any", *MODES], key="admin_locks_mode")
    locktype = d.selectbox("Type", ["any", *LOCKTYPES], key="admin_locks_type")
    relation = e.text_input("Relation contains", key="admin_locks_relation")
    limit = f.selectbox("Show", LIMITS, index=1, key="admin_locks_limit")
    pid = int(pid_text) if pid_text.strip().isdigit() else None
    if pid_text.strip() and pid is None:
        st.warning("The pid filter takes a number.", icon=":material/warning:")
    rows, total = locks.locks(
        conn,
        pid=pid,
        granted={"any": None, "waiting": False, "granted": True}[str(granted)],
        mode=None if mode == "any" else str(mode),
        locktype=None if locktype == "any" else str(locktype),
        relation=f"%{_like_escape(relation.strip())}%" if relation.strip() else None,
        limit=int(limit or LIMITS[1]),
    )
    if not rows:
        st.caption("No lock matches.")
        return
    shown = humanize.count(len(rows), "lock")
    st.caption(shown if len(rows) == total else f"Showing {shown} of {total:,} — narrow the filter")
    st.dataframe(rows, hide_index=True, width="stretch")
