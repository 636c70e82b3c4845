"""Admin → Maintenance: tables with dead rows and (auto)vacuum times, VACUUM / ANALYZE /
REINDEX with their duration, unused indexes, and the top statements from pg_stat_statements."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from tusk import auth
from tusk.admin import extensions, maintenance
from tusk.auth.permissions import ADMIN_EXTENSIONS
from tusk.errors import BadInput, TuskError
from tusk.ui import humanize
from tusk.ui.admin.actions import Done, LastOutcome
from tusk.ui.shell import md_escape, show_error

if TYPE_CHECKING:
    from tusk.admin import AdminConnection
    from tusk.auth.schema import User

P = "admin_maint_"
VIEW_KEY = P + "view"
OUTCOME = LastOutcome(P + "outcome", P + "toast")  # the last action's Done or error
JOB = P + "job"  # the long action (VACUUM, ANALYZE, REINDEX) running on its own connection
VIEWS: tuple[str, ...] = (
    ":material/table_chart: Tables",
    ":material/format_list_bulleted: Indexes",
    ":material/speed: Top queries",
)
TOP_LIMITS = (10, 20, 50, 100)


def render(conn: AdminConnection, user: User | None) -> None:
    """The Maintenance tab."""
    _running(conn)
    OUTCOME.show(conn)
    tabs = st.tabs(list(VIEWS), key=VIEW_KEY, on_change="rerun")
    for tab, draw in zip(tabs, (_tables, _indexes, _top_queries), strict=True):
        if tab.open:
            with tab:
                draw(conn, user)


# Tables -----------------------------------------------------------------------------------

_TABLE_COLUMNS: dict[str, Any] = {
    "schema": st.column_config.TextColumn("Schema"),
    "table": st.column_config.TextColumn("Table"),
    "live_rows": st.column_config.NumberColumn("Live rows", format="localized"),
    "dead_rows": st.column_config.NumberColumn("Dead rows", format="localized"),
    "dead_ratio": st.column_config.ProgressColumn(
        "Dead %",
        format="percent",
        min_value=0.0,
        max_value=1.0,
        help="Dead rows among all rows; VACUUM makes their space reusable.",
    ),
    "total_bytes": st.column_config.NumberColumn(
        "Size", format="bytes", help="Table with its indexes and TOAST"
    ),
    "last_vacuum": st.column_config.DatetimeColumn("Last vacuum", format="distance"),
    "last_autovacuum": st.column_config.DatetimeColumn("Last autovacuum", format="distance"),
    "last_analyze": st.column_config.DatetimeColumn("Last analyze", format="distance"),
    "last_autoanalyze": st.column_config.DatetimeColumn("Last autoanalyze", format="distance"),
}


def _tables(conn: AdminConnection, user: User | None) -> None:
    rows = maintenance.tables(conn)
    if not rows:
        st.info(
            f"Database {md_escape(conn.database)} has no tables yet — there is nothing to "
            "vacuum. Pick another database in the connection, or create tables in the Studio.",
            icon=":material/info:",
        )
        return
    st.dataframe(
        _frame(rows, _TABLE_COLUMNS),
        hide_index=True,
        column_config=_TABLE_COLUMNS,
        width="stretch",
    )
    st.caption(
        f"{humanize.count(len(rows), 'table')}, most dead rows first. Other sessions' changes "
        "reach these counts within about a second."
    )
    options = sorted((r["schema"], r["table"]) for r in rows)  # stable while counts change
    st.subheader("Run on a table")
    st.selectbox("Table", options, format_func=_dotted, key=P + "table")
    left, right = st.columns(2)
    with left:
        st.checkbox(
            "FULL",
            key=P + "full",
            help="Rewrites the table into a new file and returns the space to the operating "
            "system. Locks the table against reads and writes until it finishes.",
        )
        st.checkbox("ANALYZE", key=P + "analyze", help="Also refresh the planner's statistics.")
    with right:
        st.checkbox(
            "Reindex CONCURRENTLY",
            key=P + "table_concurrently",
            help="Build the new indexes without blocking writes (slower).",
        )
    if st.session_state.get(P + "full"):
        st.warning(
            "VACUUM FULL locks the table for reads and writes while it rewrites it.",
            icon=":material/warning:",
        )
    row = st.container(horizontal=True)
    row.button(
        "Vacuum",
        key=P + "vacuum",
        type="primary",
        icon=":material/cleaning_services:",
        on_click=_start,
        args=(conn, _vacuum, user),
        disabled=_busy(),
    )
    row.button(
        "Analyze",
        key=P + "analyze_run",
        icon=":material/query_stats:",
        on_click=_start,
        args=(conn, _analyze, user),
        disabled=_busy(),
    )
    row.button(
        "Reindex table",
        key=P + "reindex_table",
        icon=":material/build:",
        on_click=_start,
        args=(conn, _reindex_table, user),
        disabled=_busy(),
    )


# The long actions read their choices here, in the page's thread, and return the work that
# runs on the job's own connection (session state is not for worker threads).
Work = Callable[["AdminConnection"], Done]


def _vacuum(user: User | None) -> tuple[str, Work]:
    schema, table = _picked(P + "table")
    full = bool(st.session_state.get(P + "full"))
    analyze = bool(st.session_state.get(P + "analyze"))

    def work(c: AdminConnection) -> Done:
        r = maintenance.vacuum(c, user, schema, table, full=full, analyze=analyze)
        dead = ""
        if r.dead_rows_before is not None and r.dead_rows_after is not None:
            dead = f" Dead rows {r.dead_rows_before:,} → {r.dead_rows_after:,}."
        note = f" {r.note}" if r.note else ""
        return Done(f"Vacuumed {r.target}", f"{_ran(r.statement, r.elapsed_s)}{dead}{note}")

    return f"VACUUM{' FULL' if full else ''} {_dotted((schema, table))}", work


def _analyze(user: User | None) -> tuple[str, Work]:
    schema, table = _picked(P + "table")

    def work(c: AdminConnection) -> Done:
        r = maintenance.analyze(c, user, schema, table)
        return Done(f"Analyzed {r.target}", _ran(r.statement, r.elapsed_s))

    return f"ANALYZE {_dotted((schema, table))}", work


def _reindex_table(user: User | None) -> tuple[str, Work]:
    schema, name = _picked(P + "table")
    concurrently = bool(st.session_state.get(P + "table_concurrently"))

    def work(c: AdminConnection) -> Done:
        r = maintenance.reindex(c, user, schema, name, concurrently=concurrently)
        return Done(f"Reindexed {r.target}", _ran(r.statement, r.elapsed_s))

    return f"REINDEX TABLE {_dotted((schema, name))}", work


def _reindex_index(user: User | None) -> tuple[str, Work]:
    schema, name = _picked(P + "index")
    concurrently = bool(st.session_state.get(P + "index_concurrently"))

    def work(c: AdminConnection) -> Done:
        r = maintenance.reindex(c, user, schema, name, kind="index", concurrently=concurrently)
        return Done(f"Reindexed {r.target}", _ran(r.statement, r.elapsed_s))

    return f"REINDEX INDEX {_dotted((schema, name))}", work


# Indexes ----------------------------------------------------------------------------------

_UNUSED_COLUMNS: dict[str, Any] = {
    "schema": st.column_config.TextColumn("Schema"),
    "table": st.column_config.TextColumn("Table"),
    "index": st.column_config.TextColumn("Index", pinned=True),
    "size_bytes": st.column_config.NumberColumn("Size", format="bytes"),
    "definition": st.column_config.TextColumn("Definition", width="large"),
}


def _indexes(conn: AdminConnection, user: User | None) -> None:
    since = maintenance.stats_since(conn)
    st.subheader("Unused indexes")
    unused = maintenance.unused_indexes(conn)
    counted = "since the database was created" if since is None else f"since {_when(since)}"
    if unused:
        st.dataframe(
            _frame(unused, _UNUSED_COLUMNS),
            hide_index=True,
            column_config=_UNUSED_COLUMNS,
            width="stretch",
        )
        total = sum(int(r["size_bytes"] or 0) for r in unused)
        st.caption(
            f"{humanize.count(len(unused), 'index', 'indexes')} ({humanize.size(total)}) never "
            f"scanned {counted}. Unique and primary-key indexes are left out: they enforce "
            "rules even when no query reads them. An index used only on a replica shows here "
            "too."
        )
    else:
        st.success(
            f"Every index that enforces nothing has been scanned {counted}.",
            icon=":material/check_circle:",
        )

    st.subheader("Reindex")
    every = maintenance.indexes(conn)
    if not every:
        st.info(f"Database {md_escape(conn.database)} has no indexes yet.", icon=":material/info:")
        return
    on_table = {(r["schema"], r["index"]): r["table"] for r in every}
    st.selectbox(
        "Index",
        list(on_table),
        format_func=lambda o: f"{_dotted(o)} — on {on_table.get(o, '?')}",
        key=P + "index",
    )
    st.checkbox(
        "CONCURRENTLY",
        key=P + "index_concurrently",
        help="Build the new index without blocking writes (slower).",
    )
    st.button(
        "Reindex index",
        key=P + "reindex_index",
        icon=":material/build:",
        on_click=_start,
        args=(conn, _reindex_index, user),
        disabled=_busy(),
    )


# Top queries ------------------------------------------------------------------------------

_TOP_COLUMNS: dict[str, Any] = {
    "query": st.column_config.TextColumn("Statement", width="large"),
    "role": st.column_config.TextColumn("Role"),
    "calls": st.column_config.NumberColumn("Calls", format="localized"),
    "total_ms": st.column_config.NumberColumn("Total", format="%.1f ms"),
    "mean_ms": st.column_config.NumberColumn("Mean", format="%.2f ms"),
    "max_ms": st.column_config.NumberColumn("Max", format="%.2f ms"),
    "rows": st.column_config.NumberColumn("Rows", format="localized"),
    "hit_ratio": st.column_config.ProgressColumn(
        "Cache hits",
        format="percent",
        min_value=0.0,
        max_value=1.0,
        help="Shared buffer hits among all block reads",
    ),
}


def _top_queries(conn: AdminConnection, user: User | None) -> None:
    ext = extensions.get(conn, maintenance.STATEMENTS_EXTENSION)
    if ext is None:
        st.info(
            "pg_stat_statements is not available on this server: it ships with PostgreSQL's "
            "contrib modules (for example the postgresql-contrib package).",
            icon=":material/info:",
        )
        return
    if ext["installed_version"] is None:
        st.info(
            f"pg_stat_statements is not installed in database {md_escape(conn.database)}. It "
            "records how often each statement runs and how long it takes.",
            icon=":material/info:",
        )
        if auth.allowed(user, ADMIN_EXTENSIONS):
            st.button(
                "Install pg_stat_statements",
                key=P + "install_statements",
                type="primary",
                icon=":material/download:",
                on_click=OUTCOME.act,
                args=(conn, lambda: _install_statements(conn, user)),
            )
        else:
            st.caption(
                f":material/lock: Installing it needs the {ADMIN_EXTENSIONS} permission; "
                "ask an administrator."
            )
        return
    limit = st.selectbox("Show", TOP_LIMITS, index=1, key=P + "top_limit")
    try:
        rows = maintenance.top_queries(conn, int(limit))
    except TuskError as exc:
        show_error(exc)
        return
    if not rows:
        st.info(
            f"No statements recorded in database {md_escape(conn.database)} yet.",
            icon=":material/info:",
        )
    else:
        st.dataframe(
            _frame(rows, _TOP_COLUMNS),
            hide_index=True,
            column_config=_TOP_COLUMNS,
            width="stretch",
        )
        st.caption(
            f"Top {humanize.count(len(rows), 'statement')} of database "
            f"{md_escape(conn.database)} by total execution time, since the statistics were "
            "last reset."
        )
    with st.popover("Reset statistics", icon=":material/restart_alt:"):
        st.markdown(
            f"Forget the statements pg_stat_statements has recorded in database "
            f"{md_escape(conn.database)} (other databases keep theirs)."
        )
        st.button(
            "Reset",
            key=P + "reset_statements",
            type="primary",
            on_click=OUTCOME.act,
            args=(conn, lambda: _reset_statements(conn, user)),
        )


def _install_statements(conn: AdminConnection, user: User | None) -> Done:
    c = extensions.install(conn, user, maintenance.STATEMENTS_EXTENSION)
    return Done(
        f"Installed {c.name}",
        f"{_ran(c.statement, c.elapsed_s)} Version {c.version_after} in schema {c.schema}.",
    )


def _reset_statements(conn: AdminConnection, user: User | None) -> Done:
    maintenance.reset_top_queries(conn, user)
    return Done(
        "Statement statistics reset",
        f"Forgot the statements recorded in database {conn.database}.",
    )


# Shared -----------------------------------------------------------------------------------


def _start(
    conn: AdminConnection,
    prepare: Callable[[User | None], tuple[str, Work]],
    user: User | None,
) -> None:
    """Button callback for a long action: start it on its own connection (one at a time)."""
    running = st.session_state.get(JOB)
    if running is not None and not running.done:
        return  # the buttons are disabled meanwhile; a double click lands here
    from tusk.admin.jobs import Job

    try:
        label, work = prepare(user)
    except TuskError as exc:
        OUTCOME.keep(conn.spec.name, conn.database, exc)
        return
    OUTCOME.forget()
    st.session_state[JOB] = (conn.database, Job(conn.spec, label, work))


def _running(conn: AdminConnection) -> None:
    """The long action's live status with Cancel; when it ends, its outcome replaces it."""
    found = st.session_state.get(JOB)
    if found is None:
        return
    database, job = found

    @st.fragment(run_every=0.5)
    def status() -> None:
        if job.done:
            st.session_state.pop(JOB, None)
            OUTCOME.keep(
                job.spec.name, database, job.error if job.error is not None else job.result
            )
            st.rerun()
        with st.status(f"{job.label} — running", state="running", expanded=True):
            st.write(f"{humanize.duration(job.elapsed_s)} so far, on its own connection.")
            st.button(
                "Cancel",
                key=P + "job_cancel",
                icon=":material/stop:",
                on_click=job.cancel,
                help="Ask the server to stop the statement (pg_cancel_backend).",
            )

    status()


