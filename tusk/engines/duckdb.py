"""DuckDB adapter: embedded, streaming Arrow results, extensions loaded offline from wheels."""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import pyarrow as pa

from tusk.catalog import Catalog, CatalogBuilder, ForeignKey
from tusk.engines.base import (
    LoadMode,
    Params,
    as_batches,
    database_file,
    dedupe_names,
    error_position,
    quote_ident,
    sql_literal,
)
from tusk.engines.result import QueryResult, empty_table
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput, ConnectionFailed, QueryCancelled, QueryFailed

DUCKDB_VERSION = "1.5.5"
# Extensions come from the PyPI duckdb-extension-* wheels; DuckDB never downloads anything.
OFFLINE_EXTENSIONS = ("spatial", "postgres_scanner", "sqlite_scanner")
BASE_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}

_DML = {"INSERT", "UPDATE", "DELETE", "MERGE_INTO"}


def extension_path(name: str) -> Path:
    """The extension file shipped in the duckdb-extension-<name> wheel."""
    pkg = f"duckdb_extension_{name}"
    spec = importlib.util.find_spec(pkg)
    if spec is None or not spec.submodule_search_locations:
        raise ConnectionFailed(
            f"The DuckDB extension {name!r} is not installed: pip install "
            f"duckdb-extension-{name.replace('_', '-')}=={DUCKDB_VERSION}",
            "Missing DuckDB extension",
        )
    base = Path(next(iter(spec.submodule_search_locations)))
    path = base / "extensions" / f"v{DUCKDB_VERSION}" / f"{name}.duckdb_extension"
    if not path.exists():
        raise ConnectionFailed(f"DuckDB extension file missing: {path}", "Missing DuckDB extension")
    return path


