"""PostgreSQL adapter: psycopg 3 for interactive work, DuckDB's postgres scanner for bulk Arrow."""

from __future__ import annotations

import contextlib
import itertools
import re
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any, ClassVar, NamedTuple

import psycopg
import psycopg.conninfo
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql as pgsql
from psycopg.pq import ExecStatus, Format
from psycopg.types.string import TextLoader

from tusk.catalog import Catalog, CatalogBuilder, ForeignKey
from tusk.engines.abilities import PostgresAbilities
from tusk.engines.base import (
    CONNECT_TIMEOUT_S,
    Abilities,
    ConfiguredEngine,
    LoadMode,
    Params,
    check_load_mode,
    check_params,
    check_text,
    column_to_arrow,
    load_reader,
    sql_literal,
    unique_names,
)
from tusk.engines.pg_errors import connect_message, query_error, scrub
from tusk.engines.result import NUMERIC_TEXT, QueryResult, empty_table
from tusk.errors import BadInput, ConnectionFailed, ConnectionLost, QueryCancelled, QueryFailed
from tusk.sqltext import code_end, first_keyword, split

_ROW_RETURNING = {"SELECT", "WITH", "VALUES", "TABLE"}
_STREAM_BATCH = 50_000
_cursor_ids = itertools.count()

# --- PostgreSQL types → Arrow ---------------------------------------------------------------
#
# One mapping decides a result's Arrow schema from the types the server reports, before any
# row is read, so the first page (`execute`) and every bulk path (`stream_arrow`) agree on
# types and values. Exact over convenient: numeric(p, s) is decimal128(p, s); a numeric
# without a precision, an interval (months are not a fixed number of seconds), a timetz
# (its offset) and every type without an Arrow twin travel as PostgreSQL's own text.

_NUMERIC = 1700
_BPCHAR = 1042
_DATE = 1082
_TIMESTAMP = 1114
_TIMESTAMPTZ = 1184
_NATIVE: dict[int, pa.DataType] = {
    16: pa.bool_(),
    21: pa.int16(),
    23: pa.int32(),
    20: pa.int64(),
    26: pa.int64(),  # oid: unsigned 32-bit
    700: pa.float32(),
    701: pa.float64(),
    25: pa.string(),
    1043: pa.string(),
    _BPCHAR: pa.string(),  # without the blank padding, as char(n)::text gives it
    19: pa.string(),
    17: pa.binary(),
    _DATE: pa.date32(),
    1083: pa.time64("us"),
    _TIMESTAMP: pa.timestamp("us"),
    _TIMESTAMPTZ: pa.timestamp("us", tz="UTC"),
    114: pa.string(),  # json and jsonb keep the server's text (see connect)
    3802: pa.string(),
    2950: pa.string(),  # uuid
}
_INET = 869
_MAX_DECIMAL128 = 38
# Array type OID → element type OID, for PostgreSQL's built-in types.
_ELEMENT: dict[int, int] = {t.array_oid: t.oid for t in psycopg.adapters.types if t.array_oid}
# Arrays of these become Arrow lists; any other array is PostgreSQL's text ('{a,b}').
_LISTED = frozenset({16, 21, 23, 20, 700, 701, 25, 1043, _BPCHAR, 114, 3802, 2950, _NUMERIC})
_LISTED |= {_DATE, 1083, _TIMESTAMP, _TIMESTAMPTZ}
# Built-in types psycopg would turn into Python objects Arrow cannot take (Decimal NaN,
# timedelta, ipaddress, Range, …): they are loaded as the server's text instead.
_TEXT_LOADED = tuple(
    t.oid
    for t in psycopg.adapters.types
    if _NATIVE.get(t.oid, pa.string()) == pa.string()
    and psycopg.adapters.get_loader(t.oid, Format.TEXT) is not None
) + tuple(array for array, element in _ELEMENT.items() if element not in _LISTED)
# Types DuckDB's postgres scanner reads the way psycopg does (binary COPY, then a lossless
# cast to the schema); PostgreSQL renders any other column as text for the scanner, which
# would read numeric as double and NaN as 0, an interval as months/days/ns, inet with /32.
_SCANNER_READS = frozenset({16, 21, 23, 20, 26, 700, 701, 25, 1043, _BPCHAR, 19, 17, 114, 3802})
_SCANNER_READS |= {2950, _DATE, 1083, _TIMESTAMP, _TIMESTAMPTZ}
# The table scan casts every type the scanner does not know to VARCHAR on the server
# (`COPY (SELECT "c"::VARCHAR …)`): PostgreSQL's own text, as the query path asks for with
# ::text, so such a table keeps the parallel scan. These the scanner does know, and reads
# unlike PostgreSQL prints them, so a table holding one takes the query path: numeric
# without a precision or wider than 38 digits (a double), interval, timetz (offset dropped),
# the geometric types (lists or structs of doubles) and "char" (its raw byte).
_SCANNER_MISREADS = frozenset({_NUMERIC, 1186, 1266, 18, 600, 601, 602, 603, 604, 628, 718})
# DuckDB's infinity (and -infinity) for dates and timestamps: no Arrow value says "infinity".
_INFINITIES = {
    pa.int32(): (2**31 - 1, -(2**31 - 1)),
    pa.int64(): (2**63 - 1, -(2**63 - 1)),
}


