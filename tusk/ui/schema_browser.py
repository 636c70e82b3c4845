"""The schema browser: schemas → tables/views → columns with PK/FK markers."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from tusk.catalog import Catalog, Table
from tusk.engines.base import quote_ident
from tusk.ui.shell import md_escape

MAX_TABLES = 300  # more than this: ask the user to filter


def select_sql(table: Table, default_schema: str) -> str:
    """`SELECT * FROM … LIMIT 100` for a table, quoting names that need it."""
    name = _ident(table.name)
    if table.schema and table.schema != default_schema:
        name = f"{_ident(table.schema)}.{name}"
    return f"SELECT * FROM {name} LIMIT 100"  # noqa: S608 - editor text; names quoted above


def _ident(name: str) -> str:
    plain = name.isidentifier() and name.isascii() and name == name.lower()
    return name if plain else quote_ident(name)


def column_line(table: Table, column_name: str) -> str:
    """One column as Markdown: key markers, name, type, FK target."""
    col = table.column(column_name)
    marks = []
    if col.primary_key:
        marks.append("🔑")
    fk = next((f for f in table.foreign_keys if column_name in f.columns), None)
    if fk:
        marks.append("↗")
    text = f"{' '.join(marks)} `{md_escape(col.name)}` {md_escape(col.type.lower())}"
    if not col.nullable:
        text += " · not null"
    if fk:
        target = ", ".join(fk.ref_columns)
        text += f" → {md_escape(fk.ref_table)}({md_escape(target)})"
    return text


def schema_browser(
    catalog: Catalog,
    *,
    default_schema: str,
    key: str,
    on_pick: Callable[[str], None],
) -> None:
    """Draw the tree; clicking "Query" on a table calls on_pick(select_sql(table))."""
    needle = st.text_input(
        "Filter tables",
        key=f"{key}_filter",
        placeholder="name contains…",
        label_visibility="collapsed",
    )
    tables = (
        [t for t in catalog.tables if needle.lower() in t.name.lower()]
        if needle
        else list(catalog.tables)
    )
    if not catalog.tables:
        st.caption("No tables yet. Create one with CREATE TABLE, then refresh (F5).")
        return
    if not tables:
        st.caption(f"No table matches “{md_escape(needle)}”.")
        return
    if len(tables) > MAX_TABLES:
        st.caption(f"Showing {MAX_TABLES} of {len(tables):,} tables — filter to narrow down.")
        tables = tables[:MAX_TABLES]
    schemas = list(dict.fromkeys(t.schema for t in tables))
    for schema in schemas:
        in_schema = [t for t in tables if t.schema == schema]
        if len(schemas) > 1:
            st.markdown(f"**{md_escape(schema)}** · {len(in_schema)}")
        for i, table in enumerate(in_schema):
            icon = ":material/visibility:" if table.kind == "view" else ":material/table:"
            rows = f" · ~{table.row_estimate:,} rows" if table.row_estimate is not None else ""
            with st.expander(f"{icon} {md_escape(table.name)}{rows}"):
                for col in table.columns:
                    st.markdown(column_line(table, col.name))
                st.button(
                    "Query",
                    key=f"{key}_pick_{schema}_{i}",
                    icon=":material/play_arrow:",
                    on_click=on_pick,
                    args=(select_sql(table, default_schema),),
                )
