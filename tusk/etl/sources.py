"""Where a pipeline's rows come from: a file in a data root, a query on a saved connection, or
one layer of an OSM/PBF file. Files are scanned lazily (`scan_csv`, `scan_parquet`,
`scan_ndjson`), so a preview reads only the head of a large file; a query's preview fetches
only the first rows through the engine's `execute(limit=…)`.

A full run (export, import, row count) reads a query inside `spooling()`: the engine's
`stream_arrow` batches are written one by one into a temporary Parquet file under
`home()/cache/spool/`, which is then scanned lazily like any file, so no step holds the whole
result in memory; the file is removed when the block ends, also on an error or a cancel.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Generator, Iterator
from contextvars import ContextVar
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, Literal

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tusk import config, files
from tusk.errors import BadInput, QueryCancelled, QueryFailed, TuskError

if TYPE_CHECKING:
    from tusk.auth.schema import User
    from tusk.engines.base import Connection

FileFormat = Literal["csv", "parquet", "ndjson", "json"]
OsmLayer = Literal["nodes", "ways", "relations"]
FORMATS: tuple[FileFormat, ...] = ("csv", "parquet", "ndjson", "json")
LAYERS: tuple[OsmLayer, ...] = ("nodes", "ways", "relations")
PREVIEW_SOURCE_ROWS = 10_000  # rows of a query a preview runs the steps over
SPOOL_ROW_GROUP = 65_536  # small engine batches are gathered into row groups of this many rows
SPOOL_STALE_S = 24 * 3600  # a spool folder this old was left by a run that died: removed
CSV_CHECK_WHOLE_BYTES = 16 << 20  # a preview checks a CSV this big whole (~50 ms), else its head
_CSV_CHECK_CHUNK = 1 << 20
_COMPRESSED = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"BZh", b"\xfd7zXZ\x00")  # Polars inflates

_SUFFIXES: dict[str, FileFormat] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "json",
}
_SEPARATOR_NAMES = {"\\t": "\t", "tab": "\t", "TAB": "\t"}
_LABELS = {"csv": "CSV", "parquet": "Parquet", "ndjson": "NDJSON", "json": "JSON"}


class _Model(BaseModel):
    # Unknown fields are refused: a typo in a saved pipeline should not be silently dropped.
    model_config = ConfigDict(extra="forbid")


class FileSource(_Model):
    """A CSV, Parquet, NDJSON or JSON file inside a data root."""

    kind: Literal["file"] = "file"
    root: str
    relative: str
    format: FileFormat = "csv"
    separator: str = ","
    has_header: bool = True
    encoding: Literal["utf8", "utf8-lossy"] = "utf8"
    try_parse_dates: bool = True  # ISO dates and times become Date/Datetime columns

    @field_validator("separator")
    @classmethod
    def _one_byte(cls, value: str) -> str:
        value = _SEPARATOR_NAMES.get(value, value)
        if len(value.encode("utf-8")) != 1:
            raise ValueError(f"the separator must be one character such as , ; | or tab: {value!r}")
        return value

    def describe(self) -> str:
        """A short label such as `data/sales.csv (CSV)`."""
        return f"{_shown(self.root, self.relative)} ({_LABELS[self.format]})"


class QuerySource(_Model):
    """The result of a SQL query on a saved connection."""

    kind: Literal["query"] = "query"
    connection: str
    sql: str

    def describe(self) -> str:
        """A short label such as `query on demo`."""
        return f"query on {self.connection}"


class OsmSource(_Model):
    """One layer (nodes, ways or relations) of an OSM/PBF file inside a data root."""

    kind: Literal["osm"] = "osm"
    root: str
    relative: str
    layer: OsmLayer = "nodes"

    def describe(self) -> str:
        """A short label such as `maps/city.osm.pbf (OSM ways)`."""
        return f"{_shown(self.root, self.relative)} (OSM {self.layer})"


Source = Annotated[FileSource | QuerySource | OsmSource, Field(discriminator="kind")]


def guess_format(relative: str) -> FileFormat | None:
    """csv, parquet, ndjson or json from a file name, or None when the name does not say."""
    suffix = PurePosixPath(relative).suffix.lower()
    return _SUFFIXES.get(suffix)


def file_path(root: str, relative: str) -> Path:
    """The absolute path of a non-empty regular file in a data root, or a clear BadInput."""
    shown = _shown(root, relative)
    path = files.resolve(root, relative)
    if not path.exists():
        raise BadInput(f"{shown} does not exist.", "No such file")
    if not path.is_file():
        raise BadInput(f"{shown} is not a file.", "Not a file")
    if path.stat().st_size == 0:
        raise BadInput(f"{shown} is empty (0 bytes): there is nothing to read.", "Empty file")
    return path


def lazy(
    source: FileSource | QuerySource | OsmSource, *, preview_rows: int | None = None
) -> pl.LazyFrame:
    """The source as a LazyFrame whose schema is known; with `preview_rows`, a query source
    fetches at most that many rows (files are lazy anyway and ignore it)."""
    if isinstance(source, FileSource):
        lf = _scan_file(source, whole=preview_rows is None)
    elif isinstance(source, QuerySource):
        lf = _query(source, preview_rows)
    elif isinstance(source, OsmSource):
        lf = pl.scan_parquet(osm_parquet(source))
    else:  # pragma: no cover - pydantic only builds the three kinds
        raise BadInput(f"Unknown source {source!r}.")
    schema(source, lf)  # fail here, naming the file, rather than in the middle of a step
    return lf


def schema(source: FileSource | QuerySource | OsmSource, lf: pl.LazyFrame) -> pl.Schema:
    """The source's columns; Polars' reading errors become a BadInput naming the file."""
    try:
        return lf.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise read_error(source, exc) from None


def read_error(source: FileSource | QuerySource | OsmSource, exc: BaseException) -> BadInput:
    """A reading error from Polars as one clear sentence naming the source, never a path."""
    message = scrub(source, polars_message(exc))
    if isinstance(source, FileSource | OsmSource):
        shown = _shown(source.root, source.relative)
        label = _LABELS[source.format] if isinstance(source, FileSource) else "OSM"
        if isinstance(exc, pl.exceptions.NoDataError):
            return BadInput(f"{shown} has no data to read: {message}", "Empty file")
        return BadInput(f"Cannot read {shown} as {label}: {message}", "Cannot read file")
    return BadInput(f"Cannot read the {source.describe()}: {message}", "Cannot read source")


def scrub(source: FileSource | QuerySource | OsmSource, message: str) -> str:
    """A message with the source file's absolute path replaced by root/relative."""
    if not isinstance(source, FileSource | OsmSource):
        return message
    try:
        path = str(files.resolve(source.root, source.relative))
    except TuskError:
        return message
    return message.replace(path, _shown(source.root, source.relative))


