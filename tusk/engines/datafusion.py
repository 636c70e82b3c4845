"""DataFusion adapter: an in-process session, optionally over a folder of Parquet/CSV/JSON files.

DataFusion has no way to interrupt a query from another thread. Tusk reads results batch by
batch on a worker thread: `cancel` returns control at once and the plan is dropped at its next
batch. A plan that buffers everything (a big sort or aggregate) keeps computing in the
background until it yields its first batch — the connection stays usable meanwhile.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
from datafusion import SessionConfig, SessionContext, SQLOptions

from tusk.catalog import Catalog, CatalogBuilder
from tusk.engines.abilities import DataFusionAbilities
from tusk.engines.base import (
    Abilities,
    ConfiguredEngine,
    LoadMode,
    Params,
    check_load_mode,
    check_params,
    check_text,
    dedupe_names,
    error_position,
    is_panic,
    load_reader,
    quote_ident,
)
from tusk.engines.result import QueryResult, empty_table
from tusk.errors import BadInput, ConnectionFailed, QueryCancelled, QueryFailed
from tusk.sqltext import first_keyword, split

_FILE_READERS = {".parquet": "register_parquet", ".csv": "register_csv", ".json": "register_json"}
FILE_KINDS = ("parquet", "csv", "json")
_COMPRESSION = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zst": "zstd"}
_POLL_S = 0.05
_DONE = object()


def _error(exc: BaseException, statement: str = "", offset: int = 0) -> QueryFailed:
    msg = str(exc).strip() or type(exc).__name__
    if is_panic(exc):
        return QueryFailed(
            f"DataFusion stopped on an internal error ({msg}). A file it read may be damaged, "
            "or a value too large for it.",
            "DataFusion internal error",
        )
    pos = error_position(msg, statement) if statement else None
    return QueryFailed(msg, position=pos + offset if pos is not None else None)


def _failure(exc: BaseException) -> bool:
    """True for what DataFusion raises on bad input: an Exception or a Rust panic (a corrupt
    Parquet file panics, and a panic is a BaseException that `except Exception` misses);
    never an interrupt or exit, which must go on up."""
    return isinstance(exc, Exception) or is_panic(exc)


def _planned(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """The batch in the plan's schema. DataFusion's optimizer computes some columns stricter
    than it planned them: `lower('A')` folds to a NOT NULL literal, a UNION yields string_view
    where the plan says string. Every batch leaves the adapter in the planned schema, so
    execute, stream_arrow and an empty result report the same columns."""
    if batch.schema == schema:
        return batch
    try:
        columns = [
            col if col.type == field.type else col.cast(field.type)
            for col, field in zip(batch.columns, schema, strict=True)
        ]
        return pa.RecordBatch.from_arrays(columns, schema=schema)
    except (pa.ArrowException, ValueError) as exc:  # a DataFusion bug, not the user's SQL
        raise QueryFailed(f"DataFusion's result does not match its own plan: {exc}") from None


class DataFusionConnection:
    """A DataFusion SessionContext."""

    engine: ClassVar[str] = "datafusion"
    abilities: ClassVar[type[Abilities]] = DataFusionAbilities

    def __init__(self, ctx: SessionContext) -> None:
        self._ctx = ctx
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._options: SQLOptions | None = None  # set by confine: queries only
        self._confined = False

    @property
    def raw(self) -> SessionContext:
        """The SessionContext, for library code (cluster, analytics)."""
        return self._ctx

    def _dataframe(self, sql: str, params: Params) -> Any:
        if params is None:
            values = None
        elif isinstance(params, dict):
            values = dict(params)
        else:
            values = {str(i + 1): v for i, v in enumerate(params)}
        return self._ctx.sql(sql, self._options, param_values=values)

    def _batches(self, df: Any) -> Iterator[pa.RecordBatch]:
        """Pull batches on a worker thread so the caller can give up on cancel; each comes out
        in the plan's schema."""
        q: queue.Queue[Any] = queue.Queue(maxsize=4)
        stop = threading.Event()

        def pump() -> None:
            try:
                for batch in df.execute_stream():
                    if stop.is_set():
                        return  # dropping the stream stops DataFusion's tasks
                    q.put(batch.to_pyarrow())
                q.put(_DONE)
            except BaseException as exc:  # noqa: BLE001 - DataFusion panics are BaseException
                q.put(exc)

        schema = df.schema()
        worker = threading.Thread(target=pump, name="tusk-datafusion", daemon=True)
        worker.start()
        try:
            while True:
                if self._cancel.is_set():
                    raise QueryCancelled("The query was cancelled.")
                try:
                    item = q.get(timeout=_POLL_S)
                except queue.Empty:
                    continue
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise _error(item)
                yield _planned(item, schema)
        finally:
            stop.set()
            while True:  # unblock the worker if it waits on a full queue
                try:
                    q.get_nowait()
                except queue.Empty:
                    break

    def execute(self, sql: str, params: Params = None, *, limit: int | None = 1000) -> QueryResult:
        """Run statements in order; read the last one's batches up to limit + 1 rows."""
        start = time.perf_counter()
        check_text(sql)
        check_params(params)
        statements = split(sql, "datafusion")
        if not statements:
            raise QueryFailed("There is no SQL to run.", "Empty query")
        self._cancel.clear()
        with self._lock:
            offset, current = 0, sql
            try:
                for stmt in statements[:-1]:
                    offset, current = stmt.start, stmt.text
                    for _ in self._batches(self._dataframe(stmt.text, None)):
                        pass
                offset, current = statements[-1].start, statements[-1].text
                df = self._dataframe(current, params)
            except (QueryCancelled, QueryFailed):
                raise
            except BaseException as exc:  # noqa: BLE001 - plain exceptions, and panics
                if not _failure(exc):
                    raise
                raise _error(exc, current, offset) from None
            batches: list[pa.RecordBatch] = []
            rows = 0
            schema = df.schema()
            for batch in self._batches(df):
                batches.append(batch)
                rows += batch.num_rows
                if limit is not None and rows > limit:
                    break
        table = pa.Table.from_batches(batches, schema=schema)
        truncated = limit is not None and table.num_rows > limit
        if truncated:
            table = table.slice(0, limit)
        affected = None
        kw = first_keyword(statements[-1].text, "datafusion")
        if kw in ("INSERT", "UPDATE", "DELETE") and table.column_names == ["count"]:
            affected = int(table.column(0)[0].as_py()) if table.num_rows else 0
            table = empty_table()
        elif kw in ("CREATE", "DROP") and table.num_columns == 0:
            table = empty_table()
        return QueryResult(
            dedupe_names(table), truncated, time.perf_counter() - start, sql, affected
        )

    def stream_arrow(self, sql: str, params: Params = None) -> Iterator[pa.RecordBatch]:
        """Stream the full result batch by batch."""
        check_text(sql)
        check_params(params)
        self._cancel.clear()
        try:
            df = self._dataframe(sql, params)
        except BaseException as exc:  # noqa: BLE001 - plain exceptions, and panics
            if not _failure(exc):
                raise
            raise _error(exc) from None
        yield from self._batches(df)

    def load_arrow(
        self,
        table: str,
        batches: Iterable[pa.RecordBatch] | pa.Table,
        *,
        mode: LoadMode = "create",
        schema: str | None = None,
    ) -> int:
        """Register Arrow data as an in-memory table (append inserts into it)."""
        check_load_mode(mode)
        reader = load_reader(table, batches, schema)
        data = reader.read_all()
        with self._lock:
            exists = self._ctx.table_exist(table)
            if mode == "create" and exists:
                raise QueryFailed(f"Table {table!r} already exists.", "Load failed")
            if mode == "append" and exists:
                tmp = f"__tusk_append_{id(data)}"
                self._ctx.register_record_batches(tmp, [data.to_batches()])
                try:
                    self._ctx.sql(
                        "INSERT INTO " + quote_ident(table) + " SELECT * FROM " + quote_ident(tmp)
                    ).collect()
                except BaseException as exc:  # noqa: BLE001 - plain exceptions, and panics
                    if not _failure(exc):
                        raise
                    raise QueryFailed(_error(exc).message, "Load failed") from None
                finally:
                    self._ctx.deregister_table(tmp)
                return data.num_rows
            if exists:
                self._ctx.deregister_table(table)
            self._ctx.register_record_batches(table, [data.to_batches()])
        return data.num_rows

    def register_file(self, name: str, path: Path, kind: str) -> None:
        """Register a Parquet, CSV (or TSV) or JSON Lines file as table `name` (replacing a
        table of that name); the file is read when queried, not now."""
        if kind not in FILE_KINDS:
            raise BadInput(
                f"DataFusion reads {', '.join(FILE_KINDS)} files, not {kind!r}.", "Unknown kind"
            )
        if not name:
            raise BadInput("Give the table a name.", "Bad table name")
        check_text(name, "The table name")
        path = Path(path)
        if not path.is_file():
            raise BadInput(f"{path} is not a file.", "No such file")
        suffix = path.suffix.lower()
        compression = _COMPRESSION.get(suffix)
        # DataFusion checks the file's extension against the one it is told: tell it the real one.
        extension = "".join(path.suffixes[-2:]) if compression else path.suffix
        if kind == "json" and _starts_with(path, b"[", compression):
            raise BadInput(
                f"{path.name} holds a JSON array: DataFusion reads JSON Lines (one object per "
                "line) only. Query it with DuckDB instead.",
                "Unsupported JSON",
            )
        # DataFusion treats *, ? and [ in a path as a glob: escape them to name just this file.
        location = _escape_glob(str(path))
        with self._lock:
            try:
                if self._ctx.table_exist(name):
                    self._ctx.deregister_table(name)
                if kind == "parquet":
                    self._ctx.register_parquet(name, location, file_extension=extension)
                elif kind == "csv":
                    self._ctx.register_csv(
                        name,
                        location,
                        delimiter="\t" if ".tsv" in path.suffixes else ",",
                        file_extension=extension,
                        file_compression_type=compression,
                    )
                else:
                    self._ctx.register_json(
                        name, location, file_extension=extension, file_compression_type=compression
                    )
            except BaseException as exc:  # noqa: BLE001 - a corrupt Parquet file panics
                if not _failure(exc):
                    raise
                raise QueryFailed(
                    f"Could not register {path.name}: {_error(exc).message}", "Cannot read file"
                ) from None

    def cancel(self) -> None:
        """Stop waiting for the running query and drop its plan at the next batch."""
        self._cancel.set()

    def catalog(self) -> Catalog:
        """Tables and columns from DataFusion's information_schema (it records no keys)."""
        b = CatalogBuilder()
        with self._lock:
            try:
                tables = self._ctx.sql(
                    "select table_schema, table_name, table_type from information_schema.tables "
                    "where table_schema <> 'information_schema' order by 1, 2"
                ).to_pylist()
                cols = self._ctx.sql(
                    "select table_schema, table_name, column_name, data_type, is_nullable "
                    "from information_schema.columns "
                    "where table_schema <> 'information_schema' "
                    "order by table_schema, table_name, ordinal_position"
                ).to_pylist()
            except BaseException as exc:  # noqa: BLE001 - plain exceptions, and panics
                if not _failure(exc):
                    raise
                raise _error(exc) from None
        kinds = {}
        for t in tables:
            kind = "view" if t["table_type"] == "VIEW" else "table"
            kinds[(t["table_schema"], t["table_name"])] = kind
            b.add_column(t["table_schema"], t["table_name"], kind, None, None)
        for c in cols:
            key = (c["table_schema"], c["table_name"])
            b.add_column(
                key[0],
                key[1],
                kinds.get(key, "table"),
                c["column_name"],
                c["data_type"],
                c["is_nullable"] == "YES",
            )
        return b.build()

    def confine(self, roots: Sequence[Path], *, write: bool = True) -> None:
        """Queries only from now on: DataFusion's SQL reaches files through CREATE EXTERNAL
        TABLE (DDL) and COPY (DML), so both are refused; Tusk registers files itself."""
        self._confined = True
        self._options = (
            SQLOptions().with_allow_ddl(False).with_allow_dml(False).with_allow_statements(False)
        )

    @property
    def confined(self) -> bool:
        """True once `confine` ran: files only inside the data roots."""
        return self._confined

    def set_read_only(self) -> None:
        """Queries only, as confine: DataFusion's own SQLOptions refuse DDL, DML and
        statements. (Its tables live in this session alone; Tusk may still register files.)"""
        self._options = (
            SQLOptions().with_allow_ddl(False).with_allow_dml(False).with_allow_statements(False)
        )

    def close(self) -> None:
        """Drop the session (DataFusion frees it with the object)."""
        self._cancel.set()


