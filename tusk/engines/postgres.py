"""PostgreSQL adapter: psycopg 3 for interactive work, DuckDB's postgres scanner for bulk Arrow."""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import psycopg
import psycopg.conninfo
import pyarrow as pa
from psycopg import sql as pgsql
from psycopg.types.string import TextLoader

from tusk.catalog import Catalog, CatalogBuilder, ForeignKey
from tusk.engines import pg_conninfo, pg_schema
from tusk.engines.abilities import PostgresAbilities
from tusk.engines.base import (
    CONNECT_TIMEOUT_S,
    Abilities,
    ConfiguredEngine,
    Params,
    check_params,
    check_text,
)
from tusk.engines.pg_bulk import ScannerBulkPath
from tusk.engines.pg_errors import READ_ONLY_MESSAGE, connect_message, query_error
from tusk.engines.pg_types import Field, arrow_schema, convert, fields_of, load_as_text
from tusk.engines.result import QueryResult, empty_table
from tusk.errors import ConnectionFailed, QueryFailed
from tusk.schemadiff.model import SchemaSnapshot
from tusk.sqltext import first_keyword, split

_ROW_RETURNING = {"SELECT", "WITH", "VALUES", "TABLE"}
_STREAM_BATCH = 50_000
_cursor_ids = itertools.count()


_CANCEL_STREAMS = """
select pg_cancel_backend(pid) from pg_stat_activity
where application_name = any(%s) and pid <> pg_backend_pid()
"""


