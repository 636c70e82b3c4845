"""The PostgreSQL engine's bulk path: full results out (stream_arrow) and Arrow data in
(load_arrow) through DuckDB's postgres scanner (binary COPY), with the server-side cursor as
the fallback for what the scanner cannot read. PostgresConnection takes these methods from
ScannerBulkPath; they are apart so the engine's DuckDB use is one module (no import loop)."""

from __future__ import annotations

import contextlib
import re
import threading
import uuid
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

import psycopg
import psycopg.conninfo
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql as pgsql
from psycopg.pq import ExecStatus

from tusk.engines.base import (
    LoadMode,
    Params,
    check_load_mode,
    check_params,
    check_text,
    load_reader,
    sql_literal,
)
from tusk.engines.duckdb import open_duckdb
from tusk.engines.pg_conninfo import read_only_conninfo
from tusk.engines.pg_errors import READ_ONLY_MESSAGE, query_error, scrub
from tusk.engines.pg_types import (
    BPCHAR,
    DATE,
    ELEMENT,
    INET,
    LISTED,
    NUMERIC,
    TIMESTAMP,
    TIMESTAMPTZ,
    Field,
    arrow_schema,
    arrow_type,
    fields_of,
    unfit,
)
from tusk.errors import ConnectionLost, QueryCancelled, QueryFailed
from tusk.sqltext import code_end, split

# Types DuckDB's postgres scanner reads the way psycopg does (binary COPY, then a lossless
# cast to the schema); PostgreSQL renders any other column as text for the scanner, which
# would read numeric as double and NaN as 0, an interval as months/days/ns, inet with /32.
_SCANNER_READS = frozenset({16, 21, 23, 20, 26, 700, 701, 25, 1043, BPCHAR, 19, 17, 114, 3802})
_SCANNER_READS |= {2950, DATE, 1083, TIMESTAMP, TIMESTAMPTZ}
# The table scan casts every type the scanner does not know to VARCHAR on the server
# (`COPY (SELECT "c"::VARCHAR …)`): PostgreSQL's own text, as the query path asks for with
# ::text, so such a table keeps the parallel scan. These the scanner does know, and reads
# unlike PostgreSQL prints them, so a table holding one takes the query path: numeric
# without a precision or wider than 38 digits (a double), interval, timetz (offset dropped),
# the geometric types (lists or structs of doubles) and "char" (its raw byte).
_SCANNER_MISREADS = frozenset({NUMERIC, 1186, 1266, 18, 600, 601, 602, 603, 604, 628, 718})
# DuckDB's infinity (and -infinity) for dates and timestamps: no Arrow value says "infinity".
_INFINITIES = {
    pa.int32(): (2**31 - 1, -(2**31 - 1)),
    pa.int64(): (2**63 - 1, -(2**63 - 1)),
}


def _scanner_cast(field: Field, *, table_scan: bool = False) -> str | None:
    """How PostgreSQL renders a column for the scanner ({} is the column); None: as it is.
    A table scan reads numeric(p, s) itself, and stream_arrow guards it against NaN."""
    if field.oid in _SCANNER_READS:
        return None
    numeric = field.oid == NUMERIC
    if table_scan and numeric and pa.types.is_decimal(arrow_type(field.oid, field.typmod)):
        return None
    if field.oid == INET:
        return "abbrev({})"  # inet's own output; inet::text always adds the /32
    element = ELEMENT.get(field.oid)
    if element == NUMERIC:
        return "{}::text[]"
    return None if element in LISTED else "{}::text"


def _table_scan_read(field: Field) -> str | None:
    """How the table scan reads a column exactly: "as is", "text" (the scanner has
    PostgreSQL render it), "inet" (rendered, then without the netmask inet::text always
    adds); None when it cannot, so the query path must. "text" and "inet" hold only if the
    scanner does read the column as VARCHAR (stream_arrow checks its bound types)."""
    if _scanner_cast(field, table_scan=True) is None:
        return "as is"
    if field.oid == INET:
        return "inet"
    if field.oid in _SCANNER_MISREADS or field.oid in ELEMENT:
        return None  # built-in arrays: the scanner reads lists, the query path PostgreSQL's text
    return "text"