def polars_message(exc: BaseException) -> str:
    """Polars' reason without the query plan it appends."""
    text = str(exc).strip()
    for marker in ("\n\nResolved plan until failure", "\n\nThis error occurred with"):
        text = text.split(marker)[0]
    return text.split("\n\n")[0].strip() or type(exc).__name__


def separator_hint(source: FileSource | QuerySource | OsmSource, columns: list[str]) -> str | None:
    """A hint when a CSV read as one column whose name holds another likely separator."""
    if not isinstance(source, FileSource) or source.format != "csv" or len(columns) != 1:
        return None
    name = columns[0]
    for sep, label in ((";", "';'"), ("\t", "tab"), ("|", "'|'"), (",", "','")):
        if sep != source.separator and sep in name:
            return (
                f"{_shown(source.root, source.relative)} was read as one column named {name!r}: "
                f"is the separator {label}? Change it in the source."
            )
    return None


def osm_parquet(source: OsmSource) -> Path:
    """The cached Parquet file of an OSM layer (converted from the PBF once)."""
    path = file_path(source.root, source.relative)
    try:
        from tusk.etl import osm
    except ImportError as exc:
        raise BadInput(
            f"OSM files cannot be read here ({exc}): install Tusk's etl extra (pyosmium).",
            "OSM support missing",
        ) from None
    return Path(osm.layer_parquet(path, source.layer))


