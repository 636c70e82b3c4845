"""A run's outcomes: one tab per statement, errors with their line and column, and each result's
views (grid, chart, map, export)."""

from __future__ import annotations

import streamlit as st

from tusk.engines.spec import ConnectionSpec
from tusk.errors import QueryCancelled, QueryFailed
from tusk.ui import humanize
from tusk.ui.grid import results_grid
from tusk.ui.session import connection
from tusk.ui.shell import show_error
from tusk.ui.studio import tabs as qtabs
from tusk.ui.studio.chart import quick_chart
from tusk.ui.studio.export_panel import export_panel
from tusk.ui.theme import dark

RESULT_VIEWS = (
    ":material/grid_on: Grid",
    ":material/bar_chart: Chart",
    ":material/map: Map",
    ":material/query_stats: Profile",
    ":material/difference: Diff",
    ":material/download: Export",
)
RESULT_VIEW_KEY = "studio_view"  # + tab id and statement index: that result's open view


def _position_text(sql: str, position: int | None) -> str:
    if position is None or position < 1 or position > len(sql) + 1:
        return ""
    before = sql[: position - 1]
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    return f" (line {line}, column {column})"


def show_outcomes(spec: ConnectionSpec, tab: qtabs.QueryTab) -> None:
    """Each statement's result in its own tab; errors say where they happened."""
    outcomes = tab.outcomes
    if not outcomes:
        return
    labels = []
    for i, o in enumerate(outcomes, start=1):
        if o.error is not None:
            labels.append(f":material/error: Statement {i}")
        elif o.result is not None and o.result.table.num_columns:
            labels.append(f":material/table: Result {i}")
        else:
            labels.append(f":material/check: Statement {i}")
    containers = st.tabs(labels) if len(outcomes) > 1 else [st.container()]
    for i, (o, box) in enumerate(zip(outcomes, containers, strict=True)):
        with box:
            _show_outcome(spec, tab, o, i)


def _show_outcome(
    spec: ConnectionSpec, tab: qtabs.QueryTab, o: qtabs.StatementOutcome, i: int
) -> None:
    if o.error is not None:
        if isinstance(o.error, QueryCancelled):
            st.warning("Query cancelled. The connection is still open.", icon=":material/stop:")
            return
        where = ""
        if isinstance(o.error, QueryFailed) and o.error.position is not None:
            # Positions count within the statement; the editor shows the whole script.
            # Positions count in the SQL sent; with parameters bound that is not the text typed.
            typed = o.statement.text
            base = tab.sql.find(typed) if typed == o.statement.sql else -1
            if base >= 0:
                where = _position_text(tab.sql, base + o.error.position)
            else:
                where = _position_text(o.statement.sql, o.error.position)
        show_error(o.error, title=o.error.title + where)
        return
    result = o.result
    if result is None:
        return
    took = humanize.duration(result.elapsed_s)
    if not result.table.num_columns:
        done = (
            "Statement ran"
            if result.affected_rows is None
            else humanize.count(result.affected_rows, "row") + " affected"
        )
        st.success(f"{done} · {took}", icon=":material/check:")
        return
    rows = result.table.num_rows
    if result.truncated:
        st.caption(
            f":material/warning: Showing the first {humanize.count(rows, 'row')} — result "
            f"truncated · {took}. Export gives the full result."
        )
    else:
        st.caption(f"{humanize.count(rows, 'row')} · {took}")
    # Only the open view is drawn (choosing another reruns the page's fragment): a chart's
    # data or a map is built and sent only when the person looks at it.
    grid_tab, chart_tab, map_tab, profile_tab, diff_tab, export_tab = st.tabs(
        list(RESULT_VIEWS), key=f"{RESULT_VIEW_KEY}_{tab.id}_{i}", on_change="rerun"
    )
    if grid_tab.open is not False:
        with grid_tab:
            results_grid(result.table, key=f"grid_{tab.id}_{i}", dark=dark())
    if chart_tab.open:
        with chart_tab:
            quick_chart(result.table, key=f"chart_{tab.id}_{i}")
    if map_tab.open:
        with map_tab:
            from tusk.ui.geo.view import map_view

            statement = o.statement
            map_view(
                result.table,
                key=f"map_{tab.id}_{i}",
                full_export=lambda: connection(spec.name).stream_arrow(
                    statement.sql, statement.params
                ),
                on_demand=True,
            )
    if profile_tab.open:
        with profile_tab:
            from tusk.ui.studio.profile_view import profile_view

            profile_view(
                spec,
                o.statement,
                result.table,
                truncated=result.truncated,
                key=f"profile_{tab.id}_{i}",
            )
    if diff_tab.open:
        with diff_tab:
            from tusk.ui.studio.diff_view import diff_view

            diff_view(spec, tab, i, o.statement, result.table)
    if export_tab.open:
        with export_tab:
            export_panel(spec, o.statement, key=f"export_{tab.id}_{i}")
