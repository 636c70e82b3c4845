"""EXPLAIN (PostgreSQL): the plan of a tab's last statement as a table of nodes, and the
previous plan of the tab beside it with what changed (tusk.plan_diff)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from tusk import sqltext
from tusk.engines.spec import ConnectionSpec
from tusk.errors import TuskError
from tusk.ui.session import connection, forget_if_lost
from tusk.ui.shell import show_error
from tusk.ui.studio import tabs as qtabs


def explain(spec: ConnectionSpec, tab: qtabs.QueryTab, *, analyze: bool) -> None:
    """Show PostgreSQL's plan of the tab's (last) statement as a tree with cost/time per node."""
    from tusk import explain as plans

    statements = [s.text for s in sqltext.split(tab.sql, spec.engine)]
    if not statements:
        st.warning("There is no SQL to explain.")
        return
    analyze = bool(st.session_state.get("studio_explain_analyze", False))
    try:
        sql = plans.explain_sql(statements[-1], analyze=analyze)
        result = connection(spec.name).execute(sql, limit=None)
        plan = plans.parse_explain(result.table.column(0)[0].as_py())
    except TuskError as exc:
        show_error(exc)
        forget_if_lost(spec.name, exc)
        return
    previous = st.session_state.get(plan_key(tab.id))
    if previous is not None:
        st.session_state[previous_key(tab.id)] = previous
    st.session_state[plan_key(tab.id)] = (plan, analyze, statements[-1])


def plan_key(tab_id: str) -> str:
    """Session key of a tab's last plan: (Plan, analyzed, statement)."""
    return f"studio_plan_{tab_id}"


def previous_key(tab_id: str) -> str:
    """Session key of the plan before it, kept to compare."""
    return f"studio_plan_prev_{tab_id}"


def forget_plans(tab_id: str) -> None:
    """Drop a tab's plans (its connection changed: they belong to the old one)."""
    st.session_state.pop(plan_key(tab_id), None)
    st.session_state.pop(previous_key(tab_id), None)


def show_plan(tab: qtabs.QueryTab) -> None:
    """The last EXPLAIN of this tab, if any, or it and the one before compared."""

    stored = st.session_state.get(plan_key(tab.id))
    if not stored:
        return
    plan, analyze, _ = stored
    previous = st.session_state.get(previous_key(tab.id))
    with st.expander(
        "Query plan" + (" (ANALYZE — the statement really ran)" if analyze else ""), expanded=True
    ):
        if previous is not None and st.toggle(
            "Compare with the previous plan",
            key=f"studio_plan_compare_{tab.id}",
            help="The tab's plan before this one (e.g. before a CREATE INDEX), node by node.",
        ):
            _compare(previous, stored)
        else:
            _plan_table(plan)


def _plan_table(plan: Any) -> None:
    """One plan as a tree of nodes with cost, rows and time share."""
    from tusk import explain as plans

    st.dataframe(
        plans.flatten(plan),
        hide_index=True,
        width="stretch",
        column_config={
            "self_share": st.column_config.ProgressColumn(
                "Time share", min_value=0.0, max_value=1.0, format="percent"
            )
        },
    )
    if plan.execution_ms is not None:
        st.caption(
            f"Planning {plan.planning_ms or 0:.1f} ms · execution {plan.execution_ms:.1f} ms"
        )


def _compare(previous: tuple[Any, bool, str], current: tuple[Any, bool, str]) -> None:
    """The previous plan and this one side by side, then every node's change, regressions
    first."""
    from tusk.plan_diff import diff_plans

    (old, old_analyzed, old_sql), (new, new_analyzed, new_sql) = previous, current
    if old_sql.strip() != new_sql.strip():
        st.caption(":material/info: The two plans are of different statements.")
    if old_analyzed != new_analyzed:
        st.caption(":material/info: Only one of the two plans ran with ANALYZE: no time change.")
    before, after = st.columns(2)
    with before:
        st.markdown("**Previous plan**")
        _plan_table(old)
    with after:
        st.markdown("**This plan**")
        _plan_table(new)
    diff = diff_plans(old, new)
    old_ms, new_ms = diff.execution_ms
    if old_ms is not None and new_ms is not None:
        st.metric(
            "Execution",
            f"{new_ms:.1f} ms",
            delta=f"{new_ms - old_ms:+.1f} ms",
            delta_color="inverse",
        )
    st.markdown("**Changes, biggest regression first**")
    st.dataframe(
        diff.rows(),
        hide_index=True,
        width="stretch",
        column_config={
            "change": st.column_config.TextColumn("Change"),
            "before": st.column_config.TextColumn("Previous node"),
            "after": st.column_config.TextColumn("This node"),
            "self_ms_before": st.column_config.NumberColumn("Own ms before", format="%.2f"),
            "self_ms_after": st.column_config.NumberColumn("Own ms after", format="%.2f"),
            "self_ms_delta": st.column_config.NumberColumn("Δ own ms", format="%+.2f"),
            "rows_est_before": st.column_config.NumberColumn("Rows est. before"),
            "rows_actual_before": st.column_config.NumberColumn("Rows before"),
            "rows_est_after": st.column_config.NumberColumn("Rows est. after"),
            "rows_actual_after": st.column_config.NumberColumn("Rows after"),
            "buffers_before": st.column_config.NumberColumn("Buffers before"),
            "buffers_after": st.column_config.NumberColumn("Buffers after"),
            "cost_before": st.column_config.NumberColumn("Cost before", format="%.1f"),
            "cost_after": st.column_config.NumberColumn("Cost after", format="%.1f"),
        },
    )
