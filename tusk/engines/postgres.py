"""PostgreSQL adapter: psycopg 3 for interactive work, DuckDB's postgres scanner for bulk Arrow."""

from __future__ import annotations

import contextlib
import itertools
import re
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import psycopg
import psycopg.conninfo
import pyarrow as pa
from psycopg import sql as pgsql
from psycopg.types.string import TextLoader

from tusk.catalog import Catalog, CatalogBuilder, ForeignKey
from tusk.engines.base import (
    CONNECT_TIMEOUT_S,
    LoadMode,
    Params,
    as_batches,
    first_keyword,
    rows_to_arrow,
    split_statements,
    sql_literal,
)
from tusk.engines.result import QueryResult, empty_table
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput, ConnectionFailed, QueryCancelled, QueryFailed

_ROW_RETURNING = {"SELECT", "WITH", "VALUES", "TABLE"}
_STREAM_BATCH = 50_000
_cursor_ids = itertools.count()

# Arrow types for the common PostgreSQL type OIDs; anything else is inferred from the values.
_OID_TYPES: dict[int, pa.DataType] = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    26: pa.int64(),
    700: pa.float32(),
    701: pa.float64(),
    25: pa.string(),
    1042: pa.string(),
    1043: pa.string(),
    19: pa.string(),
    18: pa.string(),
    1082: pa.date32(),
    1083: pa.time64("us"),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
    1186: pa.duration("us"),
    17: pa.binary(),
    2950: pa.string(),
    114: pa.string(),
    3802: pa.string(),
}
_TEXT_OIDS = {2950}  # uuid → text
_JSON_OIDS = {114, 3802}


def _convert(rows: list[tuple], description: Any) -> pa.Table:
    """psycopg rows → Arrow, with types taken from the result's type OIDs."""
    names = [d.name for d in description]
    types = [_OID_TYPES.get(d.type_code) for d in description]
    # json/jsonb arrive as text (see connect): only uuid needs turning into a string here.
    special = [i for i, d in enumerate(description) if d.type_code in _TEXT_OIDS]
    if special and rows:
        fixed = []
        for row in rows:
            r = list(row)
            for i in special:
                v = r[i]
                if v is not None:
                    r[i] = str(v)
            fixed.append(r)
        rows = fixed
    return rows_to_arrow(names, rows, types)


def _error(exc: Exception, secret: str | None = None) -> QueryFailed | QueryCancelled:
    """Map a psycopg error to a Tusk error carrying the server's message and position."""
    if isinstance(exc, psycopg.errors.QueryCanceled):
        msg = str(exc).strip()
        if "statement timeout" in msg:
            return QueryFailed(msg, "Statement timeout")
        return QueryCancelled("The query was cancelled.")
    msg = _DECLARE.sub(_undeclare, str(exc).strip() or type(exc).__name__)
    msg = _scrub(msg, secret)
    pos = None
    diag = getattr(exc, "diag", None)
    if diag is not None and diag.statement_position:
        try:
            pos = int(diag.statement_position)
        except ValueError:
            pos = None
    return QueryFailed(msg, position=pos)


# The server quotes the failing line; for a first page that line starts with our DECLARE.
_DECLARE = re.compile(r'^(LINE \d+: )DECLARE "tusk_\d+" CURSOR FOR (.*)\n( *)\^', re.MULTILINE)


def _undeclare(m: re.Match[str]) -> str:
    """The quoted line and its caret without Tusk's DECLARE prefix."""
    cut = len(m.group(0).split("\n")[0]) - len(m.group(1)) - len(m.group(2))
    caret = " " * max(len(m.group(3)) - cut, len(m.group(1)))
    return f"{m.group(1)}{m.group(2)}\n{caret}^"


def _scrub(message: str, secret: str | None) -> str:
    """Remove a password from a message, should a driver ever echo it."""
    if secret:
        return message.replace(secret, "********")
    return message