def _scan_file(source: FileSource, *, whole: bool = True) -> pl.LazyFrame:
    path = file_path(source.root, source.relative)
    if source.format == "csv":
        _check_csv(source, path, whole=whole)
    try:
        if source.format == "csv":
            return pl.scan_csv(
                path,
                separator=source.separator,
                has_header=source.has_header,
                encoding=source.encoding,
                try_parse_dates=source.try_parse_dates,
                glob=False,  # a name with * or [ is one file, never a pattern
            )
        if source.format == "parquet":
            return pl.scan_parquet(path, glob=False)
        if source.format == "ndjson":
            return pl.scan_ndjson(path)
        # A JSON array has no lazy reader in Polars: it is read whole (NDJSON scans lazily).
        return pl.read_json(path).lazy()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise read_error(source, exc) from None


def _check_csv(source: FileSource, path: Path, *, whole: bool) -> None:
    """BadInput naming the file when Polars would misread it: bytes that are not UTF-8 (unless
    the source reads lossily), or a quote never closed — Polars then takes the rest of the
    file as one value, so a preview shows 0 rows and a count comes out short, without an
    error. A full run checks the whole file; a preview only the head of a big one."""
    try:
        stat = path.stat()
    except OSError:
        return  # Polars reports the file itself
    limit = None if whole or stat.st_size <= CSV_CHECK_WHOLE_BYTES else CSV_CHECK_WHOLE_BYTES
    problem = _csv_problem(
        str(path), stat.st_size, stat.st_mtime_ns, source.encoding == "utf8", limit
    )
    if problem is not None:
        raise BadInput(f"{_shown(source.root, source.relative)} {problem}", "Cannot read file")


@functools.lru_cache(maxsize=64)
def _csv_problem(path: str, size: int, mtime_ns: int, utf8: bool, limit: int | None) -> str | None:
    """What is wrong with a CSV file (None: nothing); cached per file version (size, mtime),
    so repeated previews read it once. Quotes toggle in Polars wherever they stand, so an
    odd count means one was never closed: the last one."""
    decoder = codecs.getincrementaldecoder("utf-8")() if utf8 else None
    read = quotes = lines = 0
    last_quote_line = 0
    with open(path, "rb") as fh:
        while limit is None or read < limit:
            chunk = fh.read(_CSV_CHECK_CHUNK)
            if not chunk:
                break
            if read == 0 and chunk.startswith(_COMPRESSED):
                return None  # compressed: Polars inflates it and reports what it finds
            if decoder is not None:
                try:
                    decoder.decode(chunk, final=len(chunk) < _CSV_CHECK_CHUNK)
                except UnicodeDecodeError as exc:
                    return _not_utf8(chunk, exc, read, lines)
            found = chunk.count(b'"')
            if found:
                quotes += found
                last_quote_line = lines + chunk.count(b"\n", 0, chunk.rfind(b'"')) + 1
            lines += chunk.count(b"\n")
            read += len(chunk)
    if limit is None and quotes % 2:
        return (
            f'has a quote (") on line {last_quote_line} that is never closed, so everything '
            "after it would read as one value. Close or remove it (a quote inside a quoted "
            'value is written twice: "").'
        )
    return None


