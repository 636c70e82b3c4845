"""The engine protocol and the pieces every adapter shares (error positions, rows → Arrow)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, TypeGuard, runtime_checkable

import pyarrow as pa

from tusk.arrow_json import json_text
from tusk.catalog import Catalog
from tusk.engines.result import QueryResult
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput, ConnectionFailed

if TYPE_CHECKING:
    from tusk.schemadiff.model import SchemaSnapshot

LoadMode = Literal["create", "append", "replace"]
Params = Sequence[Any] | dict[str, Any] | None

DEFAULT_LIMIT = 1000
CONNECT_TIMEOUT_S = 4  # unreachable hosts fail well inside 5 s


@runtime_checkable
class Connection(Protocol):
    """An open session on one engine."""

    # Read-only members: an adapter has them as class data, a worker's proxy per instance.
    @property
    def engine(self) -> str:
        """The engine's name ("duckdb", …), also on a connection run in a worker."""
        ...

    @property
    def abilities(self) -> type[Abilities]:
        """What its engine can do (the engine's row of class data)."""
        ...

    def execute(self, sql: str, params: Params = None, *, limit: int | None = 1000) -> QueryResult:
        """Run SQL (one or more statements); the last statement's first `limit` rows come back."""
        ...

    def stream_arrow(self, sql: str, params: Params = None) -> Iterator[pa.RecordBatch]:
        """Stream a statement's whole result as Arrow record batches."""
        ...

    def load_arrow(
        self,
        table: str,
        batches: Iterable[pa.RecordBatch] | pa.Table,
        *,
        mode: LoadMode = "create",
        schema: str | None = None,
    ) -> int:
        """Bulk-load Arrow data into `table`; returns the number of rows written."""
        ...

    def cancel(self) -> None:
        """Cancel the running statement; safe to call from another thread."""
        ...

    def catalog(self) -> Catalog:
        """Schemas, tables, views, columns with PK/FK."""
        ...

    def confine(self, roots: Sequence[Path], *, write: bool = True) -> None:
        """From now on SQL on this session reads files only inside `roots` (the data roots, for
        every signed-in user of a shared Tusk), and writes them only with `write`; it cannot
        be undone."""
        ...

    @property
    def confined(self) -> bool:
        """True once `confine` ran (a flag every connection keeps, never asked with hasattr)."""
        ...

    def set_read_only(self) -> None:
        """From now on statements on this session cannot change any database: the engine
        itself refuses writes (a read-only transaction or file handle, not parsed SQL); it
        cannot be undone."""
        ...

    def close(self) -> None:
        """Close the session."""
        ...


class Attaching(Connection, Protocol):
    """A connection whose engine `can_attach` (DuckDB): other databases, SQLite files and
    extensions, and results with the engine's own type names."""

    def execute_typed(
        self, sql: str, params: Params = None, *, limit: int | None = 1000
    ) -> tuple[QueryResult, list[tuple[str, str]]]:
        """Like execute, plus the last statement's columns as (name, engine type) pairs."""
        ...

    def attach_sqlite(self, path: Path, alias: str) -> None:
        """ATTACH a SQLite file READ_ONLY as `alias`."""
        ...

    def attach_postgres(self, spec: ConnectionSpec, alias: str) -> None:
        """ATTACH a PostgreSQL database READ_ONLY as `alias`."""
        ...

    def detach(self, alias: str) -> None:
        """DETACH `alias`."""
        ...

    def attached(self) -> list[str]:
        """The aliases attached to this session."""
        ...

    def load_extension(self, extension: str) -> None:
        """LOAD one of the offline extensions."""
        ...


class RegistersFiles(Connection, Protocol):
    """A connection whose engine `registers_files` (DataFusion): data files as tables."""

    def register_file(self, name: str, path: Path, kind: str) -> None:
        """Register the file at `path` (of `kind`: parquet, csv, json) as table `name`."""
        ...