class PostgresConnection:
    """One psycopg connection in autocommit mode; `cancel` is safe from any thread."""

    def __init__(self, conn: psycopg.Connection, conninfo: str, secret: str | None) -> None:
        self._conn = conn
        self._conninfo = conninfo  # kept in memory only, for the bulk (DuckDB scanner) path
        self._secret = secret
        self._lock = threading.Lock()

    @property
    def raw(self) -> psycopg.Connection:
        """The psycopg connection, for tusk.admin."""
        return self._conn

    def execute(self, sql: str, params: Params = None, *, limit: int | None = 1000) -> QueryResult:
        """Run statements in order; a row-returning last statement is read through a
        server-side cursor so only limit + 1 rows ever leave the server."""
        start = time.perf_counter()
        statements = split_statements(sql)
        if not statements:
            raise QueryFailed("There is no SQL to run.", "Empty query")
        with self._lock:
            offset = 0
            try:
                for stmt in statements[:-1]:
                    offset = sql.find(stmt, offset)
                    with self._conn.cursor() as cur:
                        cur.execute(stmt)
                    offset += len(stmt)
                last = statements[-1]
                offset = sql.find(last, offset)
                if limit is not None and first_keyword(last) in _ROW_RETURNING:
                    try:
                        table, truncated = self._first_rows(last, params, limit)
                    except _NotDeclarable:
                        pass  # fall through to a plain cursor
                    else:
                        return QueryResult(table, truncated, time.perf_counter() - start, sql)
                return self._plain(last, params, limit, sql, start)
            except psycopg.Error as exc:
                err = _error(exc, self._secret)
                if isinstance(err, QueryFailed) and err.position is not None:
                    err.position += offset - getattr(exc, "tusk_prefix", 0)
                raise err from None

    def _first_rows(self, stmt: str, params: Params, limit: int) -> tuple[pa.Table, bool]:
        """Fetch limit + 1 rows with a named cursor; _NotDeclarable if DECLARE refuses it."""
        name = f"tusk_{next(_cursor_ids)}"
        with self._conn.transaction():
            cur = self._conn.cursor(name=name)
            try:
                try:
                    cur.execute(stmt, params)
                except (psycopg.errors.FeatureNotSupported, psycopg.errors.SyntaxError):
                    # e.g. SELECT … INTO, or a data-modifying WITH: DECLARE refuses these
                    # at parse time, before anything ran, so running it plainly is safe.
                    raise _NotDeclarable() from None
                except psycopg.Error as exc:
                    # The server counts positions from the start of "DECLARE … FOR ".
                    exc.tusk_prefix = len(f'DECLARE "{name}" CURSOR FOR ')  # type: ignore[attr-defined]
                    raise
                rows = cur.fetchmany(limit + 1)
                description = cur.description
            finally:
                cur.close()
        truncated = len(rows) > limit
        return _convert(rows[:limit], description), truncated

    def _plain(
        self, stmt: str, params: Params, limit: int | None, script: str, start: float
    ) -> QueryResult:
        with self._conn.cursor() as cur:
            cur.execute(stmt, params)
            if cur.description is None:
                affected = cur.rowcount if cur.rowcount >= 0 else None
                return QueryResult(
                    empty_table(), False, time.perf_counter() - start, script, affected
                )
            rows = cur.fetchmany(limit + 1) if limit is not None else cur.fetchall()
            table = _convert(rows[:limit] if limit is not None else rows, cur.description)
            affected = cur.rowcount if first_keyword(stmt) not in _ROW_RETURNING else None
            truncated = limit is not None and len(rows) > limit
        return QueryResult(table, truncated, time.perf_counter() - start, script, affected)

    def stream_arrow(self, sql: str, params: Params = None) -> Iterator[pa.RecordBatch]:
        """Stream a full result via DuckDB's postgres scanner (binary COPY, Arrow out);
        falls back to a server-side cursor for types the scanner cannot read."""
        from tusk.engines.duckdb import open_duckdb  # the bulk path rides on DuckDB

        query = sql.strip().rstrip(";")
        if params is not None:
            with psycopg.ClientCursor(self._conn) as cc:
                query = cc.mogrify(query, params)
        table = self._whole_table(query) if params is None else None
        duck = open_duckdb(None, ["postgres_scanner"])
        try:
            try:
                if table is not None:
                    # A whole table: the scanner splits it into ctid ranges read in parallel.
                    duck.execute("SELECT * FROM postgres_scan(?, ?, ?)", [self._conninfo, *table])
                else:
                    # ATTACH takes no parameters: the connection string goes in as a literal.
                    duck.execute(
                        "ATTACH "
                        + sql_literal(self._conninfo)
                        + " AS pg (TYPE postgres, READ_ONLY)"
                    )
                    duck.execute("SELECT * FROM postgres_query('pg', ?)", [query])
                reader = duck.to_arrow_reader(100_000)
            except Exception as exc:  # noqa: BLE001 - any scanner failure → cursor path
                if _is_user_error(exc):
                    raise QueryFailed(_scrub(_server_message(str(exc)), self._secret)) from None
                duck.close()
                duck = None
                yield from self._stream_cursor(sql, params)
                return
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except Exception as exc:  # noqa: BLE001
                    raise QueryFailed(_scrub(str(exc), self._secret)) from None
                yield batch
        finally:
            if duck is not None:
                duck.close()

    def _whole_table(self, query: str) -> tuple[str, str] | None:
        """(schema, table) when the query reads one whole table or materialized view."""
        m = _WHOLE_TABLE.match(query)
        if not m:
            return None
        with self._lock:
            try:
                with self._conn.cursor() as cur:
                    row = cur.execute(_RESOLVE_RELATION, (m.group("name"),)).fetchone()
            except psycopg.Error:
                return None  # not a plain name after all: the general path handles it
        return (row[0], row[1]) if row else None

    def _stream_cursor(self, sql: str, params: Params) -> Iterator[pa.RecordBatch]:
        """Server-side cursor fetch in 50,000-row batches (the fallback bulk path)."""
        schema: pa.Schema | None = None
        with self._lock:
            try:
                with (
                    self._conn.transaction(),
                    self._conn.cursor(name=f"tusk_{next(_cursor_ids)}") as cur,
                ):
                    cur.execute(sql, params)
                    while True:
                        rows = cur.fetchmany(_STREAM_BATCH)
                        if not rows:
                            return
                        table = _convert(rows, cur.description)
                        if schema is None:
                            schema = table.schema
                        elif table.schema != schema:
                            table = table.cast(schema, safe=False)
                        yield from table.to_batches()
            except psycopg.Error as exc:
                raise _error(exc, self._secret) from None

    def load_arrow(
        self,
        table: str,
        batches: Iterable[pa.RecordBatch] | pa.Table,
        *,
        mode: LoadMode = "create",
        schema: str | None = None,
    ) -> int:
        """Bulk-load: DuckDB's scanner writes a scratch table (binary COPY), then one psycopg
        transaction moves it into place, so `replace` swaps atomically and names are quoted
        by psycopg.sql."""
        from tusk.engines.duckdb import open_duckdb

        if mode not in ("create", "append", "replace"):
            raise BadInput(f"Unknown load mode {mode!r}: use create, append or replace.")
        reader = as_batches(batches)
        rows = 0

        def counted() -> Iterator[pa.RecordBatch]:
            nonlocal rows
            for batch in reader:
                rows += batch.num_rows
                yield batch

        scratch = f"__tusk_load_{uuid.uuid4().hex}"  # generated: no user text in DuckDB SQL
        duck = open_duckdb(None, ["postgres_scanner"])
        try:
            duck.execute("ATTACH " + sql_literal(self._conninfo) + " AS pg (TYPE postgres)")
            duck.register("__tusk_src", pa.RecordBatchReader.from_batches(reader.schema, counted()))
            duck.execute("CREATE TABLE pg.public." + scratch + " AS SELECT * FROM __tusk_src")
        except Exception as exc:  # noqa: BLE001 - DuckDB/PG errors surface as one message
            self._drop_scratch(scratch)
            raise QueryFailed(_scrub(str(exc), self._secret), "Load failed") from None
        finally:
            duck.close()
        target = pgsql.Identifier(schema or "public", table)
        source = pgsql.Identifier("public", scratch)
        with self._lock:
            try:
                with self._conn.transaction(), self._conn.cursor() as cur:
                    if mode == "append":
                        cur.execute(
                            pgsql.SQL("INSERT INTO {} SELECT * FROM {}").format(target, source)
                        )
                        cur.execute(pgsql.SQL("DROP TABLE {}").format(source))
                    else:
                        if mode == "replace":
                            cur.execute(pgsql.SQL("DROP TABLE IF EXISTS {}").format(target))
                        if (schema or "public") != "public":
                            cur.execute(
                                pgsql.SQL("ALTER TABLE {} SET SCHEMA {}").format(
                                    source, pgsql.Identifier(schema or "public")
                                )
                            )
                            source = pgsql.Identifier(schema or "public", scratch)
                        cur.execute(
                            pgsql.SQL("ALTER TABLE {} RENAME TO {}").format(
                                source, pgsql.Identifier(table)
                            )
                        )
            except psycopg.Error as exc:
                failed: QueryFailed | None = QueryFailed(
                    _error(exc, self._secret).message, "Load failed"
                )
            else:
                failed = None
        if failed is not None:
            self._drop_scratch(scratch)  # outside the lock: it takes the lock itself
            raise failed
        return rows

    def _drop_scratch(self, scratch: str) -> None:
        """Remove a load's scratch table after a failure (it may not exist)."""
        with self._lock, contextlib.suppress(psycopg.Error), self._conn.cursor() as cur:
            cur.execute(
                pgsql.SQL("DROP TABLE IF EXISTS {}").format(pgsql.Identifier("public", scratch))
            )

    def cancel(self) -> None:
        """Ask the server to cancel the running statement (safe from another thread)."""
        # psycopg.Error here means nothing was running, or the server already finished.
        with contextlib.suppress(psycopg.Error):
            self._conn.cancel_safe(timeout=CONNECT_TIMEOUT_S)

    def catalog(self) -> Catalog:
        """Two catalog queries: columns of every relation, then PK/FK constraints."""
        with self._lock:
            try:
                with self._conn.cursor() as cur:
                    cols = cur.execute(_CATALOG_COLUMNS).fetchall()
                    cons = cur.execute(_CATALOG_CONSTRAINTS).fetchall()
            except psycopg.Error as exc:
                raise _error(exc, self._secret) from None
        b = CatalogBuilder()
        for schema, table, kind, col, type_, nullable, default, rows in cols:
            b.add_column(schema, table, kind, col, type_, nullable, default)
            if kind == "table":
                b.set_row_estimate(schema, table, rows)
        for schema, table, contype, name, columns, ref_schema, ref_table, ref_columns in cons:
            if contype == "p":
                b.set_primary_key(schema, table, tuple(columns))
            else:
                b.add_foreign_key(
                    schema,
                    table,
                    ForeignKey(tuple(columns), ref_schema, ref_table, tuple(ref_columns), name),
                )
        return b.build()

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()


