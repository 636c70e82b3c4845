"""Where a pipeline's result goes: a CSV/Parquet file in a data root (or a local path for the
CLI), or a table in DuckDB or PostgreSQL.

Every sink is a full run (`pipeline.running`): a query source streams into a temporary
Parquet file first, so the result below is always a lazy scan, never a table in memory.
Files are streamed by Polars (`sink_csv` / `sink_parquet`) into a hidden temp file beside the
target, then moved into place, so nobody ever sees half a file. With a `progress` callback the
rows are written batch by batch from the streaming engine instead, so the callback can be told
how many rows are done. Tables go through the engine's `load_arrow` (DuckDB's Arrow scan;
PostgreSQL's binary COPY through DuckDB's scanner, then one transaction), fed with Arrow batches
from `collect_batches(engine="streaming")`, never row by row.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from tusk import auth, files
from tusk.engines.abilities import ABILITIES, DuckDBAbilities, PostgresAbilities
from tusk.engines.base import Connection, LoadMode, check_load_mode
from tusk.errors import BadInput, QueryFailed, TuskError
from tusk.etl.pipeline import Pipeline, run_error, running
from tusk.files import listing, writing

if TYPE_CHECKING:
    from tusk.auth.schema import User

FileFormat = Literal["csv", "parquet"]
FILE_FORMATS: tuple[FileFormat, ...] = ("csv", "parquet")
Progress = Callable[[int], object]


# --- files ----------------------------------------------------------------------------------


def write_file(
    pipeline: Pipeline,
    fmt: FileFormat,
    root: str,
    relative: str,
    *,
    overwrite: bool = False,
    progress: Progress | None = None,
    actor: User | None = None,
) -> files.Entry:
    """Run the pipeline into a CSV/Parquet file in a data root (needs data.export); `.fmt` is
    added to the name unless it ends so; an existing file is replaced only with overwrite."""
    auth.require(actor, "data.export")
    fmt = _format(fmt)
    rel = PurePosixPath(str(relative or "").strip())
    if str(rel) in ("", "."):
        raise BadInput("Give the file a name to write to.", "File name missing")
    filename = files.safe_name(rel.name)
    if not filename.lower().endswith("." + fmt):
        filename += "." + fmt
    parent = "" if str(rel.parent) == "." else str(rel.parent)
    # files decides where a new file may go (inside the root, no silent overwrite).
    folder, target_rel = writing.target(root, parent, filename, overwrite)
    with running(pipeline) as lf:
        tmp = writing.temp_path(folder)
        try:
            _sink(pipeline, lf, fmt, tmp, progress)
            writing.publish(tmp, folder / filename, overwrite, f"{root}/{target_rel}")
        finally:
            tmp.unlink(missing_ok=True)
    return listing.unchecked_info(root, target_rel)


def write_path(
    pipeline: Pipeline,
    path: Path,
    *,
    fmt: FileFormat | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> Path:
    """Run the pipeline into a local file (the CLI's --output; the format comes from the
    suffix unless given), atomically; an existing file is replaced only with overwrite."""
    path = Path(path).expanduser().absolute()
    fmt = _format(fmt or path.suffix)
    if not path.parent.is_dir():
        raise BadInput(f"The folder {path.parent} does not exist.", "No such folder")
    if path.is_dir():
        raise BadInput(f"{path} is a folder: give a file name.", "Name taken")
    if path.exists() and not overwrite:
        raise BadInput(f"{path} already exists — use --overwrite or another name.", "File exists")
    with running(pipeline) as lf:
        tmp = path.parent / f".tusk-{uuid.uuid4().hex}.part"
        try:
            _sink(pipeline, lf, fmt, tmp, progress)
            writing.publish(tmp, path, overwrite, str(path))
        finally:
            tmp.unlink(missing_ok=True)
    return path


def _format(fmt: str) -> FileFormat:
    value = str(fmt or "").lower().lstrip(".")
    if value == "pq":
        value = "parquet"
    for known in FILE_FORMATS:
        if value == known:
            return known
    raise BadInput(
        f"Pipelines write CSV or Parquet files (.csv, .parquet), not {fmt!r}.",
        "Unknown format",
    )


def _sink(
    pipeline: Pipeline, lf: pl.LazyFrame, fmt: str, tmp: Path, progress: Progress | None
) -> None:
    """Write the whole result into `tmp` and flush it to disk."""
    try:
        if progress is None:
            if fmt == "csv":
                # The temp file ends in .part: Polars would refuse it without check_extension.
                lf.sink_csv(tmp, check_extension=False)
            else:
                lf.sink_parquet(tmp)
        else:
            _write_batches(lf, fmt, tmp, progress)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
    except (pl.exceptions.PolarsError, OSError, pa.ArrowException) as exc:
        raise run_error(pipeline, exc) from None


def _write_batches(lf: pl.LazyFrame, fmt: str, tmp: Path, progress: Progress) -> None:
    """Stream batches into the file, reporting the running row count after each."""
    rows = 0
    if fmt == "csv":
        with open(tmp, "xb") as fh:
            header = True
            for df in lf.collect_batches(engine="streaming"):
                df.write_csv(fh, include_header=header)
                header = False
                rows += df.height
                progress(rows)
            if header:  # no rows: still write the header line
                pl.DataFrame(schema=lf.collect_schema()).write_csv(fh)
        return
    writer: pq.ParquetWriter | None = None
    try:
        for df in lf.collect_batches(engine="streaming"):
            table = df.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
            writer.write_table(table)
            rows += df.height
            progress(rows)
        if writer is None:  # no rows: a valid Parquet file with the columns and no row
            table = pl.DataFrame(schema=lf.collect_schema()).to_arrow()
            writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
    finally:
        if writer is not None:
            writer.close()


# --- tables ---------------------------------------------------------------------------------


def to_duckdb(
    pipeline: Pipeline,
    conn: Connection,
    table: str,
    *,
    mode: LoadMode = "create",
    actor: User | None = None,
) -> int:
    """Load the result into a DuckDB table (create, append or replace; needs data.import);
    returns the number of rows written."""
    auth.require(actor, "data.import")
    if conn.abilities is not DuckDBAbilities:
        raise BadInput("to_duckdb needs a DuckDB connection.", "Not DuckDB")
    return _load(pipeline, conn, table, mode, "DuckDB")


def to_postgres(
    pipeline: Pipeline,
    conn: Connection,
    table: str,
    *,
    mode: LoadMode = "create",
    actor: User | None = None,
) -> int:
    """Load the result into a PostgreSQL table with binary COPY (create, append or replace;
    needs data.import); returns the number of rows written."""
    auth.require(actor, "data.import")
    if conn.abilities is not PostgresAbilities:
        raise BadInput("to_postgres needs a PostgreSQL connection.", "Not PostgreSQL")
    return _load(pipeline, conn, table, mode, "PostgreSQL")


def to_table(
    pipeline: Pipeline,
    conn: Connection,
    table: str,
    *,
    mode: LoadMode = "create",
    actor: User | None = None,
) -> int:
    """Load the result into a table of any engine that takes imports (its `etl_sink`: DuckDB,
    PostgreSQL; create, append or replace; needs data.import); returns the rows written."""
    auth.require(actor, "data.import")
    kind = conn.abilities
    if not kind.etl_sink:
        sinks = " or ".join(row.label for row in ABILITIES.values() if row.etl_sink)
        raise BadInput(
            f"A {kind.label} connection takes no imports: choose a {sinks} connection.",
            "Not an import target",
        )
    return _load(pipeline, conn, table, mode, kind.label)


def _load(pipeline: Pipeline, conn: Connection, table: str, mode: LoadMode, label: str) -> int:
    name = str(table or "").strip()
    if not name or "\x00" in name:
        raise BadInput("Give the table a name (without NUL characters).", "Table name missing")
    check_load_mode(mode)
    if mode == "create" and _table_columns(conn, name) is not None:
        # Refused before the run: a query source would otherwise be read whole for nothing.
        raise BadInput(
            f"The {label} table {name!r} already exists: choose append or replace.",
            "Table exists",
        )
    with running(pipeline) as lf:
        schema = _schema(pipeline, lf)
        if mode == "append":
            lf = _match_table(conn, name, lf, schema, label)
            schema = lf.collect_schema()
        arrow_schema = pl.DataFrame(schema=schema).to_arrow().schema
        failed: list[BaseException] = []  # the engine only sees that its reader broke: keep why
        batches = _batches(lf, arrow_schema, failed)
        reader = pa.RecordBatchReader.from_batches(arrow_schema, batches)
        try:
            return conn.load_arrow(name, reader, mode=mode)
        except TuskError as exc:
            if failed:
                raise run_error(pipeline, failed[0]) from None
            unchanged = "it was left as it was" if mode == "append" else "no table was written"
            raise QueryFailed(
                f"Could not load the rows into {label} table {name!r} ({unchanged}): {exc.message}",
                "Import failed",
            ) from None


def _batches(
    lf: pl.LazyFrame, schema: pa.Schema, failed: list[BaseException]
) -> Iterator[pa.RecordBatch]:
    """The result as Arrow batches from the streaming engine, all with one schema."""
    try:
        for df in lf.collect_batches(engine="streaming"):
            table = df.to_arrow()
            if table.schema != schema:
                table = table.cast(schema)
            yield from table.to_batches()
    except (pl.exceptions.PolarsError, OSError, pa.ArrowException) as exc:
        failed.append(exc)
        raise


def _schema(pipeline: Pipeline, lf: pl.LazyFrame) -> pl.Schema:
    try:
        return lf.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise run_error(pipeline, exc) from None


def _table_columns(conn: Connection, table: str) -> list[tuple[str, str]] | None:
    """(name, type) of an existing table in the connection's default schema, else None."""
    try:
        catalog = conn.catalog()
    except TuskError:
        return None
    default = "public" if _is_postgres(conn) else "main"
    for t in catalog.tables:
        if t.database is None and t.name == table and t.schema == default and t.kind == "table":
            return [(c.name, c.type) for c in t.columns]
    return None