def _escape_glob(path: str) -> str:
    """A path with its glob characters bracketed, so it names exactly one file."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in path)


def _starts_with(path: Path, prefix: bytes, compression: str | None) -> bool:
    """True when the file's first non-blank byte starts `prefix` (plain files only)."""
    if compression:
        return False  # not worth decompressing: DataFusion itself reports what it finds
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(prefix)


class DataFusionEngine(ConfiguredEngine, DataFusionAbilities):
    """Apache DataFusion in process; `path` may name a folder of data files to expose."""

    def connect(self) -> DataFusionConnection:
        """A new session with information_schema on; files in `path` become tables."""
        ctx = SessionContext(SessionConfig().with_information_schema(True))
        if self.spec.path and self.spec.path != ":memory:":
            folder = Path(self.spec.path).expanduser()
            if not folder.is_dir():
                raise ConnectionFailed(
                    f"{folder} is not a folder: DataFusion connections point at a folder of "
                    "Parquet, CSV or JSON files.",
                    "Cannot open folder",
                )
            for file in sorted(folder.iterdir()):
                reader = _FILE_READERS.get(file.suffix.lower())
                if reader and file.is_file():
                    try:
                        getattr(ctx, reader)(file.stem, str(file))
                    except BaseException as exc:  # noqa: BLE001 - a corrupt Parquet file panics
                        if not _failure(exc):
                            raise
                        raise ConnectionFailed(
                            f"Could not read {file.name}: {_error(exc).message}", "Cannot read file"
                        ) from None
        return DataFusionConnection(ctx)
