"""The schema comparison as a library action: read two schemas for a user, diff them, and write
the DDL from A to B (never run here: it goes to the editor, where queries.execute applies)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from tusk import auth, connections
from tusk.auth.schema import User
from tusk.catalog import Catalog
from tusk.engines.base import Connection, describes_schema
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput
from tusk.schemadiff.ddl import Migration, ident, migrate
from tusk.schemadiff.diff import Difference, compare
from tusk.schemadiff.model import Column, Constraint, Index, SchemaSnapshot, Table, View


@dataclass(frozen=True)
class Comparison:
    """Two schemas read, their differences, and the DDL that turns A into B."""

    a: SchemaSnapshot
    b: SchemaSnapshot
    differences: tuple[Difference, ...]
    migration: Migration
    note: str | None = None  # what was not compared, or why the DDL may not run as it is


def compare_schemas(
    spec_a: ConnectionSpec,
    schema_a: str,
    spec_b: ConnectionSpec,
    schema_b: str,
    *,
    actor: User | None = None,
) -> Comparison:
    """Read schema A and schema B for `actor` (connections.use), compare them and write the DDL
    from A to B. PermissionDenied, ConnectionFailed (within the connect timeout), BadInput for
    a missing schema, QueryFailed for a catalog read past its statement timeout."""
    auth.require(actor, "connections.use")
    for schema in (schema_a, schema_b):
        if not schema:
            raise BadInput("Choose a schema on each side to compare.", "No schema")
    conn_a = connections.open_for(spec_a, actor)
    try:
        conn_b = connections.open_for(spec_b, actor)
        try:
            full = describes_schema(conn_a) and describes_schema(conn_b)
            # The same catalog SQL on both sides: one engine, so its CREATE texts compare.
            query = conn_a.abilities.schema_objects
            objects = not full and query is not None and query == conn_b.abilities.schema_objects
            a = _read(conn_a, schema_a, full, objects)
            b = _read(conn_b, schema_b, full, objects)
            note = None
            if not full:
                note = (
                    "Tables, columns, primary and foreign keys (from the engines' catalogs) and "
                    "indexes and views (as their CREATE statements) were compared; checks, "
                    "unique constraints and sequences need PostgreSQL on both sides."
                    if objects
                    else "Tables, columns, primary and foreign keys were compared (from the "
                    "engines' catalogs); indexes and views need one engine on both sides, checks, "
                    "unique constraints and sequences need PostgreSQL on both sides."
                )
                if not describes_schema(conn_a):
                    note += (
                        f" The DDL is written for PostgreSQL: {conn_a.abilities.label} may "
                        "refuse some ALTER TABLE forms in it."
                    )
        finally:
            conn_b.close()
    finally:
        conn_a.close()
    return Comparison(a, b, tuple(compare(a, b)), migrate(a, b), note)


def _read(conn: Connection, schema: str, full: bool, objects: bool) -> SchemaSnapshot:
    """A schema's snapshot: its full definition, or what the generic catalog tells (with the
    engine's own CREATE statements of indexes and views when `objects`)."""
    if full and describes_schema(conn):
        return conn.describe_schema(schema)
    snapshot = from_catalog(conn.catalog(), schema)
    query = conn.abilities.schema_objects
    if not objects or query is None:
        return snapshot
    table = conn.execute(query, [schema], limit=None).table
    views, indexes = [], []
    for kind, name, on, text in zip(*(c.to_pylist() for c in table.columns), strict=True):
        statement = str(text).strip().removesuffix(";").rstrip()
        if kind == "view":
            views.append(View(str(name), statement))
        else:
            indexes.append(Index(str(name), str(on), statement))
    return replace(
        snapshot,
        views=tuple(sorted(views, key=lambda v: v.name)),
        indexes=tuple(sorted(indexes, key=lambda i: i.name)),
        verbatim=True,
    )


def from_catalog(catalog: Catalog, schema: str) -> SchemaSnapshot:
    """A snapshot of tables, columns and keys from an engine's catalog (any engine)."""
    tables = [t for t in catalog.tables_in(schema) if t.kind == "table"]
    if not tables and schema not in catalog.schemas():
        raise BadInput(f"There is no schema {schema!r} with tables here.", "No such schema")
    out = []
    for t in tables:
        constraints = []
        if t.primary_key:
            constraints.append(
                Constraint(
                    f"{t.name}_pkey",
                    "primary key",
                    f"PRIMARY KEY ({_names(t.primary_key)})",
                    t.primary_key,
                )
            )
        for fk in t.foreign_keys:
            other = None if fk.ref_schema == schema else fk.ref_schema
            target = (
                ident(fk.ref_table) if other is None else f"{ident(other)}.{ident(fk.ref_table)}"
            )
            constraints.append(
                Constraint(
                    fk.name or f"{t.name}_{'_'.join(fk.columns)}_fkey",
                    "foreign key",
                    f"FOREIGN KEY ({_names(fk.columns)}) REFERENCES {target}"
                    f"({_names(fk.ref_columns)})",
                    fk.columns,
                    other,
                    fk.ref_table,
                    fk.ref_columns,
                )
            )
        columns = tuple(Column(c.name, c.type, c.nullable, c.default) for c in t.columns)
        out.append(Table(t.name, columns, tuple(sorted(constraints, key=lambda k: k.name))))
    return SchemaSnapshot(schema, tables=tuple(out), complete=False)


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(ident(n) for n in names)