class _NotDeclarable(Exception):
    pass


def _server_message(text: str) -> str:
    """PostgreSQL's own words from a scanner error, without DuckDB's wrapper around them."""
    if "ERROR:" not in text:
        return text
    message = text.split("ERROR:", 1)[1].strip()
    wrapper = message.find("LINE 1: SELECT * FROM postgres_query(")
    return message[:wrapper].strip() if wrapper >= 0 else message


def _is_user_error(exc: Exception) -> bool:
    """True when PostgreSQL itself rejected the query (so the fallback would fail the same)."""
    text = str(exc)
    return "Failed to prepare COPY" in text or "ERROR:" in text


# `select * from <name>` or `table <name>`, the name possibly schema-qualified and quoted.
_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)'
_WHOLE_TABLE = re.compile(
    rf"^\s*(?:select\s+\*\s+from|table)\s+(?P<name>{_NAME}(?:\s*\.\s*{_NAME})?)\s*$",
    re.IGNORECASE,
)
# to_regclass resolves the name exactly as the server would (search_path, quoting).
_RESOLVE_RELATION = """
select n.nspname, c.relname from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where c.oid = to_regclass(%s) and c.relkind in ('r', 'm')
"""

_CATALOG_COLUMNS = """
select n.nspname, c.relname,
       case when c.relkind in ('v', 'm') then 'view' else 'table' end,
       a.attname, format_type(a.atttypid, a.atttypmod), not a.attnotnull,
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
select n.nspname, c.relname, k.contype, k.conname,
       array(select a.attname from unnest(k.conkey) with ordinality u(num, ord)
             join pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.num
             order by u.ord)::text[],
       fn.nspname, fc.relname,
       array(select a.attname from unnest(k.confkey) with ordinality u(num, ord)
             join pg_attribute a on a.attrelid = k.confrelid and a.attnum = u.num
             order by u.ord)::text[]
from pg_constraint k
join pg_class c on c.oid = k.conrelid
join pg_namespace n on n.oid = c.relnamespace
left join pg_class fc on fc.oid = k.confrelid
left join pg_namespace fn on fn.oid = fc.relnamespace
where k.contype in ('p', 'f')
  and n.nspname not in ('pg_catalog', 'information_schema')
order by n.nspname, c.relname, k.conname
"""


