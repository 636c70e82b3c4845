"""SQLite adapter: the standard library's sqlite3, lazily stepped so only limit + 1 rows are read."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import ClassVar

import pyarrow as pa

from tusk.catalog import Catalog, CatalogBuilder, ForeignKey
from tusk.engines.abilities import SQLiteAbilities
from tusk.engines.base import (
    CONNECT_TIMEOUT_S,
    Abilities,
    ConfiguredEngine,
    LoadMode,
    Params,
    check_load_mode,
    check_params,
    check_text,
    database_file,
    inside_roots,
    load_reader,
    quote_ident,
    rows_to_arrow,
)
from tusk.engines.result import QueryResult, empty_table
from tusk.errors import ConnectionFailed, QueryCancelled, QueryFailed
from tusk.sqltext import split

_STREAM_BATCH = 50_000


def sqlite_error(exc: Exception) -> QueryFailed | QueryCancelled:
    """Map a sqlite3 exception to a Tusk error."""
    msg = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and msg == "interrupted":
        return QueryCancelled("The query was cancelled.")
    return QueryFailed(msg or type(exc).__name__)


def _arrow_type_to_sqlite(t: pa.DataType) -> str:
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return "INTEGER"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "REAL"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "BLOB"
    return "TEXT"


def _sqlite_value(v: object) -> object:
    """Arrow's Python values that sqlite3 cannot bind become text."""
    if v is None or isinstance(v, int | float | str | bytes):
        return v
    return str(v)


