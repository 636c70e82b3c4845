"""Export a query's full result to CSV, JSON or Parquet, streamed batch by batch.

The result comes from `Connection.stream_arrow`, so only one Arrow batch (plus its encoded
bytes) is in memory at a time, whatever the size of the result.

How values are written:

- CSV: pyarrow's CSV writer, header once. NULL is an empty unquoted field, an empty string is
  `""`. Timestamps are Arrow's text (`2024-01-01 00:00:00.000000+0000`), which pyarrow, pandas,
  DuckDB and PostgreSQL's COPY all read. Binary is base64; lists, structs and maps are JSON
  text; durations and intervals are ISO 8601 durations (tusk.arrow_json's policy).
- JSON: ONE JSON array of objects (not JSON Lines), one object per line, written incrementally:
  `[`, then the rows separated by `,`, then `]`; zero rows give `[]`. Values follow
  tusk.arrow_json, as GeoJSON properties do: NULL is `null`; decimals are numbers when a double
  holds them (precision ≤ 15), else strings with the exact digits (`"12345678901234567.89"`: a
  JSON number would lose digits in most readers); timestamps, dates and times are ISO 8601
  strings (`2024-01-01T00:00:00.000000+00:00`); binary is base64; NaN and ±Infinity (not valid
  JSON) are `null`; durations and intervals are ISO 8601 durations. Duplicate column names get
  a suffix (`a`, `a_1`) so keys stay unique.
- Parquet: pyarrow's Parquet writer, types kept as they are (decimal, timestamp with time zone,
  binary, nested), schema from the first batch.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from tusk import auth
from tusk.arrow_json import dumps, json_values, text_values
from tusk.engines.base import Connection, Params
from tusk.errors import BadInput, TuskError

if TYPE_CHECKING:
    from tusk.auth.schema import User

FORMATS = ("csv", "json", "parquet")

_MIME_TYPES = {
    "csv": "text/csv",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
}
_MAX_NAME = 100
_FALLBACK_NAME = "result"
# Characters no file system (or browser download) is happy with; path separators among them.
_UNSAFE_CHARS = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul"} | {
    f"{p}{i}" for p in ("com", "lpt") for i in range(10)
}


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote: rows, bytes, seconds and the format."""

    rows: int
    bytes_written: int
    elapsed_s: float
    fmt: str


def mime_type(fmt: str) -> str:
    """The MIME type of an export format."""
    return _MIME_TYPES[_check_format(fmt)]


def file_name(base: str, fmt: str) -> str:
    """A safe download name for a tab or query name: no path parts, ≤ 100 characters."""
    ext = "." + _check_format(fmt)
    name = unicodedata.normalize("NFC", base or "")
    name = re.sub(r"\s+", " ", name).strip()  # tabs and newlines become one space
    name = _UNSAFE_CHARS.sub("_", name)
    if name.lower().endswith(ext):  # "orders.csv" → "orders.csv", not "orders.csv.csv"
        name = name[: -len(ext)]
    name = name.lstrip(". ").rstrip(". ")  # no hidden files; Windows drops trailing dots
    name = name[: _MAX_NAME - len(ext)].rstrip(". ")
    if not name.strip("_"):
        name = _FALLBACK_NAME
    if name.split(".")[0].lower() in _WINDOWS_RESERVED:
        name = "_" + name[: _MAX_NAME - len(ext) - 1]
    return name + ext


def export(
    conn: Connection,
    sql: str,
    fmt: str,
    target: BinaryIO | str | os.PathLike[str],
    *,
    params: Params = None,
    progress: Callable[[int], object] | None = None,
    actor: User | None = None,
) -> ExportSummary:
    """Stream the full result of `sql` into `target` (a binary file object or a path) as `fmt`.

    A path is written through a temporary file next to it and only replaced on success; a file
    object is written as is (it is neither closed nor rewound). `progress` receives the running
    row count after each batch. Engine errors propagate unchanged (QueryFailed).
    """
    auth.require(actor, "queries.export")
    fmt = _check_format(fmt)
    start = time.perf_counter()
    if isinstance(target, str | os.PathLike):
        rows, written = _export_to_path(conn, sql, fmt, Path(target), params, progress)
    else:
        rows, written = _export_to_stream(conn, sql, fmt, target, params, progress)
    return ExportSummary(rows, written, time.perf_counter() - start, fmt)


