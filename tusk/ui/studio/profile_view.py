"""A result's Profile view: every column of the full result profiled by its engine, and one
column's top values and histogram when it is picked (tusk.profile)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import streamlit as st

from tusk import profile
from tusk.engines.abilities import engine_abilities
from tusk.engines.spec import ConnectionSpec
from tusk.errors import TuskError
from tusk.queries import Statement
from tusk.ui import humanize
from tusk.ui.session import connection, forget_if_lost
from tusk.ui.shell import current_user, show_error
from tusk.ui.studio.catalog import connection_busy

_CACHE = "studio_profiles"  # view key → (result identity, profiles, {column: details})


def profile_view(
    spec: ConnectionSpec, statement: Statement, preview: pa.Table, *, truncated: bool, key: str
) -> None:
    """Profile the statement's full result (run again by the engine, aggregates only)."""
    cache: dict[str, Any] = st.session_state.setdefault(_CACHE, {})
    identity = (id(preview), statement.sql)
    entry = cache.get(key)
    if entry is None or entry[0] != identity:
        if connection_busy(spec.name):
            st.info("A query is running on this connection; the profile is made when it ends.")
            return
        try:
            with st.spinner("Profiling the full result…"):
                profiles = profile.profile(
                    spec,
                    connection(spec.name),
                    statement,
                    preview.schema,
                    actor=current_user(),
                    exact=not truncated,  # the whole result is the preview: count exactly
                )
        except TuskError as exc:
            show_error(exc)
            forget_if_lost(spec.name, exc)
            return
        entry = cache[key] = (identity, profiles, {})
    profiles = entry[1]
    details: dict[str, Any] = entry[2]
    if not profiles:
        st.caption("The result has no columns.")
        return
    st.caption(
        f":material/query_stats: {humanize.count(profiles[0].rows, 'row')} profiled by "
        f"{engine_abilities(spec.engine).label}; ≈ marks an estimated distinct count."
    )
    st.dataframe(
        [_row(p) for p in profiles],
        hide_index=True,
        width="stretch",
        column_config={
            "null_share": st.column_config.ProgressColumn(
                "Null %", min_value=0.0, max_value=1.0, format="percent"
            ),
            "mean": st.column_config.NumberColumn("Mean", format="%.4g"),
            "stddev": st.column_config.NumberColumn("Std dev", format="%.4g"),
        },
    )
    names = [p.name for p in profiles]
    picked = st.selectbox(
        "Column details", names, index=None, key=f"{key}_column", placeholder="Pick a column"
    )
    if picked is None:
        return
    column = profiles[names.index(picked)]
    if picked not in details:
        try:
            conn = connection(spec.name)
            top = profile.top_values(spec, conn, statement, picked, actor=current_user())
            bins = profile.histogram(spec, conn, statement, column, actor=current_user())
        except TuskError as exc:
            show_error(exc)
            forget_if_lost(spec.name, exc)
            return
        details[picked] = (top, bins)
    top, bins = details[picked]
    left, right = st.columns(2)
    with left:
        st.markdown("**Top values**")
        st.dataframe(
            [{"value": "NULL" if v is None else v, "rows": n} for v, n in top],
            hide_index=True,
            width="stretch",
        )
    with right:
        if bins:
            st.markdown("**Histogram**")
            st.bar_chart(
                {"from": [f"{lo:.4g}" for lo, _, _ in bins], "rows": [n for *_, n in bins]},
                x="from",
                y="rows",
                height=220,
            )


def _row(p: profile.ColumnProfile) -> dict[str, Any]:
    """One column's profile as a table row (values shown as text: columns differ in type)."""
    distinct = None
    if p.distinct is not None:
        distinct = ("≈ " if p.distinct_approximate else "") + f"{p.distinct:,}"
    return {
        "column": p.name,
        "type": p.type,
        "nulls": p.nulls,
        "null_share": p.null_share,
        "distinct": distinct,
        "min": None if p.minimum is None else str(p.minimum),
        "max": None if p.maximum is None else str(p.maximum),
        "mean": p.mean,
        "stddev": p.stddev,
    }