class SQLiteConnection:
    """One SQLite connection, shareable across threads so `cancel` can interrupt it."""

    engine: ClassVar[str] = "sqlite"
    abilities: ClassVar[type[Abilities]] = SQLiteAbilities

    def __init__(self, con: sqlite3.Connection) -> None:
        self._con = con
        self._lock = threading.Lock()
        self._refused: str | None = None  # the file the authorizer last refused (confine)
        self._roots: tuple[Path, ...] | None = None  # confine: files only inside these
        self._write_files = True  # confine(write=): ATTACH / VACUUM INTO allowed at all
        self._read_only = False  # set_read_only: no change to any database

    def _error(self, exc: Exception) -> QueryFailed | QueryCancelled:
        """sqlite_error, naming the refused file when the authorizer stopped the statement."""
        err = sqlite_error(exc)
        refused, self._refused = self._refused, None
        if refused is not None and (
            "not authorized" in err.message or "authorization denied" in err.message
        ):
            err = QueryFailed(
                f"{refused}: this SQL may attach or write files only inside the data roots, "
                "and only with the data.export permission.",
                "File not allowed",
            )
        elif self._read_only and (
            "not authorized" in err.message or "readonly" in err.message.replace("-", "")
        ):
            err = QueryFailed(
                f"This session is read-only: it may read data, never change it ({err.message}).",
                "Read-only session",
            )
        return err

    def execute(self, sql: str, params: Params = None, *, limit: int | None = 1000) -> QueryResult:
        """Run the statements in order; the last one's rows are stepped only to limit + 1."""
        start = time.perf_counter()
        check_text(sql)
        check_params(params)
        statements = split(sql, "sqlite")
        if not statements:
            raise QueryFailed("There is no SQL to run.", "Empty query")
        with self._lock:
            cur = self._con.cursor()
            try:
                for stmt in statements[:-1]:
                    cur.execute(stmt.text)
                cur.execute(statements[-1].text, params if params is not None else ())
                if cur.description is None:
                    affected = cur.rowcount if cur.rowcount >= 0 else None
                    return QueryResult(
                        empty_table(), False, time.perf_counter() - start, sql, affected
                    )
                names = [d[0] for d in cur.description]
                rows = cur.fetchmany(limit + 1) if limit is not None else cur.fetchall()
            except (sqlite3.Error, OverflowError, ValueError) as exc:
                raise self._error(exc) from None
            finally:
                cur.close()
        truncated = limit is not None and len(rows) > limit
        rows = rows[:limit] if truncated else rows
        table = rows_to_arrow(names, rows, None)
        return QueryResult(table, truncated, time.perf_counter() - start, sql)

    def stream_arrow(self, sql: str, params: Params = None) -> Iterator[pa.RecordBatch]:
        """Stream a full result in batches of 50,000 rows."""
        check_text(sql)
        check_params(params)
        cur = self._con.cursor()
        try:
            try:
                cur.execute(sql, params if params is not None else ())
            except (sqlite3.Error, OverflowError, ValueError) as exc:
                raise self._error(exc) from None
            if cur.description is None:
                return
            names = [d[0] for d in cur.description]
            schema: pa.Schema | None = None
            while True:
                try:
                    rows = cur.fetchmany(_STREAM_BATCH)
                except sqlite3.Error as exc:
                    raise self._error(exc) from None
                if not rows:
                    return
                table = rows_to_arrow(names, rows, list(schema.types) if schema else None)
                if schema is None:
                    schema = table.schema
                elif table.schema != schema:
                    table = table.cast(schema, safe=False)
                yield from table.to_batches()
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
        """Insert Arrow data with executemany in one transaction."""
        check_load_mode(mode)
        if self._read_only:
            raise QueryFailed(
                "This session is read-only: it may read data, never change it.",
                "Read-only session",
            )
        reader = load_reader(table, batches, schema)
        target = (quote_ident(schema) + "." if schema else "") + quote_ident(table)
        cols = ", ".join(
            f"{quote_ident(f.name)} {_arrow_type_to_sqlite(f.type)}" for f in reader.schema
        )
        marks = ", ".join("?" for _ in reader.schema)
        count = 0
        with self._lock:
            try:
                self._con.execute("BEGIN")  # one transaction: all or nothing
                try:
                    # Identifiers only, each quoted (sqlite3 has no quoting helper); values
                    # are bound as parameters.
                    if mode == "replace":
                        self._con.execute("DROP TABLE IF EXISTS " + target)
                    if mode in ("create", "replace"):
                        self._con.execute("CREATE TABLE " + target + " (" + cols + ")")
                    insert = "INSERT INTO " + target + " VALUES (" + marks + ")"
                    for batch in reader:
                        columns = [c.to_pylist() for c in batch.columns]
                        rows = [
                            tuple(_sqlite_value(v) for v in r) for r in zip(*columns, strict=True)
                        ]
                        self._con.executemany(insert, rows)
                        count += batch.num_rows
                    self._con.execute("COMMIT")
                except BaseException:
                    self._con.execute("ROLLBACK")
                    raise
            except (sqlite3.Error, OverflowError) as exc:  # e.g. a uint64 above SQLite's range
                raise self._error(exc) from None
        return count

    def cancel(self) -> None:
        """Interrupt the running statement (sqlite3 allows this from another thread)."""
        self._con.interrupt()

    def catalog(self) -> Catalog:
        """Tables and views from sqlite_schema, columns and keys from the pragmas."""
        b = CatalogBuilder()
        with self._lock:
            try:
                objs = self._con.execute(
                    "select name, type from sqlite_schema where type in ('table','view') "
                    "and name not like 'sqlite_%' order by name"
                ).fetchall()
                for name, kind in objs:
                    b.add_column("main", name, kind, None, None)
                    pk: list[tuple[int, str]] = []
                    for _cid, col, type_, notnull, default, pk_pos in self._con.execute(
                        "select * from pragma_table_info(?)", (name,)
                    ):
                        b.add_column("main", name, kind, col, type_, not notnull, default)
                        if pk_pos:
                            pk.append((pk_pos, col))
                    b.set_primary_key("main", name, tuple(c for _, c in sorted(pk)))
                    fks: dict[int, list[tuple[str, str, str]]] = {}
                    for row in self._con.execute(
                        'select id, seq, "table", "from", "to" '
                        "from pragma_foreign_key_list(?) order by id, seq",
                        (name,),
                    ):
                        fks.setdefault(row[0], []).append((row[2], row[3], row[4]))
                    for parts in fks.values():
                        ref = parts[0][0]
                        b.add_foreign_key(
                            "main",
                            name,
                            ForeignKey(
                                tuple(p[1] for p in parts),
                                "main",
                                ref,
                                tuple(p[2] for p in parts if p[2] is not None),
                            ),
                        )
            except sqlite3.Error as exc:
                raise self._error(exc) from None
        return b.build()

    def confine(self, roots: Sequence[Path], *, write: bool = True) -> None:
        """ATTACH and VACUUM INTO (the statements that open other files) only inside `roots`,
        and not at all without `write` (an attached file is writable); extension loading
        stays off (sqlite3's default)."""
        with self._lock:
            self._roots = tuple(roots)
            self._write_files = write
            self._con.set_authorizer(self._authorize)

    @property
    def confined(self) -> bool:
        """True once `confine` ran: files only inside the data roots."""
        return self._roots is not None

    def set_read_only(self) -> None:
        """SQLite's own query_only mode: the engine refuses every write to a database; the
        authorizer refuses turning it off (setting pragmas), ATTACH and DETACH."""
        with self._lock:
            self._con.execute("PRAGMA query_only = 1")  # before the authorizer refuses pragmas
            self._read_only = True
            self._con.set_authorizer(self._authorize)

    def _authorize(self, action: int, arg1: str | None, arg2: str | None, *_: object) -> int:
        """The sqlite3 authorizer: what confine and set_read_only allow."""
        if self._read_only:
            # query_only makes SQLite refuse every write itself; the authorizer keeps it on.
            if action == sqlite3.SQLITE_DETACH:
                return sqlite3.SQLITE_DENY
            if action == sqlite3.SQLITE_PRAGMA and arg2 is not None:
                # Setting a pragma (query_only = 0, writable_schema …); the table pragmas
                # that take a name only read.
                return sqlite3.SQLITE_OK if arg1 in _READING_PRAGMAS else sqlite3.SQLITE_DENY
        if action != sqlite3.SQLITE_ATTACH or self._roots is None and not self._read_only:
            return sqlite3.SQLITE_OK
        if arg1 in ("", ":memory:") or (
            self._write_files
            and not self._read_only
            and arg1 is not None
            and not arg1.startswith("file:")
            and inside_roots(arg1, self._roots or ())
        ):
            return sqlite3.SQLITE_OK
        self._refused = repr(arg1) if arg1 else "A computed file name"
        return sqlite3.SQLITE_DENY

    def close(self) -> None:
        """Close the connection."""
        self._con.close()


_READING_PRAGMAS = frozenset(
    {
        "table_info",
        "table_xinfo",
        "table_list",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
        "foreign_key_check",
        "integrity_check",
        "quick_check",
    }
)


class SQLiteEngine(ConfiguredEngine, SQLiteAbilities):
    """SQLite on a file (or in memory)."""

    def connect(self) -> SQLiteConnection:
        """Open the file (created if missing, like the sqlite3 shell) in autocommit mode."""
        path = database_file(self.spec.path, "SQLite")
        try:
            con = sqlite3.connect(
                path, timeout=CONNECT_TIMEOUT_S, check_same_thread=False, isolation_level=None
            )
            # Touch the file so a corrupt or non-SQLite file fails here, not at the first query.
            con.execute("select count(*) from sqlite_schema").fetchone()
        except sqlite3.Error as exc:
            raise ConnectionFailed(
                f"Could not open SQLite database {path}: {exc}", "Cannot open SQLite file"
            ) from None
        return SQLiteConnection(con)
