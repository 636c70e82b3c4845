"""EXPLAIN (PostgreSQL): the plan of a tab's last statement as a table of nodes."""

from __future__ import annotations

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
    st.session_state[f"studio_plan_{tab.id}"] = (plan, analyze)


def show_plan(tab: qtabs.QueryTab) -> None:
    """The last EXPLAIN of this tab, if any."""
    from tusk import explain as plans

    stored = st.session_state.get(f"studio_plan_{tab.id}")
    if not stored:
        return
    plan, analyze = stored
    with st.expander(
        "Query plan" + (" (ANALYZE — the statement really ran)" if analyze else ""), expanded=True
    ):
        rows = plans.flatten(plan)
        st.dataframe(
            rows,
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