def _check_format(fmt: str) -> str:
    """The format name, lower-cased, or BadInput."""
    name = str(fmt).lower().lstrip(".")
    if name not in FORMATS:
        raise BadInput(
            f"Unknown export format {fmt!r}: use one of {', '.join(FORMATS)}.", "Unknown format"
        )
    return name


def _export_to_path(
    conn: Connection,
    sql: str,
    fmt: str,
    path: Path,
    params: Params,
    progress: Callable[[int], object] | None,
) -> tuple[int, int]:
    path = path.expanduser()
    if path.is_dir():
        raise BadInput(f"{path} is a folder: give a file name to export to.", "Not a file")
    if not path.parent.is_dir():
        raise BadInput(
            f"The folder {path.parent} does not exist: choose an existing folder.", "No such folder"
        )
    # A failed export must not leave a truncated file where a good one (or nothing) was.
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        with open(partial, "xb") as fh:
            counts = _export_to_stream(conn, sql, fmt, fh, params, progress)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return counts


def _export_to_stream(
    conn: Connection,
    sql: str,
    fmt: str,
    target: BinaryIO,
    params: Params,
    progress: Callable[[int], object] | None,
) -> tuple[int, int]:
    batches = conn.stream_arrow(sql, params)
    try:
        return write_batches(batches, fmt, target, progress)
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()  # release the engine's cursor even when writing failed


def write_batches(
    batches: Iterable[pa.RecordBatch],
    fmt: str,
    target: BinaryIO,
    progress: Callable[[int], object] | None = None,
) -> tuple[int, int]:
    """Write Arrow batches as `fmt` into a binary file object: (rows, bytes written)."""
    sink = _CountingSink(target)
    writer = _WRITERS[_check_format(fmt)](sink)
    rows = 0
    try:
        for batch in batches:
            writer.write(batch)
            rows += batch.num_rows
            if progress is not None:
                progress(rows)
    except BaseException:
        # pyarrow writers close themselves when collected, which would append a footer to
        # the target: close them now, into a sink that drops every byte.
        sink.discard()
        with contextlib.suppress(Exception):
            writer.close()
        raise
    writer.close()
    sink.flush()
    return rows, sink.bytes_written


class _CountingSink:
    """A write-only file object that counts bytes and never closes the caller's target."""

    closed = False

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.bytes_written = 0
        self._discarding = False

    def write(self, data: Any) -> int:
        n = memoryview(data).nbytes
        if not self._discarding:
            self._raw.write(data)
            self.bytes_written += n
        return n

    def discard(self) -> None:
        """Drop everything written from now on (the export failed)."""
        self._discarding = True

    def tell(self) -> int:
        return self.bytes_written

    def flush(self) -> None:
        flush = getattr(self._raw, "flush", None)
        if flush is not None and not self._discarding:
            flush()

    def close(self) -> None:
        """Flush only: the target belongs to the caller (pyarrow writers close their sink)."""
        self.flush()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False


# --- format writers -------------------------------------------------------------------------


class _Writer:
    """Schema from the first batch; later batches are conformed to it, then encoded."""

    def __init__(self, sink: _CountingSink) -> None:
        self._sink = sink
        self._schema: pa.Schema | None = None

    def write(self, batch: pa.RecordBatch) -> None:
        if self._schema is None:
            self._schema = _writer_schema(batch.schema)
            self._open(self._schema)
        self._write(_conform(batch, self._schema))

    def close(self) -> None:
        self._close()

    def _open(self, schema: pa.Schema) -> None:
        pass

    def _write(self, batch: pa.RecordBatch) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        pass


class _CsvWriter(_Writer):
    def __init__(self, sink: _CountingSink) -> None:
        super().__init__(sink)
        self._csv: pa_csv.CSVWriter | None = None

    def _open(self, schema: pa.Schema) -> None:
        text_schema = pa.schema([pa.field(f.name, _csv_type(f.type)) for f in schema])
        self._csv = pa_csv.CSVWriter(pa.PythonFile(self._sink, mode="w"), text_schema)

    def _write(self, batch: pa.RecordBatch) -> None:
        assert self._csv is not None
        columns = [_csv_column(col) for col in batch.columns]
        self._csv.write_batch(pa.RecordBatch.from_arrays(columns, names=batch.schema.names))

    def _close(self) -> None:
        if self._csv is not None:  # no batch at all: no schema, so no header either
            self._csv.close()