def _abbrev(col: pa.Array) -> pa.Array:
    """inet::text values as inet's own output: without a host's full /32 (IPv4) or /128."""
    ipv6 = pc.match_substring(col, ":")
    return pc.if_else(
        ipv6,
        pc.replace_substring_regex(col, "/128$", ""),
        pc.replace_substring_regex(col, "/32$", ""),
    )


def _scans_as_text(
    duck: Any, conninfo: str, table: tuple[str, str], reads: list[str | None]
) -> bool:
    """True when the scanner binds as VARCHAR every column _table_scan_read counts on it
    rendering as text (a type it knows itself, such as an array of an enum, it reads its way)."""
    if all(read == "as is" for read in reads):
        return True
    duck.execute("DESCRIBE SELECT * FROM postgres_scan(?, ?, ?)", [conninfo, *table])
    types = [row[1] for row in duck.fetchall()]
    return len(types) == len(reads) and all(
        read == "as is" or type_ == "VARCHAR" for read, type_ in zip(reads, types, strict=True)
    )


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """A scanner batch in the result's schema (lossless casts only; infinity is refused)."""
    if batch.schema != schema:
        columns = []
        for col, field in zip(batch.columns, schema, strict=True):
            if col.type != field.type:
                try:
                    col = col.cast(field.type)  # safe: a lossy cast raises
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise unfit(field.name, field.type, exc) from None
            columns.append(col)
        batch = pa.RecordBatch.from_arrays(columns, schema=schema)
    for field, col in zip(schema, batch.columns, strict=True):
        if pa.types.is_date32(field.type) or pa.types.is_timestamp(field.type):
            storage = pa.int32() if pa.types.is_date32(field.type) else pa.int64()
            bounds = pc.min_max(col.view(storage))
            if bounds["max"].as_py() in _INFINITIES[storage] or (
                bounds["min"].as_py() in _INFINITIES[storage]
            ):
                raise QueryFailed(
                    f"Column {field.name!r} holds infinity, which Arrow dates and timestamps "
                    "cannot hold. Cast the column in the query, for example to text.",
                    "Value does not fit",
                )
    return batch


def _has_zero(batch: pa.RecordBatch, columns: list[int]) -> bool:
    """True when one of the given decimal columns holds a zero (or what the scanner made one);
    a column the scanner read as text (a domain over numeric) cannot: NaN fails its cast."""
    for i in columns:
        col = batch.column(i)
        if not pa.types.is_decimal(col.type):
            continue
        if pc.any(pc.equal(col, pa.scalar(Decimal(0), col.type))).as_py():
            return True
    return False


def _scanner_query(query: str, fields: list[Field]) -> pgsql.Composed | None:
    """The query with every column the scanner misreads rendered as text by PostgreSQL
    (None when the scanner reads them all). Columns are renamed c1…cN on the way, so
    duplicate or odd names do not matter; the schema gives the real names back."""
    casts = [_scanner_cast(f) for f in fields]
    if not any(casts):
        return None
    names = [f"c{i}" for i in range(1, len(fields) + 1)]
    aliases = [pgsql.Identifier(n) for n in names]
    columns = [
        pgsql.SQL(cast or "{}").format(pgsql.Identifier("q", n))
        for n, cast in zip(names, casts, strict=True)
    ]
    # The newline keeps a trailing -- comment in the user's query from eating the parenthesis.
    return pgsql.SQL("select {} from (\n{}\n) as q ({})").format(
        pgsql.SQL(", ").join(columns), pgsql.SQL(query), pgsql.SQL(", ").join(aliases)
    )


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