class DescribesSchema(Connection, Protocol):
    """A connection whose engine `describes_schema` (PostgreSQL): one schema's tables,
    columns, constraints, indexes, views and sequences, for the schema comparison."""

    def describe_schema(self, schema: str) -> SchemaSnapshot:
        """The definition of `schema` (BadInput when there is none; a timeout, not a hang)."""
        ...


def attaching(conn: Connection) -> TypeGuard[Attaching]:
    """True when `conn`'s engine attaches databases and files (asked of its abilities)."""
    return conn.abilities.can_attach


def describes_schema(conn: Connection) -> TypeGuard[DescribesSchema]:
    """True when `conn`'s engine reads a schema's full definition (asked of its abilities)."""
    return conn.abilities.describes_schema


def registers_files(conn: Connection) -> TypeGuard[RegistersFiles]:
    """True when `conn`'s engine registers data files as tables (asked of its abilities)."""
    return conn.abilities.registers_files


PathKind = Literal["file", "folder"] | None


class Abilities(Protocol):
    """What an engine can do, as class data (tusk.engines.abilities holds one row per engine,
    which its adapter class inherits). Outside tusk/engines code asks these, never the name."""

    name: ClassVar[str]  # "postgres", "sqlite", "duckdb", "datafusion", "cluster"
    label: ClassVar[str]  # the name people read: "PostgreSQL"
    icon: ClassVar[str]  # an icon *name* ("database"); the UI maps names to its icons
    supports_cancel: ClassVar[bool]
    paramstyle: ClassVar[str]  # DB-API paramstyle of `execute`'s params
    default_schema: ClassVar[str | None]  # where an unqualified table name is resolved
    can_explain: ClassVar[bool]  # EXPLAIN plans the Studio draws (PostgreSQL's JSON plans)
    can_attach: ClassVar[bool]  # ATTACHes other databases and SQLite files (attach panel)
    attachable: ClassVar[bool]  # can itself be attached to a session that can_attach
    file_views: ClassVar[bool]  # CREATE VIEW over a data file (the files panel's workspace)
    registers_files: ClassVar[bool]  # data files registered as tables (connection.register_file)
    describes_schema: ClassVar[bool]  # reads a schema's full definition (describe_schema)
    schema_objects: ClassVar[str | None]  # else SQL listing a schema's indexes and views as
    # (kind, name, table, CREATE statement), the schema its one parameter (schema comparison)
    administrable: ClassVar[bool]  # the Admin page and backups work on it
    etl_sink: ClassVar[bool]  # a Data page import target (tusk.etl.sinks.to_table)
    code_reader: ClassVar[str | None]  # how generated Polars code reads a query; None: cannot
    run_permission: ClassVar[str | None]  # a permission running SQL on it needs besides the rest
    connection_fields: ClassVar[tuple[str, ...]]  # of host, port, database, user, password,
    # options, path: the fields the connection form shows and a saved connection uses
    host_required: ClassVar[bool]  # a connection must name its host (a server)
    default_port: ClassVar[int | None]
    path_kind: ClassVar[PathKind]  # what `path` names: a database file or a folder of files
    path_required: ClassVar[bool]  # a connection must name its path
    path_local: ClassVar[bool]  # the path is on this machine (so kept inside the data roots)
    memory_path: ClassVar[bool]  # ":memory:" is a path it takes
    path_example: ClassVar[str | None]  # a placeholder for the path field
    confined_options: ClassVar[dict[str, str]]  # spec options for a confined session
    approx_distinct: ClassVar[str | None]  # an estimated count(distinct x) function, if any
    stddev: ClassVar[str | None]  # the sample standard deviation function, if any


class Engine(Abilities, Protocol):
    """A configured database: knows how to open connections; its abilities are class data."""

    spec: ConnectionSpec

    def connect(self) -> Connection:
        """Open a connection; raises ConnectionFailed within CONNECT_TIMEOUT_S."""
        ...


class ConfiguredEngine:
    """The constructor every adapter shares: an engine is one saved connection's spec."""

    def __init__(self, spec: ConnectionSpec) -> None:
        self.spec = spec