def _not_utf8(chunk: bytes, exc: UnicodeDecodeError, offset: int, lines: int) -> str:
    """The message for the first byte that is not UTF-8."""
    at = offset + exc.start
    line = lines + chunk.count(b"\n", 0, exc.start) + 1
    where = f"byte 0x{chunk[exc.start]:02x} on line {line} (offset {at}) is not valid UTF-8"
    if at == 0 and chunk[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return f"is not UTF-8 text: {where}; it looks like UTF-16. Save the file as UTF-8."
    return (
        f"is not UTF-8 text: {where}. Save the file as UTF-8, or set the source's encoding "
        "to utf8-lossy (such bytes then read as �)."
    )


_ACTOR: ContextVar[User | None] = ContextVar("tusk_etl_actor", default=None)


@contextlib.contextmanager
def acting_as(actor: User | None) -> Iterator[None]:
    """Query sources read inside the block run for `actor`: on a shared Tusk their SQL is
    confined to the data roots like the Studio's (tusk.connections.open_for)."""
    token = _ACTOR.set(actor)
    try:
        yield
    finally:
        _ACTOR.reset(token)


def _query(source: QuerySource, preview_rows: int | None) -> pl.LazyFrame:
    from tusk import connections

    if not source.sql.strip():
        raise BadInput("Write the query whose rows the pipeline starts from.", "Query missing")
    spec = connections.get(source.connection)
    if spec.name == connections.DEMO_NAME:
        connections.ensure_demo()
    spool = _SPOOL.get() if preview_rows is None else None
    if spool is not None and spool.cancelled:
        raise _source_error(source, QueryCancelled("The query was cancelled."))
    conn = connections.open_for(spec, _ACTOR.get())
    try:
        if preview_rows is not None:
            # A preview never pulls the whole result: the engine fetches limit + 1 rows at most.
            table = conn.execute(source.sql, limit=max(int(preview_rows), 0)).table
        elif spool is not None:
            return _spooled(source, conn, spool)
        else:
            # Outside spooling() a full read has nowhere to keep the rows but memory.
            batches = list(conn.stream_arrow(source.sql))
            if batches:
                table = pa.Table.from_batches(batches)
            else:  # no rows: the column names and types still come from the first page
                table = conn.execute(source.sql, limit=1).table.slice(0, 0)
    finally:
        conn.close()
    try:
        frame = pl.from_arrow(table)
    except (pl.exceptions.PolarsError, pa.ArrowException, TypeError, ValueError) as exc:
        raise read_error(source, exc) from None
    if isinstance(frame, pl.Series):  # pragma: no cover - a table always gives a frame
        frame = frame.to_frame()
    return frame.lazy()


# --- spooling a full read -------------------------------------------------------------------


class Spool:
    """The temporary Parquet files of one full run's query sources; `cancel` stops the run's
    query from another thread."""

    def __init__(self) -> None:
        self._folder: Path | None = None
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._reading: list[Connection] = []

    @property
    def cancelled(self) -> bool:
        """True once `cancel` was called: every query of this run then fails."""
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Stop the query being read (safe from another thread); the run raises QueryCancelled."""
        self._cancelled.set()  # checked between batches: engines that cannot interrupt stop too
        with self._lock:
            reading = list(self._reading)
        for conn in reading:
            # A query that just finished may refuse the interrupt: the flag still stops the run.
            with contextlib.suppress(Exception):
                conn.cancel()

    def new_file(self) -> Path:
        """A fresh file name in this run's own folder (made, mode 0700, on first use)."""
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="run-", dir=_spool_root()))
        return self._folder / f"{uuid.uuid4().hex}.parquet"

    @contextlib.contextmanager
    def reading(self, conn: Connection) -> Iterator[None]:
        """While the block runs, `cancel` interrupts this connection."""
        with self._lock:
            self._reading.append(conn)
        try:
            yield
        finally:
            with self._lock:
                self._reading.remove(conn)

    def close(self) -> None:
        """Remove the run's files."""
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


_SPOOL: ContextVar[Spool | None] = ContextVar("tusk_etl_spool", default=None)


@contextlib.contextmanager
def spooling() -> Iterator[Spool]:
    """A full run: query sources read inside the block stream through temporary Parquet files,
    removed when it ends (also on an error); a nested block shares the outer run's spool."""
    outer = _SPOOL.get()
    if outer is not None:
        yield outer
        return
    spool = Spool()
    token = _SPOOL.set(spool)
    try:
        yield spool
    finally:
        _SPOOL.reset(token)
        spool.close()


