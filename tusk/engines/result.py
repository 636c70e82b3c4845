"""The one result type every engine returns."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class QueryResult:
    """A statement's result: at most `limit` rows as Arrow, and whether more rows exist."""

    table: pa.Table
    truncated: bool
    elapsed_s: float
    statement: str
    affected_rows: int | None = None  # INSERT/UPDATE/DELETE count, when the engine reports one

    @property
    def row_count(self) -> int:
        """Rows shown (or affected, for DML without RETURNING)."""
        if self.table.num_columns == 0 and self.affected_rows is not None:
            return self.affected_rows
        return self.table.num_rows

    @property
    def columns(self) -> list[str]:
        """Column names in order."""
        return list(self.table.column_names)


def empty_table() -> pa.Table:
    """A table with no columns and no rows, for statements that return nothing."""
    return pa.table({})


# Field metadata for a column of exact decimal numbers carried as text (PostgreSQL's numeric
# without a precision: sum(), avg(), literals), so the grid sorts it as numbers and charts
# plot it, while exports keep every digit.
NUMERIC_TEXT = {b"tusk.numeric": b"text"}


def is_numeric_text(field: pa.Field) -> bool:
    """True for a text column that holds exact decimal numbers (see NUMERIC_TEXT)."""
    return bool(field.metadata) and field.metadata.get(b"tusk.numeric") == b"text"