LOAD_MODES: tuple[LoadMode, ...] = ("create", "append", "replace")


def check_load_mode(mode: str) -> None:
    """BadInput for a load mode other than create, append or replace."""
    if mode not in LOAD_MODES:
        raise BadInput(f"Unknown load mode {mode!r}: use create, append or replace.")


def load_reader(
    table: str, batches: Iterable[pa.RecordBatch] | pa.Table, schema: str | None = None
) -> pa.RecordBatchReader:
    """The data of a load_arrow as one reader, its table, schema and column names checked."""
    reader = as_batches(batches)
    check_names(table, schema, reader.schema.names)
    return reader


def inside_roots(path: str | Path, roots: Sequence[Path]) -> bool:
    """True when `path` (symlinks followed) lies inside one of `roots`."""
    try:
        real = Path(path).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        return False
    for root in roots:
        try:
            real.relative_to(Path(root).resolve())
        except (OSError, RuntimeError, ValueError):
            continue
        return True
    return False


# --- error positions ----------------------------------------------------------------------------


def position_at(text: str, line: int, column: int) -> int | None:
    """1-based character offset of (1-based line, 1-based column) in text, if inside it."""
    lines = text.split("\n")
    if not 1 <= line <= len(lines) or column < 1:
        return None
    return sum(len(x) + 1 for x in lines[: line - 1]) + column


_LINE_CARET = re.compile(r"^(LINE (\d+): )(.*)\n( *)\^", re.MULTILINE)
_LINE_COLUMN = re.compile(r"at Line: (\d+), Column: (\d+)")


def error_position(message: str, statement: str) -> int | None:
    """Read an error position from a message ("LINE n: … ^" or "Line: n, Column: m")."""
    m = _LINE_CARET.search(message)
    if m and not m.group(3).startswith("..."):
        return position_at(statement, int(m.group(2)), len(m.group(4)) - len(m.group(1)) + 1)
    m = _LINE_COLUMN.search(message)
    if m:
        return position_at(statement, int(m.group(1)), int(m.group(2)))
    return None


# --- rows → Arrow ------------------------------------------------------------------------------


def to_text(v: Any) -> str | None:
    """A value as display text (JSON for containers), None stays None (see tusk.arrow_json)."""
    return json_text(v)


def column_to_arrow(values: list[Any], type_: pa.DataType | None = None) -> pa.Array:
    """Build one Arrow column, inferring the type; mixed or exotic values become text."""
    if type_ is not None:
        try:
            return pa.array(values, type=type_)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
            pass
    if any(isinstance(v, dict) for v in values):
        return pa.array([to_text(v) for v in values], type=pa.string())
    try:
        arr = pa.array(values)
        if pa.types.is_null(arr.type) and type_ is not None:
            return pa.nulls(len(values), type=type_)
        return arr
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return pa.array([to_text(v) for v in values], type=pa.string())


def rows_to_arrow(
    names: Sequence[str], rows: Sequence[Sequence[Any]], types: Sequence[pa.DataType | None] | None
) -> pa.Table:
    """Turn DB-API rows into an Arrow table; duplicate column names get a suffix."""
    unique = unique_names(names)
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    arrays = [column_to_arrow(list(col), types[i] if types else None) for i, col in enumerate(cols)]
    return pa.Table.from_arrays(arrays, names=unique)


def unique_names(names: Sequence[str]) -> list[str]:
    """Column names made unique for display: a, a, a → a, a_1, a_2."""
    seen: dict[str, int] = {}
    out: list[str] = []
    for name in names:
        if name in seen:
            seen[name] += 1
            out.append(f"{name}_{seen[name]}")
        else:
            seen[name] = 0
            out.append(name)
    return out


def dedupe_names(table: pa.Table) -> pa.Table:
    """Rename duplicate column names (a, a → a, a_1) so the table is safe to display."""
    names = table.column_names
    if len(set(names)) == len(names):
        return table
    return table.rename_columns(unique_names(names))