class ScannerBulkPath:
    """stream_arrow and load_arrow for PostgresConnection, which holds the state named here."""

    _conn: psycopg.Connection
    _conninfo: str  # kept in memory only, for the scanner's own sessions
    _secret: str | None
    _lock: threading.Lock
    _streams: dict[str, Any]  # application_name → the DuckDB reading the stream
    _cancelled: set[str]  # streams cancel() stopped
    _read_only: bool
    _stream_path: str  # the last stream_arrow's path, for tests and bench/pg_fetch.py

    def _stream_cursor(
        self, sql: str, params: Params, schema: pa.Schema | None = None
    ) -> Iterator[pa.RecordBatch]:
        """The server-side cursor path (PostgresConnection's), the scanner's fallback."""
        raise NotImplementedError

    def stream_arrow(self, sql: str, params: Params = None) -> Iterator[pa.RecordBatch]:
        """Stream a full result via DuckDB's postgres scanner (binary COPY, Arrow out);
        falls back to a server-side cursor for types the scanner cannot read. Every path
        yields the schema the server's description gives (see arrow_type), as execute does."""
        check_text(sql)
        check_params(params)
        # The scanner's own sessions carry this name, so cancel() can find them on the server.
        # It is registered before anything runs: a cancel() while DuckDB still loads (a second
        # on a busy machine) is kept, not lost.
        tag = f"tusk-stream-{uuid.uuid4().hex[:16]}"
        self._streams[tag] = None
        try:
            yield from self._stream_scanner(tag, sql, params)
        finally:
            self._streams.pop(tag, None)
            self._cancelled.discard(tag)

    def _check_cancelled(self, tag: str) -> None:
        """Raise QueryCancelled when cancel() reached the stream `tag`."""
        if tag in self._cancelled:
            raise QueryCancelled("The query was cancelled.")

    def _stream_scanner(self, tag: str, sql: str, params: Params) -> Iterator[pa.RecordBatch]:
        """stream_arrow's work, its scanner sessions named `tag`."""
        statements = split(sql, "postgres")
        if len(statements) == 1:
            # DuckDB's scanner wraps the query in parentheses (trimmed: a newline would not
            # help): no `;`, and no trailing -- comment to eat the closing one.
            text = statements[0].text
            sql = text[: code_end(text, "postgres")]
        query = sql
        if params is not None:
            with psycopg.ClientCursor(self._conn) as cc:
                try:
                    query = cc.mogrify(query, params)
                except (psycopg.Error, UnicodeEncodeError) as exc:
                    raise query_error(exc, self._secret, self._conn) from None
        fields = self._describe(query)
        schema = arrow_schema(fields)
        reads = [_table_scan_read(f) for f in fields]
        table = None
        if params is None and None not in reads:
            table = self._whole_table(query)
        rendered: pgsql.Composed | None = None
        # DuckDB 1.5.5's table scan reads NaN in numeric(p, s) as 0 (duckdb/duckdb#23971):
        # once a zero shows up in such a column, ask the server whether it holds a NaN.
        guarded = [i for i, f in enumerate(fields) if f.oid == NUMERIC] if table else []
        inets = [i for i, read in enumerate(reads) if read == "inet"]
        conninfo = psycopg.conninfo.make_conninfo(self._conninfo, application_name=tag)
        if self._read_only:  # the scanner's own sessions: read-only from their start
            conninfo = read_only_conninfo(conninfo)
        self._check_cancelled(tag)
        duck = open_duckdb(None, ["postgres_scanner"])
        self._streams[tag] = duck
        try:
            try:
                if table is not None and not _scans_as_text(duck, conninfo, table, reads):
                    table = None  # the scanner reads a column itself: the query path renders it
                self._check_cancelled(tag)  # cancel() came while DuckDB loaded (or bound)
                if table is not None:
                    # A whole table: the scanner splits it into ctid ranges read in parallel.
                    self._stream_path = "table scan"
                    duck.execute("SELECT * FROM postgres_scan(?, ?, ?)", [conninfo, *table])
                else:
                    self._stream_path = "query"
                    guarded = []
                    rendered = _scanner_query(query, fields)
                    # ATTACH takes no parameters: the connection string goes in as a literal.
                    duck.execute(
                        "ATTACH " + sql_literal(conninfo) + " AS pg (TYPE postgres, READ_ONLY)"
                    )
                    self._check_cancelled(tag)  # cancel() came while ATTACH connected
                    scan = query if rendered is None else rendered.as_string(self._conn)
                    duck.execute("SELECT * FROM postgres_query('pg', ?)", [scan])
                reader = duck.to_arrow_reader(100_000)
            except QueryCancelled:
                raise
            except Exception as exc:  # noqa: BLE001 - any scanner failure → cursor path
                if tag in self._cancelled:
                    raise QueryCancelled("The query was cancelled.") from None
                # The server already accepted the query (described above): a refusal of the
                # rendered form is the wrapper's, so only the user's own query is final.
                if rendered is None and _is_user_error(exc):
                    raise QueryFailed(scrub(_server_message(str(exc)), self._secret)) from None
                self._streams[tag] = None  # the cursor's query is cancelled by cancel_safe
                duck.close()  # now: the cursor path may run long (closing twice is a no-op)
                self._check_cancelled(tag)
                self._stream_path = "cursor"
                yield from self._stream_cursor(sql, params, schema)
                return
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except Exception as exc:  # noqa: BLE001
                    if tag in self._cancelled:
                        raise QueryCancelled("The query was cancelled.") from None
                    raise QueryFailed(scrub(str(exc), self._secret)) from None
                self._check_cancelled(tag)  # cancel() came before the scanner's sessions began
                if table is not None and guarded and _has_zero(batch, guarded):
                    self._refuse_nan(table, [fields[i] for i in guarded], schema)
                    guarded = []
                if table is not None and inets:
                    for i in inets:
                        batch = batch.set_column(i, batch.schema.field(i), _abbrev(batch.column(i)))
                yield _conform(batch, schema)
        finally:
            duck.close()

    def _refuse_nan(self, table: tuple[str, str], columns: list[Field], schema: pa.Schema) -> None:
        """Raise QueryFailed when one of a table's numeric(p, s) columns holds NaN."""
        found = [pgsql.SQL("{} = 'NaN'::numeric").format(pgsql.Identifier(c.name)) for c in columns]
        query = pgsql.SQL("select {} from {} where {} limit 1").format(
            pgsql.SQL(", ").join(found), pgsql.Identifier(*table), pgsql.SQL(" or ").join(found)
        )
        with self._lock:
            try:
                with self._conn.cursor() as cur:
                    row = cur.execute(query).fetchone()
            except psycopg.Error as exc:
                raise query_error(exc, self._secret, self._conn) from None
        if row is not None:
            name = next(c.name for c, nan in zip(columns, row, strict=True) if nan)
            raise unfit(name, schema.field(name).type, ValueError("NaN"))

    def _describe(self, query: str) -> list[Field]:
        """The result columns of a query, from the server's description (nothing runs)."""
        encoding = self._conn.info.encoding
        with self._lock:
            pgconn = self._conn.pgconn
            try:
                # The unnamed statement: PostgreSQL parses and describes, nothing runs.
                res = pgconn.prepare(b"", query.encode(encoding))
                if res.status == ExecStatus.COMMAND_OK:
                    res = pgconn.describe_prepared(b"")
                if res.status != ExecStatus.COMMAND_OK:
                    raise psycopg.errors.error_from_result(res, encoding)
            except (psycopg.Error, UnicodeEncodeError) as exc:
                raise query_error(exc, self._secret, self._conn) from None
        return fields_of(res, encoding=encoding)

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
        check_load_mode(mode)
        if self._read_only:
            raise QueryFailed(READ_ONLY_MESSAGE, "Read-only session")
        reader = load_reader(table, batches, schema)
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
            raise QueryFailed(scrub(str(exc), self._secret), "Load failed") from None
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
                err = query_error(exc, self._secret, self._conn)
                failed: QueryFailed | None = (
                    err
                    if isinstance(err, ConnectionLost)
                    else QueryFailed(err.message, "Load failed")
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