def _spooled(source: QuerySource, conn: Connection, spool: Spool) -> pl.LazyFrame:
    """Stream the query's result into a new spool file and scan that lazily."""
    try:
        path = spool.new_file()
    except OSError as exc:
        raise BadInput(
            f"Cannot make a temporary copy of the {source.describe()} under "
            f"{config.home_path() / 'cache' / 'spool'}: {exc.strerror or exc}",
            "Cannot read source",
        ) from None
    try:
        with spool.reading(conn):
            arrow_schema = _write_spool(source, conn, spool, path)
        # pyarrow keeps freed batches in its pool: hand them back before the sink's own peak.
        pa.default_memory_pool().release_unused()
        lf = pl.scan_parquet(path, glob=False)
        # The run must give the types pl.from_arrow gives (the generated code reads the query
        # that way): Parquet keeps them all today, and a cast makes sure it stays so.
        expected = pl.DataFrame(pl.from_arrow(arrow_schema.empty_table())).schema
        found = lf.collect_schema()
        if found != expected:
            lf = lf.cast({k: v for k, v in expected.items() if found.get(k) != v})
        return lf
    except TuskError as exc:
        path.unlink(missing_ok=True)
        raise _source_error(source, exc) from None
    except (pl.exceptions.PolarsError, pa.ArrowException, OSError, TypeError, ValueError) as exc:
        path.unlink(missing_ok=True)
        message = polars_message(exc).replace(str(path), "its temporary copy")
        raise BadInput(
            f"Cannot read the {source.describe()}: {message}", "Cannot read source"
        ) from None
    except BaseException:  # an interrupt: no half file stays behind
        path.unlink(missing_ok=True)
        raise


def _write_spool(source: QuerySource, conn: Connection, spool: Spool, path: Path) -> pa.Schema:
    """Write the query's whole result into `path`, batch by batch; returns its Arrow schema."""
    writer: pq.ParquetWriter | None = None
    schema: pa.Schema | None = None
    pending: list[pa.RecordBatch] = []
    held = 0  # rows in pending: small engine batches are gathered into one row group
    stream = conn.stream_arrow(source.sql)
    try:
        for batch in stream:
            if spool.cancelled:
                raise QueryCancelled("The query was cancelled.")
            if writer is None or schema is None:
                schema = batch.schema
                writer = pq.ParquetWriter(path, schema, compression="zstd")
            elif batch.schema != schema:
                batch = batch.cast(schema)
            pending.append(batch)
            held += batch.num_rows
            if held >= SPOOL_ROW_GROUP:
                writer.write_table(pa.Table.from_batches(pending, schema))
                pending, held = [], 0
        if spool.cancelled:
            raise QueryCancelled("The query was cancelled.")
        if writer is None or schema is None:
            # No batch at all: the engine said nothing about the columns, its first page does.
            schema = conn.execute(source.sql, limit=1).table.schema
            writer = pq.ParquetWriter(path, schema, compression="zstd")
        elif pending:
            writer.write_table(pa.Table.from_batches(pending, schema))
        return schema
    finally:
        if isinstance(stream, Generator):  # stop the engine's cursor now, not at garbage time
            stream.close()
        if writer is not None:
            writer.close()


def _source_error(source: QuerySource, exc: TuskError) -> TuskError:
    """The engine's error, saying which source it comes from."""
    if isinstance(exc, QueryCancelled):
        return QueryCancelled(f"Reading the {source.describe()} was cancelled.", exc.title)
    if isinstance(exc, QueryFailed):
        return QueryFailed(
            f"The {source.describe()} failed: {exc.message}", exc.title, exc.position
        )
    return exc


def _spool_root() -> Path:
    """home()/cache/spool (mode 0700), cleared of folders left by runs that died."""
    folder = config.home()
    for part in ("cache", "spool"):
        folder = folder / part
        folder.mkdir(mode=0o700, exist_ok=True)
    cutoff = time.time() - SPOOL_STALE_S
    for entry in folder.glob("run-*"):
        # A killed process skips every `finally`: its folder is swept by a later run.
        with contextlib.suppress(OSError):
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
    return folder


def _shown(root: str, relative: str) -> str:
    rel = str(relative or "").strip("/")
    return f"{root}/{rel}" if rel else root