_CANCEL_STREAMS = """
select pg_cancel_backend(pid) from pg_stat_activity
where application_name = any(%s) and pid <> pg_backend_pid()
"""


class _Field(NamedTuple):
    """One result column as the server describes it."""

    name: str
    oid: int
    typmod: int


def _arrow_type(oid: int, typmod: int) -> pa.DataType:
    """The Arrow type for a PostgreSQL type OID and modifier (PostgreSQL's text otherwise)."""
    if oid == _NUMERIC:
        if typmod < 4:  # no precision: any scale, any size
            return pa.string()
        precision, scale = (typmod - 4) >> 16, (typmod - 4) & 0xFFFF
        if precision > _MAX_DECIMAL128 or scale > precision:
            return pa.string()
        return pa.decimal128(precision, scale)
    if oid in _NATIVE:
        return _NATIVE[oid]
    if _ELEMENT.get(oid) in _LISTED:
        return pa.list_(_arrow_type(_ELEMENT[oid], typmod))
    return pa.string()


def _schema(fields: list[_Field]) -> pa.Schema:
    """The Arrow schema of a described result; duplicate names get a suffix."""
    names = unique_names([f.name for f in fields])
    columns = []
    for n, f in zip(names, fields, strict=True):
        type_ = _arrow_type(f.oid, f.typmod)
        text_numeric = f.oid == _NUMERIC and pa.types.is_string(type_)
        columns.append(pa.field(n, type_, metadata=NUMERIC_TEXT if text_numeric else None))
    return pa.schema(columns)


def _fields(res: Any, names: list[str] | None = None, encoding: str = "utf-8") -> list[_Field]:
    """The columns of a libpq result (a row description)."""
    return [
        _Field(
            names[i] if names is not None else (res.fname(i) or b"").decode(encoding),
            res.ftype(i),
            res.fmod(i),
        )
        for i in range(res.nfields)
    ]


def _scanner_cast(field: _Field, *, table_scan: bool = False) -> str | None:
    """How PostgreSQL renders a column for the scanner ({} is the column); None: as it is.
    A table scan reads numeric(p, s) itself, and stream_arrow guards it against NaN."""
    if field.oid in _SCANNER_READS:
        return None
    numeric = field.oid == _NUMERIC
    if table_scan and numeric and pa.types.is_decimal(_arrow_type(field.oid, field.typmod)):
        return None
    if field.oid == _INET:
        return "abbrev({})"  # inet's own output; inet::text always adds the /32
    element = _ELEMENT.get(field.oid)
    if element == _NUMERIC:
        return "{}::text[]"
    return None if element in _LISTED else "{}::text"


def _table_scan_read(field: _Field) -> str | None:
    """How the table scan reads a column exactly: "as is", "text" (the scanner has
    PostgreSQL render it), "inet" (rendered, then without the netmask inet::text always
    adds); None when it cannot, so the query path must. "text" and "inet" hold only if the
    scanner does read the column as VARCHAR (stream_arrow checks its bound types)."""
    if _scanner_cast(field, table_scan=True) is None:
        return "as is"
    if field.oid == _INET:
        return "inet"
    if field.oid in _SCANNER_MISREADS or field.oid in _ELEMENT:
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


