"""The quick chart of a result: the kind and columns picked from the column types."""

from __future__ import annotations

import pyarrow as pa
import streamlit as st

from tusk.engines.result import is_numeric_text
from tusk.ui import humanize


def chart_plan(table: pa.Table) -> tuple[str, str | None, list[str]]:
    """Pick (kind, x, ys) from column types: time → line, text → bar, numbers → scatter."""
    numeric = [
        f.name
        for f in table.schema
        if pa.types.is_integer(f.type)
        or pa.types.is_floating(f.type)
        or pa.types.is_decimal(f.type)
        or is_numeric_text(f)
    ]
    temporal = [
        f.name
        for f in table.schema
        if pa.types.is_temporal(f.type) and not pa.types.is_duration(f.type)
    ]
    text = [
        f.name
        for f in table.schema
        if (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))
        and not is_numeric_text(f)
    ]
    if temporal and numeric:
        return "line", temporal[0], numeric[:3]
    if text and numeric:
        return "bar", text[0], numeric[:3]
    if len(numeric) >= 2:
        return "scatter", numeric[0], numeric[1:2]
    if numeric:
        return "bar", None, numeric[:1]
    return "none", None, []


def quick_chart(table: pa.Table, key: str) -> None:
    """A Streamlit chart of the preview rows, chosen from the column types, adjustable."""
    kind, x, ys = chart_plan(table)
    if kind == "none":
        st.caption("Nothing to chart: the result has no numeric column.")
        return
    names = table.column_names
    c1, c2, c3 = st.columns(3)
    kinds = ["bar", "line", "scatter"]
    kind = c1.selectbox("Chart", kinds, index=kinds.index(kind), key=f"{key}_kind")
    x_options = ["(row number)", *names]
    x = c2.selectbox(
        "X", x_options, index=x_options.index(x) if x in x_options else 0, key=f"{key}_x"
    )
    ys = c3.multiselect("Y", names, default=ys, key=f"{key}_y")
    if not ys:
        st.caption("Pick at least one Y column.")
        return
    cols = list(dict.fromkeys(([x] if x != "(row number)" else []) + ys))
    frame = table.select(cols).to_pandas()
    for col in ys:
        field = table.schema.field(col)
        if pa.types.is_decimal(field.type):
            frame[col] = frame[col].astype(float)
        elif is_numeric_text(field):  # exact decimal text: a chart needs only its value
            import pandas as pd

            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    x_arg = None if x == "(row number)" else x
    if kind == "line":
        st.line_chart(frame, x=x_arg, y=ys)
    elif kind == "scatter":
        st.scatter_chart(frame, x=x_arg, y=ys)
    else:
        st.bar_chart(frame, x=x_arg, y=ys)
    st.caption(f"Chart of the {humanize.count(table.num_rows, 'row')} shown in the grid.")
