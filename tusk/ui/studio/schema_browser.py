"""The schema browser: schemas → tables/views → columns with PK/FK markers."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import streamlit as st

from tusk.catalog import Catalog, Table
from tusk.completion import quote_name
from tusk.ui.shell import md_escape

MAX_TABLES = 300  # more than this: ask the user to filter


def select_sql(table: Table, default_schema: str) -> str:
    """`SELECT * FROM … LIMIT 100` for a table, quoting names that need it."""
    # Each part is quoted on its own (an attached table is database.schema.name), with the
    # strictest rules: lower case, not a reserved word, else quoted — valid on every engine.
    if table.database:
        parts = [table.database, table.schema, table.name]
    elif table.schema and table.schema != default_schema:
        parts = [table.schema, table.name]
    else:
        parts = [table.name]
    name = ".".join(quote_name(part) for part in parts)
    return f"SELECT * FROM {name} LIMIT 100"  # noqa: S608 - editor text; names quoted above


def table_key(key: str, table: Table) -> str:
    """The widget key of `table`'s row in browser `key` (its expander; `…_pick` its button):
    from the table's full name, so the open rows stay open when a filter or a new table
    moves the others."""
    name = "\x00".join((table.database or "", table.schema or "", table.name))
    return f"{key}_table_{hashlib.sha1(name.encode()).hexdigest()[:16]}"  # noqa: S324 - a key


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
    # An attached database's schema is its own group (shop.main is not the own main).
    groups = list(dict.fromkeys((t.database, t.schema) for t in tables))
    seen: set[str] = set()
    for database, schema in groups:
        in_schema = [t for t in tables if (t.database, t.schema) == (database, schema)]
        if len(groups) > 1:
            label = f"**{md_escape(schema)}**"
            if database is not None:
                label = f":material/database: **{md_escape(database)}** › {label}"
            st.markdown(f"{label} · {len(in_schema)}")
        for table in in_schema:
            icon = ":material/visibility:" if table.kind == "view" else ":material/table:"
            rows = f" · ~{table.row_estimate:,} rows" if table.row_estimate is not None else ""
            row = table_key(key, table)
            if row in seen:  # a catalog that lists a name twice must not break the page
                continue
            seen.add(row)
            # Lazy: a closed table sends one element, not a line per column; opening it
            # reruns the Studio's work area (a fragment), which draws its columns.
            box = st.expander(f"{icon} {md_escape(table.name)}{rows}", key=row, on_change="rerun")
            if not box.open:
                continue
            with box:
                st.markdown("  \n".join(column_line(table, c.name) for c in table.columns))
                st.button(
                    "Query",
                    key=f"{row}_pick",
                    icon=":material/play_arrow:",
                    on_click=on_pick,
                    args=(select_sql(table, default_schema),),
                )
