"""Schemas, tables, views and columns with PK/FK, the same shape for every engine."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    """One column of a table or view."""

    name: str
    type: str
    nullable: bool = True
    primary_key: bool = False
    default: str | None = None


@dataclass(frozen=True)
class ForeignKey:
    """A foreign key: local columns point at columns of another table."""

    columns: tuple[str, ...]
    ref_schema: str
    ref_table: str
    ref_columns: tuple[str, ...]
    name: str | None = None


@dataclass(frozen=True)
class Table:
    """A table or view (`kind` is "table" or "view")."""

    schema: str
    name: str
    kind: str = "table"
    columns: tuple[Column, ...] = ()
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    row_estimate: int | None = None  # the engine's statistics, not a count

    @property
    def qualified_name(self) -> str:
        """schema.name, for display."""
        return f"{self.schema}.{self.name}"

    def column(self, name: str) -> Column:
        """The column called `name` (KeyError if absent)."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


@dataclass(frozen=True)
class Catalog:
    """Everything an engine reports about its objects."""

    tables: tuple[Table, ...] = field(default_factory=tuple)

    def schemas(self) -> list[str]:
        """Schema names in order of first appearance."""
        return list(dict.fromkeys(t.schema for t in self.tables))

    def tables_in(self, schema: str) -> list[Table]:
        """Tables and views of one schema."""
        return [t for t in self.tables if t.schema == schema]

    def table(self, name: str, schema: str | None = None) -> Table:
        """Find a table by name (and schema); KeyError if absent."""
        for t in self.tables:
            if t.name == name and (schema is None or t.schema == schema):
                return t
        raise KeyError(f"{schema}.{name}" if schema else name)


@dataclass
class CatalogBuilder:
    """Collects rows from catalog queries into a Catalog (engines share this)."""

    _tables: dict[tuple[str, str], dict] = field(default_factory=dict)

    def add_column(
        self,
        schema: str,
        table: str,
        kind: str,
        column: str | None,
        type_: str | None,
        nullable: bool = True,
        default: str | None = None,
    ) -> None:
        """Add a column (or only the table, when `column` is None)."""
        entry = self._tables.setdefault(
            (schema, table), {"kind": kind, "columns": [], "pk": (), "fks": [], "rows": None}
        )
        if column is not None:
            entry["columns"].append((column, type_ or "", nullable, default))

    def set_primary_key(self, schema: str, table: str, columns: tuple[str, ...]) -> None:
        """Record a primary key for a known table."""
        if (schema, table) in self._tables:
            self._tables[(schema, table)]["pk"] = tuple(columns)

    def set_row_estimate(self, schema: str, table: str, rows: int | None) -> None:
        """Record the engine's row estimate for a known table (negative means unknown)."""
        if (schema, table) in self._tables and rows is not None and rows >= 0:
            self._tables[(schema, table)]["rows"] = int(rows)

    def add_foreign_key(self, schema: str, table: str, fk: ForeignKey) -> None:
        """Record a foreign key for a known table."""
        if (schema, table) in self._tables:
            self._tables[(schema, table)]["fks"].append(fk)

    def build(self) -> Catalog:
        """The finished catalog, tables in the order they were added."""
        tables = []
        for (schema, name), e in self._tables.items():
            pk = e["pk"]
            cols = tuple(
                Column(n, t, nullable=nl and n not in pk, primary_key=n in pk, default=d)
                for n, t, nl, d in e["columns"]
            )
            tables.append(Table(schema, name, e["kind"], cols, pk, tuple(e["fks"]), e["rows"]))
        return Catalog(tuple(tables))