def _is_postgres(conn: Connection) -> bool:
    return type(conn).__name__ == "PostgresConnection"


def _match_table(
    conn: Connection, table: str, lf: pl.LazyFrame, schema: pl.Schema, label: str
) -> pl.LazyFrame:
    """Check an append before any row moves: the table exists, has the same column names
    (any order: the result is reordered to match) and compatible types."""
    columns = _table_columns(conn, table)
    if columns is None:
        raise BadInput(
            f"There is no {label} table {table!r} to append to: choose create.", "No such table"
        )
    names = [c for c, _ in columns]
    extra = [c for c in schema if c not in names]
    lacking = [c for c in names if c not in schema]
    if extra or lacking:
        parts = []
        if extra:
            parts.append(f"the result has {', '.join(map(repr, extra))} which the table lacks")
        if lacking:
            parts.append(f"the table has {', '.join(map(repr, lacking))} which the result lacks")
        raise BadInput(
            f"Cannot append to {table!r}: {' and '.join(parts)}. Nothing was written.",
            "Columns differ",
        )
    for name, sql_type in columns:
        ours = _family(schema[name])
        theirs = _sql_family(sql_type)
        if ours and theirs and ours != theirs and not _widens(ours, theirs):
            raise BadInput(
                f"Cannot append to {table!r}: column {name!r} is {schema[name]} in the result "
                f"but {sql_type} in the table. Nothing was written.",
                "Type clash",
            )
    return lf.select(names)


def _family(dtype: pl.DataType) -> str | None:
    if dtype == pl.Boolean:
        return "bool"
    if dtype.is_integer():
        return "int"
    if dtype.is_float() or isinstance(dtype, pl.Decimal):
        return "float"
    if dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum):
        return "text"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "timestamp"
    if dtype == pl.Time:
        return "time"
    return None  # anything else: the engine decides


def _sql_family(sql_type: str) -> str | None:
    t = sql_type.lower()
    if t.startswith(("bool",)):
        return "bool"
    if any(k in t for k in ("int", "serial")) and "interval" not in t and "point" not in t:
        return "int"
    if t.startswith(("double", "float", "real", "numeric", "decimal")):
        return "float"
    if t.startswith(("varchar", "text", "char", "character", "string", "bpchar")):
        return "text"
    if t == "date":
        return "date"
    if t.startswith("timestamp"):
        return "timestamp"
    if t.startswith("time"):
        return "time"
    return None


def _widens(ours: str, theirs: str) -> bool:
    """True when values of our family fit the table's family without losing meaning."""
    return (ours, theirs) in {("int", "float"), ("date", "timestamp")}