class _JsonWriter(_Writer):
    def __init__(self, sink: _CountingSink) -> None:
        super().__init__(sink)
        self._rows = 0

    def _write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        names = batch.schema.names
        columns = [json_values(col) for col in batch.columns]
        lines = [dumps(dict(zip(names, row, strict=True))) for row in zip(*columns, strict=True)]
        lead = "[\n" if self._rows == 0 else ",\n"
        self._sink.write((lead + ",\n".join(lines)).encode("utf-8"))
        self._rows += batch.num_rows

    def _close(self) -> None:
        self._sink.write(b"\n]" if self._rows else b"[]")


class _ParquetWriter(_Writer):
    def __init__(self, sink: _CountingSink) -> None:
        super().__init__(sink)
        self._parquet: pq.ParquetWriter | None = None

    def _open(self, schema: pa.Schema) -> None:
        stored = pa.schema(
            [pa.field(f.name, _parquet_type(f.type), metadata=f.metadata) for f in schema],
            metadata=schema.metadata,
        )
        try:
            self._parquet = pq.ParquetWriter(pa.PythonFile(self._sink, mode="w"), stored)
        except pa.ArrowNotImplementedError as exc:
            raise TuskError(
                f"Parquet cannot store this result ({exc}): cast the column in the query "
                "(e.g. ::text) or export as CSV or JSON.",
                "Export failed",
            ) from None

    def _write(self, batch: pa.RecordBatch) -> None:
        assert self._parquet is not None
        columns = [
            pa.array(text_values(col), type=pa.string())
            if _parquet_type(col.type) != col.type
            else col
            for col in batch.columns
        ]
        self._parquet.write_batch(pa.RecordBatch.from_arrays(columns, schema=self._parquet.schema))

    def _close(self) -> None:
        if self._parquet is None:  # no batch at all: a valid Parquet file with no columns
            self._open(pa.schema([]))
        assert self._parquet is not None
        self._parquet.close()


_WRITERS: dict[str, type[_Writer]] = {
    "csv": _CsvWriter,
    "json": _JsonWriter,
    "parquet": _ParquetWriter,
}


# --- schema ---------------------------------------------------------------------------------


def _writer_schema(schema: pa.Schema) -> pa.Schema:
    """The first batch's schema with unique names and every column nullable."""
    seen: dict[str, int] = {}
    fields = []
    for f in schema:
        name = f.name
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 0
        fields.append(pa.field(name, f.type, nullable=True, metadata=f.metadata))
    return pa.schema(fields, metadata=schema.metadata)


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Fit a batch to the writer's schema: names, nullability and all-NULL (null-typed) columns."""
    if batch.num_columns != len(schema):
        raise TuskError(
            f"A batch of the result has {batch.num_columns} columns, the first had "
            f"{len(schema)}: the export cannot continue.",
            "Export failed",
        )
    columns = []
    for col, field in zip(batch.columns, schema, strict=True):
        if not col.type.equals(field.type):
            if not pa.types.is_null(col.type):
                raise TuskError(
                    f"Column {field.name!r} changed type from {field.type} to {col.type} "
                    "part-way through the result: cast it in the query (e.g. ::text) and "
                    "export again.",
                    "Export failed",
                )
            col = pa.nulls(len(col), type=field.type)
        columns.append(col)
    return pa.RecordBatch.from_arrays(columns, schema=schema)


# --- CSV values -----------------------------------------------------------------------------


def _csv_native(t: pa.DataType) -> bool:
    """Types pyarrow's CSV writer formats itself."""
    return (
        pa.types.is_null(t)
        or pa.types.is_boolean(t)
        or pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_decimal(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_date(t)
        or pa.types.is_time(t)
        or pa.types.is_timestamp(t)
    )


def _csv_type(t: pa.DataType) -> pa.DataType:
    """The type a column has once it is ready for the CSV writer."""
    if pa.types.is_dictionary(t):
        return _csv_type(t.value_type)
    return t if _csv_native(t) else pa.string()


def _csv_column(col: pa.Array) -> pa.Array:
    """A column in a type the CSV writer can format: binary → base64, nested → JSON text."""
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    if _csv_native(col.type):
        return col
    return pa.array(text_values(col), type=pa.string())


# --- Parquet values -------------------------------------------------------------------------


def _parquet_type(t: pa.DataType) -> pa.DataType:
    """The type a column is stored as: Parquet has no interval type, so those become ISO text."""
    return pa.string() if pa.types.is_interval(t) else t