class PostgresConnection(ScannerBulkPath):
    """One psycopg connection in autocommit mode; `cancel` is safe from any thread."""

    engine: ClassVar[str] = "postgres"
    abilities: ClassVar[type[Abilities]] = PostgresAbilities

    def __init__(self, conn: psycopg.Connection, conninfo: str, secret: str | None) -> None:
        self._conn = conn
        self._conninfo = conninfo  # kept in memory only, for the bulk (DuckDB scanner) path
        self._secret = secret
        self._lock = threading.Lock()
        # application_name → the DuckDB reading the stream (None until it is open)
        self._streams: dict[str, Any] = {}
        self._cancelled: set[str] = set()  # streams cancel() stopped
        self._read_only = False  # set_read_only: each statement in a READ ONLY transaction
        self._confined = False  # confine ran (nothing else to do on a server)
        self._stream_path = ""  # the last stream_arrow's path, for tests and bench/pg_fetch.py

    @property
    def raw(self) -> psycopg.Connection:
        """The psycopg connection, for tusk.admin."""
        return self._conn

    def execute(self, sql: str, params: Params = None, *, limit: int | None = 1000) -> QueryResult:
        """Run statements in order; a row-returning last statement is read through a
        server-side cursor so only limit + 1 rows ever leave the server."""
        start = time.perf_counter()
        check_text(sql)
        check_params(params)
        statements = split(sql, "postgres")
        if not statements:
            raise QueryFailed("There is no SQL to run.", "Empty query")
        with self._lock:
            offset = 0
            try:
                for stmt in statements[:-1]:
                    offset = stmt.start
                    with self._read_only_transaction(), self._conn.cursor() as cur:
                        cur.execute(stmt.text, prepare=self._read_only or None)
                offset = statements[-1].start
                last = statements[-1].text
                with self._read_only_transaction():
                    if limit is not None and first_keyword(last, "postgres") in _ROW_RETURNING:
                        try:
                            table, truncated = self._first_rows(last, params, limit)
                        except _NotDeclarable:
                            pass  # fall through to a plain cursor
                        else:
                            return QueryResult(table, truncated, time.perf_counter() - start, sql)
                    return self._plain(last, params, limit, sql, start)
            except (psycopg.Error, UnicodeEncodeError) as exc:
                err = query_error(exc, self._secret, self._conn)
                if isinstance(err, QueryFailed) and err.position is not None:
                    err.position += offset - getattr(exc, "tusk_prefix", 0)
                if self._read_only and isinstance(err, QueryFailed) and "read-only" in err.message:
                    err.message += "\n\n" + READ_ONLY_MESSAGE
                    err.title = "Read-only session"
                    err.args = (err.message,)
                raise err from None

    @contextlib.contextmanager
    def _read_only_transaction(self) -> Iterator[None]:
        """On a read-only session: one READ ONLY transaction around a statement, with its
        snapshot taken first (so SET TRANSACTION READ WRITE is refused), rolled back after.
        The statement itself goes through the extended protocol (prepared), which carries
        exactly one statement: a COMMIT inside it can end the transaction but nothing after
        it can run. Elsewhere: nothing."""
        if not self._read_only:
            yield
            return
        self._conn.execute("BEGIN TRANSACTION READ ONLY; SELECT 1")
        try:
            yield
        finally:
            if self._conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                with contextlib.suppress(psycopg.Error):
                    self._conn.execute("ROLLBACK")

    def _first_rows(self, stmt: str, params: Params, limit: int) -> tuple[pa.Table, bool]:
        """Fetch limit + 1 rows with a named cursor; _NotDeclarable if DECLARE refuses it."""
        name = f"tusk_{next(_cursor_ids)}"
        with self._conn.transaction():
            cur = self._conn.cursor(name=name)
            load_as_text(cur)
            try:
                try:
                    cur.execute(stmt, params)
                except (psycopg.errors.FeatureNotSupported, psycopg.errors.SyntaxError):
                    # e.g. SELECT … INTO, or a data-modifying WITH: DECLARE refuses these
                    # at parse time, before anything ran, so running it plainly is safe.
                    raise _NotDeclarable() from None
                except psycopg.Error as exc:
                    # The server counts positions from the start of "DECLARE … FOR ".
                    # An attribute of our own on the driver's exception, read by pg_errors.
                    setattr(exc, "tusk_prefix", len(f'DECLARE "{name}" CURSOR FOR '))  # noqa: B010
                    raise
                rows = cur.fetchmany(limit + 1)
                fields = self._cursor_fields(cur)
            finally:
                cur.close()
        truncated = len(rows) > limit
        return convert(rows[:limit], fields, arrow_schema(fields)), truncated

    @staticmethod
    def _cursor_fields(cur: psycopg.Cursor[Any]) -> list[Field]:
        """The described columns of a cursor's current result."""
        names = [d.name for d in cur.description or ()]
        return fields_of(cur.pgresult, names)

    def _plain(
        self, stmt: str, params: Params, limit: int | None, script: str, start: float
    ) -> QueryResult:
        with self._conn.cursor() as cur:
            load_as_text(cur)
            cur.execute(stmt, params, prepare=self._read_only or None)
            if cur.description is None:
                affected = cur.rowcount if cur.rowcount >= 0 else None
                return QueryResult(
                    empty_table(), False, time.perf_counter() - start, script, affected
                )
            fields = self._cursor_fields(cur)
            rows = cur.fetchmany(limit + 1) if limit is not None else cur.fetchall()
            kept = rows[:limit] if limit is not None else rows
            table = convert(kept, fields, arrow_schema(fields))
            affected = (
                cur.rowcount if first_keyword(stmt, "postgres") not in _ROW_RETURNING else None
            )
            truncated = limit is not None and len(rows) > limit
        return QueryResult(table, truncated, time.perf_counter() - start, script, affected)

    def _stream_cursor(
        self, sql: str, params: Params, schema: pa.Schema | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Server-side cursor fetch in 50,000-row batches (the fallback bulk path), every
        batch in `schema` (by default the one the cursor's description gives)."""
        with self._lock:
            try:
                with (
                    self._conn.transaction(),
                    self._conn.cursor(name=f"tusk_{next(_cursor_ids)}") as cur,
                ):
                    load_as_text(cur)
                    cur.execute(sql, params)
                    fields: list[Field] | None = None
                    while True:
                        rows = cur.fetchmany(_STREAM_BATCH)
                        if not rows:
                            return
                        if fields is None:
                            fields = self._cursor_fields(cur)
                            if schema is None or len(schema) != len(fields):
                                schema = arrow_schema(fields)
                        yield from convert(rows, fields, schema, strict=True).to_batches()
            except (psycopg.Error, UnicodeEncodeError) as exc:
                raise query_error(exc, self._secret, self._conn) from None

    def cancel(self) -> None:
        """Ask the server to cancel the running statement and any stream (safe from another
        thread); a stream's scanner sessions are found by their application_name."""
        # psycopg.Error here means nothing was running, or the server already finished.
        with contextlib.suppress(psycopg.Error):
            self._conn.cancel_safe(timeout=CONNECT_TIMEOUT_S)
        streams = dict(self._streams)
        if not streams:
            return
        self._cancelled.update(streams)
        for duck in streams.values():
            if duck is None:
                continue  # not begun yet: the stream sees it is cancelled when it starts
            with contextlib.suppress(Exception):
                duck.interrupt()
        # The scanner may wait on the server (no rows yet), where DuckDB's interrupt is not
        # seen: cancel its sessions on the server from a short connection of our own.
        with (
            contextlib.suppress(psycopg.Error),
            psycopg.connect(
                self._conninfo, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True
            ) as admin,
        ):
            admin.execute(_CANCEL_STREAMS, [list(streams)])

    def catalog(self) -> Catalog:
        """Two catalog queries: columns of every relation, then PK/FK constraints (their
        columns as numbers, named from the first query's rows), in one transaction under a
        statement timeout (a server that stops answering is an error, not a hung page)."""
        with self._lock:
            try:
                with self._conn.transaction(), self._conn.cursor() as cur:
                    cur.execute(
                        "select set_config('statement_timeout', %s, true)",
                        (pg_schema.STATEMENT_TIMEOUT,),
                    )
                    cols = cur.execute(_CATALOG_COLUMNS).fetchall()
                    cons = cur.execute(_CATALOG_CONSTRAINTS).fetchall()
            except psycopg.Error as exc:
                raise query_error(exc, self._secret, self._conn) from None
        b = CatalogBuilder()
        relations: dict[int, tuple[str, str]] = {}  # oid → (schema, name)
        attnames: dict[tuple[int, int], str] = {}  # (oid, attnum) → column name
        for oid, schema, table, kind, num, col, type_, nullable, default, rows in cols:
            b.add_column(schema, table, kind, col, type_, nullable, default)
            if oid not in relations:
                relations[oid] = (schema, table)
                if kind == "table":
                    b.set_row_estimate(schema, table, rows)
            if col is not None:
                attnames[(oid, num)] = col
        for relid, contype, name, keys, ref_relid, ref_keys in cons:
            # A constraint of a relation not listed (a partition, a system schema) is skipped,
            # and so is the copy of a key PostgreSQL keeps for each partition it references.
            owner = relations.get(relid)
            if owner is None:
                continue
            columns = tuple(attnames.get((relid, k), "?") for k in keys or ())
            if contype == "p":
                b.set_primary_key(*owner, columns)
                continue
            target = relations.get(ref_relid)
            if target is None:
                continue
            ref_columns = tuple(attnames.get((ref_relid, k), "?") for k in ref_keys or ())
            b.add_foreign_key(*owner, ForeignKey(columns, *target, ref_columns, name))
        return b.build()

    def describe_schema(self, schema: str) -> SchemaSnapshot:
        """One schema's full definition (tusk.engines.pg_schema), under a statement timeout."""
        check_text(schema, f"The schema name {schema!r}")
        with self._lock:
            try:
                return pg_schema.describe(self._conn, schema)
            except psycopg.Error as exc:
                raise query_error(exc, self._secret, self._conn) from None

    def confine(self, roots: Any, *, write: bool = True) -> None:
        """Nothing to do: the server reads files only for roles granted pg_read_server_files
        (or superuser), which is the DBA's call, not a Tusk user's; only the flag is kept."""
        self._confined = True

    @property
    def confined(self) -> bool:
        """True once `confine` ran: files only inside the data roots."""
        return self._confined

    def set_read_only(self) -> None:
        """Every statement from now on runs alone in a READ ONLY transaction (and the session
        defaults to read-only too): the server refuses any write. What a superuser may still
        do read-only (pg_read_file, COPY TO PROGRAM, pg_terminate_backend) is the DBA's to
        refuse with a PostgreSQL role of lesser rights."""
        with self._lock:
            try:
                self._conn.execute("SET default_transaction_read_only = on")
            except psycopg.Error as exc:
                raise query_error(exc, self._secret, self._conn) from None
            self._read_only = True

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()


class _NotDeclarable(Exception):
    pass


# Constraint columns come as attribute numbers, named from the columns query's rows: naming
# them in SQL (a subquery per key over pg_attribute) took 200 ms of a 3,000-table catalog read,
# the numbers take 10 ms (bench/diagram.py).
_CATALOG_COLUMNS = """
select c.oid, n.nspname, c.relname,
       case when c.relkind in ('v', 'm') then 'view' else 'table' end,
       a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), not a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), c.reltuples::bigint
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
left join pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
where c.relkind in ('r', 'p', 'v', 'm', 'f')
  and not c.relispartition
  and n.nspname not in ('pg_catalog', 'information_schema')
  and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp%'
order by n.nspname, c.relname, a.attnum
"""

_CATALOG_CONSTRAINTS = """
select k.conrelid, k.contype, k.conname, k.conkey, k.confrelid, k.confkey
from pg_constraint k
where k.contype in ('p', 'f') and k.conrelid <> 0
order by k.conname
"""


class PostgresEngine(ConfiguredEngine, PostgresAbilities):
    """PostgreSQL over psycopg 3."""

    def conninfo(self) -> str:
        """A libpq connection string (holds the password: never log or show it)."""
        return pg_conninfo.conninfo(self.spec)

    def connect(self) -> PostgresConnection:
        """Connect in autocommit mode; refusals and timeouts become ConnectionFailed."""
        info = self.conninfo()
        secret = self.spec.secret()
        try:
            conn = psycopg.connect(info, autocommit=True)
            # Keep PostgreSQL's own JSON text: parsing it into Python objects only to dump it
            # again cost half the first-page time (bench/pg_fetch.py) and rounded JSON floats.
            for json_type in ("json", "jsonb"):
                conn.adapters.register_loader(json_type, TextLoader)
        except psycopg.Error as exc:
            raise ConnectionFailed(connect_message(exc, self.spec, secret)) from None
        return PostgresConnection(conn, info, secret)


def identifier(*names: str) -> pgsql.Identifier:
    """A (qualified) identifier quoted by psycopg, for generated SQL; BadInput for a name with
    a NUL, which psycopg's quoting silently cuts off (Identifier('a\\x00b') is "a")."""
    for name in names:
        check_text(name, f"The name {name!r}")
    return pgsql.Identifier(*names)