def database_file(path: str | None, label: str) -> str:
    """A SQLite/DuckDB path made absolute (":memory:" kept); its folder must exist."""
    if not path or path == ":memory:":
        return ":memory:"
    p = Path(path).expanduser()
    if not p.parent.exists():
        raise ConnectionFailed(
            f"The folder {p.parent} does not exist: choose an existing folder for the {label} file.",
            f"Cannot open {label} file",
        )
    return str(p)


def as_batches(data: Iterable[pa.RecordBatch] | pa.Table) -> pa.RecordBatchReader:
    """Normalise a table or an iterable of batches into one RecordBatchReader."""
    if isinstance(data, pa.Table):
        return pa.RecordBatchReader.from_batches(data.schema, data.to_batches())
    if isinstance(data, pa.RecordBatchReader):
        return data
    it = iter(data)
    try:
        first = next(it)
    except StopIteration:
        raise BadInput("There is no data to load: the input has no batches.", "No data") from None

    def chain() -> Iterator[pa.RecordBatch]:
        yield first
        yield from it

    return pa.RecordBatchReader.from_batches(first.schema, chain())


def sql_literal(text: str) -> str:
    """A string literal for statements that take no parameters (DuckDB's LOAD and ATTACH):
    single quotes doubled; DuckDB and PostgreSQL (standard strings) have no backslash escapes."""
    if "\x00" in text:
        raise ValueError("literal contains a NUL character")
    return "'" + text.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    """Quote an identifier the SQL-standard way (for engines whose driver has no helper)."""
    if "\x00" in name:
        raise ValueError("identifier contains a NUL character")
    return '"' + name.replace('"', '""') + '"'


# --- text a driver cannot take as it is -----------------------------------------------------


def check_text(text: str, what: str = "The SQL") -> None:
    """BadInput for SQL text (or a name) with a NUL character, which C drivers take as its end
    (libpq and DuckDB's parser would run what comes before it: `delete from t\x00 where …`
    deletes every row), or with a character that has no UTF-8 form (a lone surrogate)."""
    nul = text.find("\x00")
    if nul >= 0:
        raise BadInput(
            f"{what} contains a NUL character (\\x00) at position {nul + 1}: remove it.",
            "NUL character",
        )
    check_encodable(text, what)


def check_encodable(text: str, what: str) -> None:
    """BadInput for text with a lone surrogate (e.g. '\\ud800' from a bad paste or decode):
    no engine can encode it, and the drivers raise raw UnicodeEncodeError or TypeError."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadInput(
            f"{what} contains {text[exc.start]!r} at position {exc.start + 1}, a character "
            "with no UTF-8 form (half of a surrogate pair): retype or remove it.",
            "Character cannot be encoded",
        ) from None


def check_params(params: Params) -> None:
    """BadInput for a text parameter (nested in lists or dicts too) with a lone surrogate;
    a NUL inside a value is the engine's to judge (DuckDB and SQLite keep it)."""
    if params is None:
        return
    items = params.items() if isinstance(params, dict) else enumerate(params, start=1)
    for key, value in items:
        _check_value(value, f"Parameter {key}")


def _check_value(value: Any, what: str) -> None:
    if isinstance(value, str):
        check_encodable(value, what)
    elif isinstance(value, dict):
        for v in value.values():
            _check_value(v, what)
    elif isinstance(value, list | tuple):
        for v in value:
            _check_value(v, what)


def check_names(table: str, schema: str | None = None, columns: Iterable[str] = ()) -> None:
    """BadInput for a table, schema or column name no engine keeps as given: PostgreSQL cut
    'a\\x00b' to table "a", so a NUL must be refused, never acted on."""
    check_text(table, f"The table name {table!r}")
    if schema is not None:
        check_text(schema, f"The schema name {schema!r}")
    for column in columns:
        check_text(column, f"The column name {column!r}")


def is_panic(exc: BaseException) -> bool:
    """True for a Rust panic raised through pyo3 (DataFusion, Daft): its PanicException is a
    BaseException, so `except Exception` lets it through; each extension has its own class."""
    return type(exc).__name__ == "PanicException"