def _busy() -> bool:
    """True while a long action runs (its buttons are off meanwhile)."""
    found = st.session_state.get(JOB)
    return found is not None and not found[1].done


def _ran(statement: str, elapsed_s: float) -> str:
    return f"{statement} finished in {humanize.duration(elapsed_s)}."


def _picked(key: str) -> tuple[str, str]:
    value = st.session_state.get(key)
    if not value:
        raise BadInput("Pick a table or index first.")
    schema, name = value
    return str(schema), str(name)


def _dotted(pair: tuple[str, str]) -> str:
    """'schema.table'; a part with a dot or quote in it is quoted as SQL would, so that two
    different objects never get the same label (the picker tells options apart by label)."""
    return ".".join(
        f'"{p.replace(chr(34), chr(34) * 2)}"' if "." in p or '"' in p else p for p in pair
    )


def _frame(rows: list[dict[str, Any]], columns: dict[str, Any]) -> pd.DataFrame:
    """The rows with only the configured columns, times in the browser's zone."""
    frame = pd.DataFrame(rows, columns=list(columns))
    zone = humanize.browser_zone()
    for name in frame.columns:
        if isinstance(frame[name].dtype, pd.DatetimeTZDtype):
            frame[name] = frame[name].dt.tz_convert(zone)
    return frame


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(humanize.browser_zone()).strftime("%Y-%m-%d %H:%M %Z")