def load_extension(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """LOAD an offline extension into a DuckDB connection."""
    # LOAD takes no parameters; the path comes from the installed wheel, as a literal.
    con.execute("LOAD " + sql_literal(str(extension_path(name))))


def open_duckdb(
    path: str | None = None, extensions: Iterable[str] = (), read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """Open DuckDB with auto-install off and the named offline extensions loaded."""
    con = duckdb.connect(path or ":memory:", read_only=read_only, config=dict(BASE_CONFIG))
    for ext in extensions:
        load_extension(con, ext)
    return con


def duckdb_error(exc: Exception, statement: str, offset: int = 0) -> QueryFailed | QueryCancelled:
    """Map a DuckDB exception to a Tusk error with the database's message and position."""
    if isinstance(exc, duckdb.InterruptException):
        return QueryCancelled("The query was cancelled.")
    msg = str(exc).strip()
    pos = error_position(msg, statement)
    return QueryFailed(msg, position=pos + offset if pos is not None else None)


class DuckDBConnection:
    """One DuckDB connection; `cancel` interrupts it from any thread."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self._lock = threading.Lock()

    @property
    def raw(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection, for library code that needs DuckDB itself (ETL, geo)."""
        return self._con

    def execute(self, sql: str, params: Params = None, *, limit: int | None = 1000) -> QueryResult:
        """Run one or more statements; fetch at most limit + 1 rows of the last."""
        start = time.perf_counter()
        with self._lock:
            try:
                statements = duckdb.extract_statements(sql)
            except duckdb.Error as exc:
                raise duckdb_error(exc, sql) from None
            if not statements:
                raise QueryFailed("There is no SQL to run.", "Empty query")
            offset, current = 0, sql
            try:
                for stmt in statements[:-1]:
                    offset, current = _locate(sql, stmt.query, offset), stmt.query
                    self._con.execute(stmt.query)
                    offset += len(stmt.query)
                last = statements[-1]
                offset, current = _locate(sql, last.query, offset), last.query
                self._con.execute(last.query, params)
                if self._con.description is None:
                    table, truncated = empty_table(), False
                else:
                    reader = self._con.to_arrow_reader(
                        min(limit + 1, 100_000) if limit is not None else 100_000
                    )
                    table, truncated = _read_limited(reader, limit)
            except (duckdb.Error, RuntimeError) as exc:
                raise duckdb_error(exc, current, offset) from None
        affected = None
        if last.type.name in _DML and table.column_names == ["Count"] and table.num_rows == 1:
            affected = int(table.column(0)[0].as_py())
            table = empty_table()  # like every engine: DML without RETURNING has no result set
        return QueryResult(
            dedupe_names(table), truncated, time.perf_counter() - start, sql, affected
        )

    def stream_arrow(
        self, sql: str, params: Params = None, batch_rows: int = 100_000
    ) -> Iterator[pa.RecordBatch]:
        """Stream the full result of one statement as Arrow batches."""
        cur = self._con.cursor()  # its own cursor, so the main connection stays free
        try:
            try:
                cur.execute(sql, params)
                reader = cur.to_arrow_reader(batch_rows)
            except (duckdb.Error, RuntimeError) as exc:
                raise duckdb_error(exc, sql) from None
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except (duckdb.Error, RuntimeError, pa.ArrowException, OSError) as exc:
                    # An error mid-stream surfaces through pyarrow's reader as OSError.
                    raise duckdb_error(exc, sql) from None
                yield batch
        finally:
            cur.close()

    def load_arrow(
        self,
        table: str,
        batches: Iterable[pa.RecordBatch] | pa.Table,
        *,
        mode: LoadMode = "create",
        schema: str | None = None,
    ) -> int:
        """Load Arrow data with DuckDB's Arrow scan (zero-copy where it can)."""
        if mode not in ("create", "append", "replace"):
            raise BadInput(f"Unknown load mode {mode!r}: use create, append or replace.")
        # DuckDB's Python client has no identifier tool, and its relation API (rel.create)
        # drops embedded quotes from names: quote_ident is the one quoting path here, and the
        # hostile-name contract test holds it to account.
        target = (quote_ident(schema) + "." if schema else "") + quote_ident(table)
        reader = as_batches(batches)
        view = f"__tusk_load_{id(reader)}"
        with self._lock:
            try:
                self._con.register(view, reader)
                try:
                    if mode == "replace":
                        self._con.execute(
                            f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM {quote_ident(view)}"
                        )
                    elif mode == "create":
                        self._con.execute(
                            f"CREATE TABLE {target} AS SELECT * FROM {quote_ident(view)}"
                        )
                    else:
                        self._con.execute(f"INSERT INTO {target} SELECT * FROM {quote_ident(view)}")
                    count = self._con.fetchone()
                finally:
                    self._con.unregister(view)
            except (duckdb.Error, RuntimeError) as exc:
                raise duckdb_error(exc, f"load into {target}") from None
        return int(count[0]) if count else 0

    def cancel(self) -> None:
        """Interrupt the running statement (safe from another thread)."""
        self._con.interrupt()

    def catalog(self) -> Catalog:
        """Tables, views, columns and constraints from DuckDB's own catalog functions."""
        with self._lock:
            cur = self._con.cursor()
            try:
                cols = cur.execute(_CATALOG_COLUMNS).fetchall()
                cons = cur.execute(_CATALOG_CONSTRAINTS).fetchall()
                sizes = cur.execute(_CATALOG_SIZES).fetchall()
            except duckdb.Error as exc:
                raise duckdb_error(exc, "catalog") from None
            finally:
                cur.close()
        b = CatalogBuilder()
        for schema, table, kind, col, type_, nullable, default in cols:
            b.add_column(schema, table, kind, col, type_, bool(nullable), default)
        for schema, table, rows in sizes:
            b.set_row_estimate(schema, table, rows)
        for schema, table, ctype, columns, ref_table, ref_columns, name in cons:
            if ctype == "PRIMARY KEY":
                b.set_primary_key(schema, table, tuple(columns))
            elif ctype == "FOREIGN KEY" and ref_table:
                b.add_foreign_key(
                    schema,
                    table,
                    ForeignKey(tuple(columns), schema, ref_table, tuple(ref_columns or ()), name),
                )
        return b.build()

    def close(self) -> None:
        """Close the connection."""
        self._con.close()


def _locate(script: str, statement: str, start: int) -> int:
    """Where a statement starts in its script (0 if DuckDB rewrote its text)."""
    found = script.find(statement.strip(), start)
    return found if found >= 0 else 0


def _read_limited(reader: pa.RecordBatchReader, limit: int | None) -> tuple[pa.Table, bool]:
    """Read batches until limit + 1 rows are seen; report truncation."""
    batches: list[pa.RecordBatch] = []
    rows = 0
    for batch in reader:
        batches.append(batch)
        rows += batch.num_rows
        if limit is not None and rows > limit:
            break
    table = pa.Table.from_batches(batches, schema=reader.schema)
    if limit is not None and table.num_rows > limit:
        return table.slice(0, limit), True
    return table, False


_CATALOG_COLUMNS = """
select c.schema_name, c.table_name,
       case when v.view_name is null then 'table' else 'view' end,
       c.column_name, c.data_type, c.is_nullable, c.column_default
from duckdb_columns() c
left join duckdb_views() v
  on v.database_name = c.database_name and v.schema_name = c.schema_name
 and v.view_name = c.table_name
where c.database_name = current_database() and not c.internal
order by c.schema_name, c.table_name, c.column_index
"""

_CATALOG_SIZES = """
select schema_name, table_name, estimated_size from duckdb_tables()
where database_name = current_database()
"""

_CATALOG_CONSTRAINTS = """
select schema_name, table_name, constraint_type, constraint_column_names,
       referenced_table, referenced_column_names, constraint_name
from duckdb_constraints()
where database_name = current_database()
  and constraint_type in ('PRIMARY KEY', 'FOREIGN KEY')
"""


class DuckDBEngine:
    """DuckDB on a file or in memory."""

    name: ClassVar[str] = "duckdb"
    label: ClassVar[str] = "DuckDB"
    supports_cancel: ClassVar[bool] = True
    paramstyle: ClassVar[str] = "qmark"

    def __init__(self, spec: ConnectionSpec) -> None:
        self.spec = spec

    def connect(self) -> DuckDBConnection:
        """Open the database file (created if missing) with the offline extensions loaded."""
        path = database_file(self.spec.path, "DuckDB")
        read_only = self.spec.options.get("read_only", "").lower() in ("1", "true", "yes")
        exts = _extensions_from(self.spec.options)
        try:
            con = open_duckdb(path, exts, read_only=read_only)
        except (duckdb.Error, RuntimeError) as exc:
            raise ConnectionFailed(
                f"Could not open DuckDB database {path}: {exc}", "Cannot open DuckDB file"
            ) from None
        return DuckDBConnection(con)


def _extensions_from(options: dict[str, Any]) -> tuple[str, ...]:
    """Extensions to load: all offline ones unless options["extensions"] narrows them."""
    raw = options.get("extensions")
    if raw is None:
        return OFFLINE_EXTENSIONS
    return tuple(x.strip() for x in str(raw).split(",") if x.strip())