def _load_as_text(cur: psycopg.Cursor[Any]) -> None:
    """Have this cursor return PostgreSQL's own text for the types Arrow cannot take as
    Python objects (the connection keeps its loaders: tusk.admin relies on them)."""
    for oid in _TEXT_LOADED:
        cur.adapters.register_loader(oid, TextLoader)


def _staged(type_: pa.DataType) -> pa.DataType:
    """The type rows are built as: decimals arrive as text, cast exactly afterwards."""
    if pa.types.is_decimal(type_):
        return pa.string()
    if pa.types.is_list(type_):
        return pa.list_(_staged(type_.value_type))
    return type_


def _rtrim(arr: pa.Array) -> pa.Array:
    """char(n) values without their blank padding (strings, or lists of strings)."""
    if pa.types.is_list(arr.type):
        values = pc.utf8_rtrim(arr.flatten(), characters=" ")
        return pa.ListArray.from_arrays(arr.offsets, values, mask=arr.is_null())
    return pc.utf8_rtrim(arr, characters=" ")


def _unfit(name: str, type_: pa.DataType, exc: Exception) -> QueryFailed:
    """The error for a value the column's Arrow type cannot hold exactly."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return QueryFailed(
        f"Column {name!r} holds a value that {type_} cannot hold exactly ({reason}). "
        "Cast the column in the query, for example to text.",
        "Value does not fit",
    )


def _column(values: list[Any], field: pa.Field, oid: int, strict: bool) -> pa.Array:
    """One column of psycopg values as the schema's type; lenient: whatever fits instead."""
    try:
        arr = pa.array(values, type=_staged(field.type))
        if arr.type != field.type:
            arr = arr.cast(field.type)  # safe: NaN, overflow or lost digits raise
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as exc:
        if strict:
            raise _unfit(field.name, field.type, exc) from None
        return column_to_arrow(values)  # e.g. NaN in a numeric(p, s): shown as text
    if oid == _BPCHAR or _ELEMENT.get(oid) == _BPCHAR:
        arr = _rtrim(arr)
    return arr


def _convert(
    rows: list[tuple], fields: list[_Field], schema: pa.Schema, *, strict: bool = False
) -> pa.Table:
    """psycopg rows → Arrow in the result's schema; strict raises where a value does not fit,
    lenient (a page for the grid) falls back to the type the values suggest."""
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in fields]
    arrays = [
        _column(list(col), schema.field(i), fields[i].oid, strict) for i, col in enumerate(cols)
    ]
    if strict:
        return pa.Table.from_arrays(arrays, schema=schema)
    # Lenient: a column may have the type its values suggest; it keeps its field's metadata.
    fields_out = [
        pa.field(f.name, a.type, metadata=f.metadata) for f, a in zip(schema, arrays, strict=True)
    ]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields_out))


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """A scanner batch in the result's schema (lossless casts only; infinity is refused)."""
    if batch.schema != schema:
        columns = []
        for col, field in zip(batch.columns, schema, strict=True):
            if col.type != field.type:
                try:
                    col = col.cast(field.type)  # safe: a lossy cast raises
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise _unfit(field.name, field.type, exc) from None
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


def _scanner_query(query: str, fields: list[_Field]) -> pgsql.Composed | None:
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


