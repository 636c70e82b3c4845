"""The results grid: AgGrid with values made safe for the browser (decimals, big ints, NULL)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tusk.arrow_json import text_values
from tusk.engines.result import is_numeric_text

MAX_SAFE_INT = 2**53 - 1  # JavaScript numbers lose precision past this

_NULL_FORMATTER = """
function(params) {
  if (params.value === null || params.value === undefined) { return 'NULL'; }
  return params.value;
}
"""
_NULL_STYLE = """
function(params) {
  if (params.value === null || params.value === undefined) {
    return {color: 'var(--tusk-null, #9aa0a6)', fontStyle: 'italic'};
  }
  return null;
}
"""


# Number columns may arrive as exact text (decimals, big integers, PostgreSQL numeric):
# compare them as numbers, NULLs first, and text only to break ties JavaScript cannot see.
_NUMBER_COMPARATOR = """
function(a, b) {
  if (a === b) { return 0; }
  if (a === null || a === undefined) { return -1; }
  if (b === null || b === undefined) { return 1; }
  const x = Number(a), y = Number(b);
  if (!isNaN(x) && !isNaN(y) && x !== y) { return x - y; }
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}
"""


def _display_column(
    col: pa.ChunkedArray, field: pa.Field | None = None
) -> tuple[pa.ChunkedArray | list[Any], str]:
    """One column made displayable; returns (values, kind) where kind drives alignment."""
    t = col.type
    if field is not None and is_numeric_text(field):
        return col, "number"  # exact decimal text (PostgreSQL numeric without a precision)
    if pa.types.is_decimal(t):
        # AgGrid shows Decimal objects as [object Object]; exact text keeps every digit.
        return pc.cast(col, pa.string()), "number"
    if pa.types.is_integer(t):
        big = pc.max(pc.abs(col)).as_py() if len(col) else 0
        if big is not None and big > MAX_SAFE_INT:
            return pc.cast(col, pa.string()), "number"
        return col, "number"
    if pa.types.is_floating(t):
        return col, "number"
    if pa.types.is_boolean(t):
        return col, "text"
    if pa.types.is_timestamp(t) and t.tz == "UTC":
        # Casting a tz-aware column to text is ~25x slower than a naive one (bench/studio.py).
        naive = pc.cast(col, pa.timestamp(t.unit))
        return pc.binary_join_element_wise(pc.cast(naive, pa.string()), "Z", ""), "text"
    if pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_time(t):
        return pc.cast(col, pa.string()), "text"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return [None if v is None else "\\x" + v.hex() for v in col.to_pylist()], "text"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return col, "text"
    # lists, structs, maps, durations, intervals, UUIDs, enums…: the text export writes
    return text_values(col), "text"


def display_frame(table: pa.Table) -> tuple[pd.DataFrame, dict[str, str]]:
    """A pandas frame safe to hand to the browser, plus each column's display kind."""
    data: dict[str, Any] = {}
    kinds: dict[str, str] = {}
    for field, col in zip(table.schema, table.columns, strict=True):
        name = field.name
        values, kind = _display_column(col, field)
        if isinstance(values, pa.ChunkedArray):
            values = values.to_pylist()
        # object dtype keeps None as None (pandas would turn it into NaN or its own NA)
        data[name] = pd.Series(values, dtype=object)
        kinds[name] = kind
    frame = pd.DataFrame(data, columns=table.column_names) if data else pd.DataFrame()
    return frame, kinds


def results_grid(table: pa.Table, key: str, *, height: int = 420, dark: bool = False) -> None:
    """Show a result in AgGrid: sortable, resizable, filterable, paginated; NULL dimmed."""
    from st_aggrid import AgGrid, GridOptionsBuilder, JsCode

    frame, kinds = display_frame(table)
    builder = GridOptionsBuilder.from_dataframe(frame)
    builder.configure_default_column(
        sortable=True,
        resizable=True,
        filter=True,
        valueFormatter=JsCode(_NULL_FORMATTER),
        cellStyle=JsCode(_NULL_STYLE),
    )
    for name, kind in kinds.items():
        if kind == "number":
            builder.configure_column(
                name,
                type=["rightAligned"],
                filter="agNumberColumnFilter",
                comparator=JsCode(_NUMBER_COMPARATOR),
            )
    builder.configure_pagination(paginationAutoPageSize=False, paginationPageSize=100)
    options = builder.build()
    options["enableCellTextSelection"] = True
    AgGrid(
        frame,
        gridOptions=options,
        height=height,
        key=key,
        allow_unsafe_jscode=True,
        theme="streamlit",
        update_on=[],
        show_toolbar=False,
        show_download_button=False,
        show_search=False,
    )