class PostgresEngine:
    """PostgreSQL over psycopg 3."""

    name: ClassVar[str] = "postgres"
    label: ClassVar[str] = "PostgreSQL"
    supports_cancel: ClassVar[bool] = True
    paramstyle: ClassVar[str] = "format"

    def __init__(self, spec: ConnectionSpec) -> None:
        self.spec = spec

    def conninfo(self) -> str:
        """A libpq connection string (holds the password: never log or show it)."""
        s = self.spec
        params: dict[str, Any] = {
            "host": s.host or "localhost",
            "port": s.port or 5432,
            "dbname": s.database or "postgres",
            "user": s.user or "postgres",
            "connect_timeout": CONNECT_TIMEOUT_S,
            "application_name": "tusk",
        }
        secret = s.secret()
        if secret:
            params["password"] = secret
        params.update(s.options)
        return psycopg.conninfo.make_conninfo(**params)

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
            raise ConnectionFailed(_connect_message(exc, self.spec, secret)) from None
        return PostgresConnection(conn, info, secret)


def _connect_message(exc: Exception, spec: ConnectionSpec, secret: str | None) -> str:
    """The server's reason, plus a hint of what to check."""
    text = _scrub(str(exc).strip(), secret)
    where = f"{spec.host or 'localhost'}:{spec.port or 5432}"
    low = text.lower()
    if "timeout" in low or "timed out" in low:
        return (
            f"No answer from {where} within {CONNECT_TIMEOUT_S} s — is the host reachable? ({text})"
        )
    if "refused" in low:
        return f"Connection refused by {where} — is the server running? ({text})"
    if "password authentication failed" in low:
        return f"Wrong user name or password for {where}. ({text})"
    return text


def identifier(*names: str) -> pgsql.Identifier:
    """A (qualified) identifier quoted by psycopg, for generated SQL."""
    return pgsql.Identifier(*names)