class PostgresConnection:
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
                    err.message += "\n\n" + _READ_ONLY_MESSAGE
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
            _load_as_text(cur)
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
                fields = self._cursor_fields(cur)
            finally:
                cur.close()
        truncated = len(rows) > limit
        return _convert(rows[:limit], fields, _schema(fields)), truncated

    @staticmethod
    def _cursor_fields(cur: psycopg.Cursor[Any]) -> list[_Field]:
        """The described columns of a cursor's current result."""
        names = [d.name for d in cur.description or ()]
        return _fields(cur.pgresult, names)

    def _plain(
        self, stmt: str, params: Params, limit: int | None, script: str, start: float
    ) -> QueryResult:
        with self._conn.cursor() as cur:
            _load_as_text(cur)
            cur.execute(stmt, params, prepare=self._read_only or None)
            if cur.description is None:
                affected = cur.rowcount if cur.rowcount >= 0 else None
                return QueryResult(
                    empty_table(), False, time.perf_counter() - start, script, affected
                )
            fields = self._cursor_fields(cur)
            rows = cur.fetchmany(limit + 1) if limit is not None else cur.fetchall()
            kept = rows[:limit] if limit is not None else rows
            table = _convert(kept, fields, _schema(fields))
            affected = (
                cur.rowcount if first_keyword(stmt, "postgres") not in _ROW_RETURNING else None
            )
            truncated = limit is not None and len(rows) > limit
        return QueryResult(table, truncated, time.perf_counter() - start, script, affected)

    def stream_arrow(self, sql: str, params: Params = None) -> Iterator[pa.RecordBatch]:
        """Stream a full result via DuckDB's postgres scanner (binary COPY, Arrow out);
        falls back to a server-side cursor for types the scanner cannot read. Every path
        yields the schema the server's description gives (see _arrow_type), as execute does."""
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
        from tusk.engines.duckdb import open_duckdb  # the bulk path rides on DuckDB

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
        schema = _schema(fields)
        reads = [_table_scan_read(f) for f in fields]
        table = None
        if params is None and None not in reads:
            table = self._whole_table(query)
        rendered: pgsql.Composed | None = None
        # DuckDB 1.5.5's table scan reads NaN in numeric(p, s) as 0 (duckdb/duckdb#23971):
        # once a zero shows up in such a column, ask the server whether it holds a NaN.
        guarded = [i for i, f in enumerate(fields) if f.oid == _NUMERIC] if table else []
        inets = [i for i, read in enumerate(reads) if read == "inet"]
        conninfo = psycopg.conninfo.make_conninfo(self._conninfo, application_name=tag)
        if self._read_only:  # the scanner's own sessions: read-only from their start
            conninfo = _read_only_conninfo(conninfo)
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
                duck.close()
                duck = None
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
            if duck is not None:
                duck.close()

    def _refuse_nan(self, table: tuple[str, str], columns: list[_Field], schema: pa.Schema) -> None:
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
            raise _unfit(name, schema.field(name).type, ValueError("NaN"))

    def _describe(self, query: str) -> list[_Field]:
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
        return _fields(res, encoding=encoding)

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
                    _load_as_text(cur)
                    cur.execute(sql, params)
                    fields: list[_Field] | None = None
                    while True:
                        rows = cur.fetchmany(_STREAM_BATCH)
                        if not rows:
                            return
                        if fields is None:
                            fields = self._cursor_fields(cur)
                            if schema is None or len(schema) != len(fields):
                                schema = _schema(fields)
                        yield from _convert(rows, fields, schema, strict=True).to_batches()
            except (psycopg.Error, UnicodeEncodeError) as exc:
                raise query_error(exc, self._secret, self._conn) from None

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

        check_load_mode(mode)
        if self._read_only:
            raise QueryFailed(_READ_ONLY_MESSAGE, "Read-only session")
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
        """Two catalog queries: columns of every relation, then PK/FK constraints."""
        with self._lock:
            try:
                with self._conn.cursor() as cur:
                    cols = cur.execute(_CATALOG_COLUMNS).fetchall()
                    cons = cur.execute(_CATALOG_CONSTRAINTS).fetchall()
            except psycopg.Error as exc:
                raise query_error(exc, self._secret, self._conn) from None
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


_READ_ONLY_MESSAGE = "This session is read-only: it may read data, never change it."


def _read_only_conninfo(conninfo: str) -> str:
    """A libpq connection string whose sessions start read-only (the bulk scanner's)."""
    params = psycopg.conninfo.conninfo_to_dict(conninfo)
    options = str(params.get("options") or "")
    params["options"] = (options + " -c default_transaction_read_only=on").strip()
    return psycopg.conninfo.make_conninfo(**params)


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


class PostgresEngine(ConfiguredEngine, PostgresAbilities):
    """PostgreSQL over psycopg 3."""

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
        for key, value in params.items():
            # libpq reads the connection string up to a NUL: "127.0.0.1\x00x" would reach
            # 127.0.0.1 and drop every setting after it. The password is never echoed.
            shown = "The password" if key == "password" else f"The connection setting {key!r}"
            check_text(str(key), "A connection option's name")
            check_text(str(value), shown)
        try:
            return psycopg.conninfo.make_conninfo(**params)
        except psycopg.ProgrammingError as exc:  # an option libpq does not know
            reason = scrub(str(exc).strip(), secret)
            raise BadInput(
                f"{reason[:1].upper()}{reason[1:]}. A PostgreSQL connection's options are libpq "
                "parameters (sslmode, application_name, options …): correct or remove it.",
                "Bad connection options",
            ) from None

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
