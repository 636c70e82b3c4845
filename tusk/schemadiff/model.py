"""A schema's definition as plain values: what the engines read and the comparison takes.

Names inside definitions (defaults, checks, view text, index keys) are written relative to the
schema itself, as the engine prints them with that schema first on its search path: two schemas
with different names but the same objects compare equal, and the text is valid DDL in either.
Only the standard library is imported here, so engines can build these without a loop.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One column of a table: type as the engine spells it, default as SQL text."""

    name: str
    type: str
    nullable: bool = True
    default: str | None = None
    identity: str | None = None  # "ALWAYS" or "BY DEFAULT" (GENERATED … AS IDENTITY)
    generated: str | None = None  # a stored generated column's expression
    comment: str | None = None


@dataclass(frozen=True)
class Constraint:
    """A table constraint; `definition` is its full SQL text (as pg_get_constraintdef prints).

    `kind` is one of "primary key", "unique", "check", "foreign key", "exclusion"."""

    name: str
    kind: str
    definition: str
    columns: tuple[str, ...] = ()
    ref_schema: str | None = None  # foreign keys: the referenced table
    ref_table: str | None = None
    ref_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Table:
    """A table with its columns and constraints."""

    name: str
    columns: tuple[Column, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    comment: str | None = None

    def column(self, name: str) -> Column | None:
        """The column called `name`, or None."""
        return next((c for c in self.columns if c.name == name), None)

    @property
    def primary_key(self) -> Constraint | None:
        """The primary key constraint, or None."""
        return next((k for k in self.constraints if k.kind == "primary key"), None)


@dataclass(frozen=True)
class Index:
    """An index not backing a constraint. `definition` is what follows `ON table` (`USING
    btree (a) WHERE …`); `unique` says CREATE UNIQUE INDEX."""

    name: str
    table: str
    definition: str
    unique: bool = False


@dataclass(frozen=True)
class View:
    """A view (or materialized view) with its query text and the relations it reads."""

    name: str
    definition: str
    materialized: bool = False
    depends_on: tuple[str, ...] = ()  # tables and views of the same schema it reads
    comment: str | None = None


@dataclass(frozen=True)
class Sequence:
    """A sequence's settings (not its current value); `owned_by` is (table, column)."""

    name: str
    data_type: str = "bigint"
    start: int = 1
    increment: int = 1
    min_value: int | None = None
    max_value: int | None = None
    cache: int = 1
    cycle: bool = False
    owned_by: tuple[str, str] | None = None


@dataclass(frozen=True)
class SchemaSnapshot:
    """Everything read about one schema of one connection.

    `complete` is False when the engine could only report tables, columns and keys (its
    generic catalog), so checks, unique constraints and sequences are not compared; then
    `verbatim` says its views and indexes were read as the engine's own CREATE statements
    (SQLite, DuckDB), compared as text and written back as they are."""

    schema: str
    tables: tuple[Table, ...] = ()
    views: tuple[View, ...] = ()
    indexes: tuple[Index, ...] = ()
    sequences: tuple[Sequence, ...] = ()
    complete: bool = True
    verbatim: bool = False

    def table(self, name: str) -> Table | None:
        """The table called `name`, or None."""
        return next((t for t in self.tables if t.name == name), None)

    def view(self, name: str) -> View | None:
        """The view called `name`, or None."""
        return next((v for v in self.views if v.name == name), None)
