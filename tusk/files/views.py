"""Data files made queryable on a connection: views (DuckDB), registered tables (DataFusion),
attached SQLite files."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tusk import auth
from tusk.engines.base import (
    Connection,
    attaching,
    quote_ident,
    registers_files,
)
from tusk.errors import BadInput
from tusk.files.reading import _readable, scan_sql

if TYPE_CHECKING:
    from tusk.auth.schema import User


def register_table(
    conn: Connection, name: str, root_name: str, relative: str, *, actor: User | None = None
) -> None:
    """Register a data file as DataFusion table `name`, read when queried (needs data.view:
    the table reads the file)."""
    auth.require(actor, "data.view")
    if not registers_files(conn):
        raise BadInput("Files are registered as tables on a DataFusion connection.")
    path, kind, _ = _readable(root_name, relative)
    conn.register_file(name, path, kind)


def attach_sqlite(
    conn: Connection, alias: str, root_name: str, relative: str, *, actor: User | None = None
) -> None:
    """ATTACH a SQLite file of a data root READ_ONLY to a DuckDB connection as `alias`
    (needs data.view: its tables can then be read)."""
    auth.require(actor, "data.view")
    if not attaching(conn):
        raise BadInput("SQLite files are attached to a DuckDB connection.", "Not DuckDB")
    path, kind, shown = _readable(root_name, relative)
    if kind != "sqlite":
        raise BadInput(f"{shown} is not a SQLite database.", "Not SQLite")
    conn.attach_sqlite(path, alias)


def create_view(
    conn: Connection,
    view: str,
    root_name: str,
    relative: str,
    *,
    table: str | None = None,
    actor: User | None = None,
) -> str:
    """CREATE OR REPLACE VIEW `view` AS SELECT * FROM the file, on a DuckDB connection;
    returns the statement (needs queries.execute, what typing that statement needs, and
    data.view, as the view reads the file)."""
    auth.require(actor, "queries.execute")
    if not (conn.abilities.file_views and attaching(conn)):
        raise BadInput("Views over files need a DuckDB connection.", "Not DuckDB")
    name = str(view).strip()
    if not name or "\x00" in name:
        raise BadInput("Give the view a name (without NUL characters).", "Bad view name")
    scan = scan_sql(root_name, relative, table=table, actor=actor)
    if scan.startswith("sqlite_scan("):
        conn.load_extension("sqlite_scanner")
    statement = "CREATE OR REPLACE VIEW " + quote_ident(name) + " AS SELECT * FROM " + scan  # noqa: S608
    conn.execute(statement, limit=None)
    return statement
