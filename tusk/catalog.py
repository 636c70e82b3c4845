"""Schemas, tables, views and columns with PK/FK, the same shape for every engine.

A table normally lives in the connection's own database (`database` None). DuckDB can also
ATTACH other databases (SQLite files, PostgreSQL servers): their tables carry the attached
alias in `database`, so `shop.main.items` never merges with the own `main` schema, and a
schema whose name has a dot in it stays one name.
"""

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
    ref_database: str | None = None  # the attached database of the referenced table


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
    database: str | None = None  # an attached database's alias; None: the connection's own

    @property
    def qualified_name(self) -> str:
        """[database.]schema.name, for display (not SQL: names are not quoted)."""
        return f"{self.namespace}.{self.name}"

    @property
    def namespace(self) -> str:
        """[database.]schema, for display (not SQL: names are not quoted)."""
        return f"{self.database}.{self.schema}" if self.database else self.schema

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
        """Schema names of the connection's own database, in order of first appearance."""
        return list(dict.fromkeys(t.schema for t in self.tables if t.database is None))

    def databases(self) -> list[str]:
        """Aliases of the attached databases that have tables, in order of first appearance."""
        return list(dict.fromkeys(t.database for t in self.tables if t.database is not None))

    def namespaces(self) -> list[tuple[str | None, str]]:
        """(database, schema) pairs, own database's (None) and attached ones, in order."""
        return list(dict.fromkeys((t.database, t.schema) for t in self.tables))

    def tables_in(self, schema: str, database: str | None = None) -> list[Table]:
        """Tables and views of one schema (of an attached database when `database` is given)."""
        return [t for t in self.tables if t.schema == schema and t.database == database]

    def table(self, name: str, schema: str | None = None, database: str | None = None) -> Table:
        """Find a table by name (and schema) in the own or one attached database; KeyError."""
        for t in self.tables:
            if t.name == name and (schema is None or t.schema == schema) and t.database == database:
                return t
        raise KeyError(".".join(p for p in (database, schema, name) if p))


@dataclass
class CatalogBuilder:
    """Collects rows from catalog queries into a Catalog (engines share this)."""

    # (database, schema, table) → its parts; database None is the connection's own.
    _tables: dict[tuple[str | None, str, str], dict] = field(default_factory=dict)

    def add_column(
        self,
        schema: str,
        table: str,
        kind: str,
        column: str | None,
        type_: str | None,
        nullable: bool = True,
        default: str | None = None,
        *,
        database: str | None = None,
    ) -> None:
        """Add a column (or only the table, when `column` is None)."""
        entry = self._tables.setdefault(
            (database, schema, table),
            {"kind": kind, "columns": [], "pk": (), "fks": [], "rows": None},
        )
        if column is not None:
            entry["columns"].append((column, type_ or "", nullable, default))

    def set_primary_key(
        self, schema: str, table: str, columns: tuple[str, ...], *, database: str | None = None
    ) -> None:
        """Record a primary key for a known table."""
        if (database, schema, table) in self._tables:
            self._tables[(database, schema, table)]["pk"] = tuple(columns)

    def set_row_estimate(
        self, schema: str, table: str, rows: int | None, *, database: str | None = None
    ) -> None:
        """Record the engine's row estimate for a known table (negative means unknown)."""
        if (database, schema, table) in self._tables and rows is not None and rows >= 0:
            self._tables[(database, schema, table)]["rows"] = int(rows)

    def add_foreign_key(
        self, schema: str, table: str, fk: ForeignKey, *, database: str | None = None
    ) -> None:
        """Record a foreign key for a known table."""
        if (database, schema, table) in self._tables:
            self._tables[(database, schema, table)]["fks"].append(fk)

    def build(self) -> Catalog:
        """The finished catalog, tables in the order they were added."""
        tables = []
        for (database, schema, name), e in self._tables.items():
            pk = e["pk"]
            cols = tuple(
                Column(n, t, nullable=nl and n not in pk, primary_key=n in pk, default=d)
                for n, t, nl, d in e["columns"]
            )
            fks = tuple(e["fks"])
            tables.append(Table(schema, name, e["kind"], cols, pk, fks, e["rows"], database))
        return Catalog(tuple(tables))
