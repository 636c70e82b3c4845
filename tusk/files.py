"""Data roots and the files in them: browse, preview, query, upload, delete, export.

Nothing outside a root is listed, read, written or deleted. Every path a caller gives is a root
name plus a path relative to it, and goes through `resolve`, which refuses `..`, absolute paths,
NUL bytes and symlinks whose target leaves the root. Files are read by DuckDB (read_parquet,
read_csv_auto, read_json_auto, sqlite_scan) in a private in-memory connection with the offline
extensions, so nothing here needs the network.

Every action that reveals file names or contents needs data.view, writing needs data.import or
data.export; each takes the acting user as `actor` (None is the trusted CLI in single-user mode).
`roots`, `root` and `resolve` only name folders and turn paths into checked absolute paths, for
library code and pages that have checked their own permission.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import tempfile
import threading
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO

import pyarrow as pa

from tusk import auth, config, private
from tusk import export as exporting
from tusk.engines.base import (
    Attaching,
    Connection,
    Params,
    attaching,
    check_encodable,
    quote_ident,
    registers_files,
    sql_literal,
)
from tusk.engines.duckdb import DuckDBConnection, escape_glob, open_duckdb
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput, QueryFailed, TuskError

if TYPE_CHECKING:
    from tusk.auth.schema import User

DATA_DIR = "data"  # under Tusk's home: the default root, and the demo folder's parent
DEMO_ROOT = "demo"
KINDS = ("parquet", "csv", "json", "sqlite", "duckdb")
QUERYABLE = ("parquet", "csv", "json", "sqlite")  # what scan_sql and preview read
MAX_PREVIEW_ROWS = 10_000

_LABELS = {
    "parquet": "Parquet",
    "csv": "CSV",
    "json": "JSON",
    "sqlite": "SQLite",
    "duckdb": "DuckDB",
}
_EXTENSIONS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".sqlite": "sqlite",
    ".sqlite3": "sqlite",
    ".db3": "sqlite",
    ".duckdb": "duckdb",
    ".ddb": "duckdb",
}
_COMPRESSED = (".gz", ".zst")  # DuckDB reads CSV and JSON compressed this way as they are
# Only these are opened to read their first bytes: the magic decides ambiguous names (.db, no
# extension) and overrides a misleading extension; other files are never opened to be listed.
_SNIFFED = {"", ".db", ".bin", ".dat", ".data", ".parquet", ".pq", ".sqlite", ".sqlite3", ".db3"}
_SNIFFED |= {".duckdb", ".ddb"}
_SQLITE_MAGIC = b"SQLite format 3\x00"
_PARQUET_MAGIC = b"PAR1"
_DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of a DuckDB database file

_MAX_NAME_BYTES = 255  # a file name's limit on Linux and macOS file systems
_MAX_PATH_BYTES = 4000  # under PATH_MAX (4096 with the NUL), leaving room for a temp name
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")
_CHUNK = 1 << 20
_MB = 1024 * 1024

_demo_lock = threading.Lock()
_demo_files: dict[str, bytes] = {}  # built once per process, then copied into each new home
_demo_failed: list[str] = []  # why building them failed, if it did (then never retried)
log = logging.getLogger(__name__)


# --- roots --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Root:
    """A folder the file browser may open, under a unique short name."""

    name: str
    path: Path


@dataclass(frozen=True)
class Entry:
    """One file or folder inside a root."""

    root: str
    relative: str  # POSIX path from the root ("" is the root itself)
    name: str
    is_dir: bool
    size: int  # bytes; 0 for folders
    modified: datetime  # local time, time-zone aware
    kind: str | None  # one of KINDS, or None for anything Tusk cannot read


def roots() -> list[Root]:
    """The data roots: the `data_roots` setting (default TUSK_HOME/data), then the demo files."""
    data = config.home() / DATA_DIR
    data.mkdir(mode=0o700, exist_ok=True)
    configured = [Path(p).expanduser() for p in config.get("data_roots")] or [data]
    demo = data / DEMO_ROOT
    _ensure_demo_files(demo)
    found: list[Root] = []
    names: set[str] = set()
    paths: set[Path] = set()
    for folder in [*configured, demo]:
        try:
            path = folder.resolve()
        except (OSError, RuntimeError):
            continue
        if path in paths or not path.is_dir():
            continue  # a root removed since it was configured is simply not shown
        if private.contains_home(path):
            # Tusk's own files (secret key, auth.db) must never be inside a data root: SQL
            # confined to the roots could read them.
            log.warning("data root %s holds Tusk's home %s: not used", path, private.home())
            continue
        name = path.name or "root"
        n = 2
        while name in names:
            name, n = f"{path.name or 'root'}-{n}", n + 1
        found.append(Root(name, path))
        names.add(name)
        paths.add(path)
    return found


def confinement(actor: User | None) -> tuple[Path, ...] | None:
    """The folders SQL run for `actor` may read and write: the data roots for every signed-in
    user in multi-user mode, admins too (DuckDB confines a whole database file, which all
    sessions of this process share); None, no limit, in single-user mode and for the trusted
    CLI (no actor)."""
    if actor is None or auth.mode() != "multi":
        return None
    return tuple(r.path for r in roots())


def root(name: str) -> Root:
    """The root called `name`."""
    known = roots()
    for r in known:
        if r.name == name:
            return r
    raise BadInput(
        f"There is no data root called {name!r}; the roots are: "
        f"{', '.join(r.name for r in known) or 'none'}.",
        "Unknown data root",
    )


def resolve(root_name: str, relative: str = "") -> Path:
    """The absolute path of `relative` inside the root, or BadInput if it would leave it."""
    base = root(root_name).path
    rel = _relative(relative)
    if len(os.fsencode(base / rel)) > _MAX_PATH_BYTES:
        raise BadInput(
            f"This path is longer than {_MAX_PATH_BYTES:,} bytes with its data root, the file "
            "system's limit: use fewer or shorter folder names.",
            "Path too long",
        )
    try:
        path = (base / rel).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise BadInput(f"Cannot follow {_show(root_name, rel)}: {exc}.", "Bad path") from None
    if not path.is_relative_to(base):
        raise BadInput(
            f"{_show(root_name, rel)} leads outside the data root through a symbolic link: "
            "Tusk only opens files inside its data roots.",
            "Outside the data root",
        )
    return path


def _relative(relative: str) -> PurePosixPath:
    """A checked relative path: no NUL, not absolute, no `..` part."""
    text = str(relative or "")
    if "\x00" in text:
        raise BadInput("A path cannot contain a NUL character.", "Bad path")
    rel = PurePosixPath(text)
    if rel.is_absolute():  # "~x" is a plain name here: nothing expands it
        raise BadInput(
            f"{text!r} is an absolute path: give a path relative to the data root.", "Bad path"
        )
    if ".." in rel.parts:
        raise BadInput(
            f"{text!r} climbs out with '..': give a path inside the data root.", "Bad path"
        )
    try:
        os.fsencode(text)
    except UnicodeEncodeError:
        raise BadInput(f"{text!r} is not a valid file name.", "Bad path") from None
    # The OS refuses longer names with "File name too long": say so before asking it.
    if any(len(os.fsencode(part)) > _MAX_NAME_BYTES for part in rel.parts):
        raise BadInput(
            f"A name in this path is longer than {_MAX_NAME_BYTES} bytes, the file system's "
            "limit: shorten it.",
            "Name too long",
        )
    if len(os.fsencode(text)) > _MAX_PATH_BYTES:
        raise BadInput(
            f"This path is longer than {_MAX_PATH_BYTES:,} bytes, the file system's limit: "
            "use fewer or shorter folder names.",
            "Path too long",
        )
    return rel


def _show(root_name: str, rel: PurePosixPath | str) -> str:
    """How a path appears in messages: root/relative, never the server's absolute path."""
    text = str(rel)
    return root_name if text in ("", ".") else f"{root_name}/{text}"


def _posix(rel: PurePosixPath) -> str:
    text = str(rel)
    return "" if text == "." else text


# --- listing --------------------------------------------------------------------------------


def listdir(root_name: str, relative: str = "", *, actor: User | None = None) -> list[Entry]:
    """Folders then files (by name) in a folder of a root (needs data.view); dot-files and
    symlinks that lead outside the root are left out."""
    auth.require(actor, "data.view")
    base = root(root_name).path
    folder = resolve(root_name, relative)
    rel = _relative(relative)
    if not folder.is_dir():
        raise BadInput(f"{_show(root_name, rel)} is not a folder.", "Not a folder")
    entries: list[Entry] = []
    try:
        with os.scandir(folder) as it:
            for item in it:
                if item.name.startswith("."):
                    continue
                entry = _entry(root_name, base, Path(item.path), _posix(rel / item.name))
                if entry is not None:
                    entries.append(entry)
    except PermissionError:
        raise BadInput(f"Tusk may not read the folder {_show(root_name, rel)}.") from None
    entries.sort(key=lambda e: (not e.is_dir, e.name.casefold(), e.name))
    return entries


def info(root_name: str, relative: str, *, actor: User | None = None) -> Entry:
    """The Entry for one file or folder (needs data.view)."""
    auth.require(actor, "data.view")
    return _info(root_name, relative)


def _info(root_name: str, relative: str) -> Entry:
    """The Entry for one file or folder, unchecked: for a file the caller has just written."""
    base = root(root_name).path
    path = resolve(root_name, relative)
    rel = _relative(relative)
    entry = _entry(root_name, base, base / rel, _posix(rel), resolved=path)
    if entry is None:
        raise BadInput(f"{_show(root_name, rel)} does not exist.", "No such file")
    return entry


def _entry(
    root_name: str, base: Path, path: Path, relative: str, resolved: Path | None = None
) -> Entry | None:
    """An Entry, or None for what the browser does not show (outside the root, gone, special)."""
    try:
        if resolved is None and path.is_symlink():
            resolved = path.resolve()
            if not resolved.is_relative_to(base):
                return None
        st = path.stat()  # follows the symlink, whose target is inside the root
    except (OSError, RuntimeError):
        return None
    is_dir = stat.S_ISDIR(st.st_mode)
    if not is_dir and not stat.S_ISREG(st.st_mode):
        return None  # sockets, FIFOs and devices: reading a FIFO would block forever
    name = PurePosixPath(relative).name if relative else root_name
    return Entry(
        root=root_name,
        relative=relative,
        name=name,
        is_dir=is_dir,
        size=0 if is_dir else st.st_size,
        modified=datetime.fromtimestamp(st.st_mtime).astimezone(),
        kind=None if is_dir else _kind(path, st.st_size),
    )


def _kind(path: Path, size: int) -> str | None:
    """The file's kind from its extension, or from its first bytes where those decide."""
    suffix = path.suffix.lower()
    if suffix in _COMPRESSED:
        inner = _EXTENSIONS.get(Path(path.stem).suffix.lower())
        return inner if inner in ("csv", "json") else None
    by_name = _EXTENSIONS.get(suffix)
    if suffix in _SNIFFED and size >= 16:
        by_magic = _magic(path)
        if by_magic is not None:
            return by_magic
    return by_name


def _magic(path: Path) -> str | None:
    """parquet / sqlite / duckdb when the first bytes say so."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return None
    if head.startswith(_SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(_PARQUET_MAGIC):
        return "parquet"
    if head[8:12] == _DUCKDB_MAGIC:
        return "duckdb"
    return None


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    """The head of a file: DuckDB's column types and the first rows."""

    root: str
    relative: str
    kind: str
    schema: list[tuple[str, str]]  # (column, DuckDB type such as DECIMAL(10,2))
    rows: pa.Table  # at most `limit` rows; rows.schema is the Arrow schema
    truncated: bool  # the file has more rows than `rows`
    table: str | None = None  # the SQLite table shown
    note: str | None = None  # e.g. why every column is shown as text


def scan_sql(
    root_name: str, relative: str, *, table: str | None = None, actor: User | None = None
) -> str:
    """DuckDB's table expression for a file, e.g. read_parquet('/data/it''s.parquet') (needs
    data.view); for SQLite, `table` picks the table (default: the first of sqlite_tables),
    read with sqlite_scan, or with st_read for a user whose SQL is confined."""
    auth.require(actor, "data.view")
    path, kind, shown = _readable(root_name, relative)
    if kind != "sqlite":
        return _scan(path, kind)
    with _reader(kind) as conn:
        table = _table(conn, path, shown, table)
    if confinement(actor) is not None:
        # A confined DuckDB has no SQLite scanner (it reads past the roots): spatial's
        # st_read reads the table through DuckDB's own file system, which the roots bound.
        return f"st_read({sql_literal(str(path))}, layer => {sql_literal(table)})"
    return _scan(path, kind, table)


def sqlite_tables(root_name: str, relative: str, *, actor: User | None = None) -> list[str]:
    """Tables and views in a SQLite file, by name (needs data.view)."""
    auth.require(actor, "data.view")
    path, kind, shown = _readable(root_name, relative)
    if kind != "sqlite":
        raise BadInput(f"{shown} is not a SQLite database.", "Not SQLite")
    with _reader(kind) as conn:
        return _sqlite_tables(conn, path, shown)


def preview(
    root_name: str,
    relative: str,
    limit: int = 100,
    *,
    table: str | None = None,
    actor: User | None = None,
) -> Preview:
    """Schema and first `limit` rows of a file, reading only its head, no full scan (needs
    data.view)."""
    auth.require(actor, "data.view")
    if not 1 <= int(limit) <= MAX_PREVIEW_ROWS:
        raise BadInput(f"Preview from 1 to {MAX_PREVIEW_ROWS:,} rows, not {limit}.")
    limit = int(limit)
    path, kind, shown = _readable(root_name, relative)
    note = None
    with _reader(kind) as conn:
        if kind == "sqlite":
            table = _table(conn, path, shown, table)
        # LIMIT lets DuckDB stop reading early (bound, it is as fast as a literal: 36 vs 38 ms
        # on a 5M-row CSV); limit + 1 rows tell if there are more. The scan quotes the path.
        sql = "SELECT * FROM " + _scan(path, kind, table) + " LIMIT ?"  # noqa: S608 - quoted
        try:
            result, columns = conn.execute_typed(sql, [limit + 1], limit=limit)
        except QueryFailed as exc:
            if kind != "sqlite" or "sqlite_all_varchar" not in exc.message:
                raise _read_error(shown, kind, exc, path) from None
            # SQLite lets a column mix types; DuckDB then refuses the declared type. Show text.
            try:
                result, columns = conn.execute_typed(
                    "SET sqlite_all_varchar = true;\n" + sql, [limit + 1], limit=limit
                )
            except QueryFailed as exc2:
                raise _read_error(shown, kind, exc2, path) from None
            note = "Some columns mix types, so every column is shown as text."
    rel = _posix(_relative(relative))
    return Preview(root_name, rel, kind, columns, result.table, result.truncated, table, note)


def row_count(
    root_name: str, relative: str, *, table: str | None = None, actor: User | None = None
) -> int:
    """The number of rows in a file: a full scan, so only on request; Parquet reads metadata
    (needs data.view)."""
    auth.require(actor, "data.view")
    path, kind, shown = _readable(root_name, relative)
    with _reader(kind) as conn:
        if kind == "sqlite":
            table = _table(conn, path, shown, table)
        sql = "SELECT count(*) FROM " + _scan(path, kind, table)  # noqa: S608 - quoted path
        try:
            result = conn.execute(sql, limit=1)
        except QueryFailed as exc:
            if kind != "sqlite" or "sqlite_all_varchar" not in exc.message:
                raise _read_error(shown, kind, exc, path) from None
            result = conn.execute("SET sqlite_all_varchar = true;\n" + sql, limit=1)
    return int(result.table.column(0)[0].as_py())


def _readable(root_name: str, relative: str) -> tuple[Path, str, str]:
    """A regular, non-empty file inside the root that DuckDB can read: its path, its kind and
    how to name it in messages."""
    shown = _show(root_name, _relative(relative))
    path = resolve(root_name, relative)
    if not path.exists():
        raise BadInput(f"{shown} does not exist.", "No such file")
    if not path.is_file():
        raise BadInput(f"{shown} is not a file.", "Not a file")
    size = path.stat().st_size
    if size == 0:
        raise BadInput(f"{shown} is empty (0 bytes): there is nothing to read.", "Empty file")
    kind = _kind(path, size)
    if kind == "duckdb":
        raise BadInput(
            f"{shown} is a DuckDB database: add it as a DuckDB connection to query it.",
            "DuckDB database file",
        )
    if kind not in QUERYABLE:
        raise BadInput(
            f"Tusk cannot read {shown}: it reads Parquet, CSV, JSON and SQLite files "
            "(.parquet, .csv, .tsv, .json, .jsonl, .sqlite, .db …).",
            "Unknown file type",
        )
    return path, kind, shown


def _scan(path: Path, kind: str, table: str | None = None) -> str:
    """The table expression; the path is a quoted literal, its wildcards escaped."""
    if kind == "sqlite":
        # sqlite_scan opens the path as it is (no wildcards); the table name is a literal.
        return f"sqlite_scan({sql_literal(str(path))}, {sql_literal(table or '')})"
    literal = sql_literal(escape_glob(str(path)))
    if kind == "csv":
        # "" stays an empty string and only an empty field is NULL, as Tusk's CSV export writes.
        return f"read_csv_auto({literal}, allow_quoted_nulls = false)"
    return f"{'read_parquet' if kind == 'parquet' else 'read_json_auto'}({literal})"


def _table(conn: Attaching, path: Path, shown: str, table: str | None) -> str:
    """The SQLite table to read: the one asked for (it must exist), else the first."""
    tables = _sqlite_tables(conn, path, shown)
    if table is None:
        if not tables:
            raise BadInput(f"{shown} has no tables.", "Empty database")
        return tables[0]
    if table not in tables:
        raise BadInput(
            f"{shown} has no table {table!r}; it has: {', '.join(tables) or 'none'}.",
            "No such table",
        )
    return table


def _sqlite_tables(conn: Attaching, path: Path, shown: str) -> list[str]:
    alias = f"f_{uuid.uuid4().hex[:8]}"  # generated, and the query takes it as a parameter
    try:
        conn.attach_sqlite(path, alias)
        try:
            result = conn.execute(_SQLITE_TABLES, [alias, alias], limit=None)
        finally:
            conn.detach(alias)
    except QueryFailed as exc:
        raise _read_error(shown, "sqlite", exc, path) from None
    return [str(v) for v in result.table.column(0).to_pylist()]


_PREPARE_FAILED = re.compile(r'^Failed to prepare query ".*?": ', re.DOTALL)

_SQLITE_TABLES = """
select table_name from duckdb_tables() where database_name = ?
union
select view_name from duckdb_views() where database_name = ?
order by 1
"""


@contextmanager
def _reader(kind: str) -> Iterator[Attaching]:
    """A private in-memory DuckDB (with sqlite_scanner when needed), closed afterwards. With
    isolation on (the app), it runs in the files worker process: a file that crashes DuckDB
    (a deeply nested JSON) crashes that worker, never the server. Only Tusk's own SQL over
    a checked path runs there, so it is not confined."""
    from tusk.engines import isolation

    extensions = "sqlite_scanner" if kind == "sqlite" else ""
    conn: Connection
    if isolation.enabled():
        spec = ConnectionSpec("files", "duckdb", options={"extensions": extensions})
        conn = isolation.connect(spec)
    else:
        conn = DuckDBConnection(open_duckdb(None, [extensions] if extensions else []))
    try:
        assert attaching(conn)  # a DuckDB session, here or in the files worker
        yield conn
    finally:
        conn.close()


def _read_error(shown: str, kind: str, exc: QueryFailed, path: Path) -> BadInput:
    """DuckDB's reason (first paragraph, no SQL echo), naming the file as root/relative."""
    message = exc.message.split("\n\nLINE ")[0].split("\n\n")[0].strip()
    # sqlite_scanner quotes its own catalog query before SQLite's reason: keep the reason.
    message = _PREPARE_FAILED.sub("", message)
    message = message.replace(escape_glob(str(path)), shown).replace(str(path), shown)
    return BadInput(f"Cannot read {shown} as {_LABELS[kind]}: {message}", "Cannot read file")


# --- views ----------------------------------------------------------------------------------


def register_table(
    conn: Connection, name: str, root_name: str, relative: str, *, actor: User | None = None
) -> None:
    """Register a data file as DataFusion table `name`, read when queried (needs data.view:
    the table reads the file)."""
    auth.require(actor, "data.view")
    if not registers_files(conn):
        raise BadInput("Files are registered as tables on a DataFusion connection.")
    path, kind, _ = _readable(root_name, relative)
    conn.register_file(name, path, kind)


def attach_sqlite(
    conn: Connection, alias: str, root_name: str, relative: str, *, actor: User | None = None
) -> None:
    """ATTACH a SQLite file of a data root READ_ONLY to a DuckDB connection as `alias`
    (needs data.view: its tables can then be read)."""
    auth.require(actor, "data.view")
    if not attaching(conn):
        raise BadInput("SQLite files are attached to a DuckDB connection.", "Not DuckDB")
    path, kind, shown = _readable(root_name, relative)
    if kind != "sqlite":
        raise BadInput(f"{shown} is not a SQLite database.", "Not SQLite")
    conn.attach_sqlite(path, alias)


def create_view(
    conn: Connection,
    view: str,
    root_name: str,
    relative: str,
    *,
    table: str | None = None,
    actor: User | None = None,
) -> str:
    """CREATE OR REPLACE VIEW `view` AS SELECT * FROM the file, on a DuckDB connection;
    returns the statement (needs queries.execute, what typing that statement needs, and
    data.view, as the view reads the file)."""
    auth.require(actor, "queries.execute")
    if not (conn.abilities.file_views and attaching(conn)):
        raise BadInput("Views over files need a DuckDB connection.", "Not DuckDB")
    name = str(view).strip()
    if not name or "\x00" in name:
        raise BadInput("Give the view a name (without NUL characters).", "Bad view name")
    scan = scan_sql(root_name, relative, table=table, actor=actor)
    if scan.startswith("sqlite_scan("):
        conn.load_extension("sqlite_scanner")
    statement = "CREATE OR REPLACE VIEW " + quote_ident(name) + " AS SELECT * FROM " + scan  # noqa: S608
    conn.execute(statement, limit=None)
    return statement


# --- writing --------------------------------------------------------------------------------


def safe_name(name: str) -> str:
    """A file name made safe to write: path separators and control characters become _,
    no leading dots or spaces (no hidden files, no '..'), at most 255 bytes."""
    text = unicodedata.normalize("NFC", str(name or ""))
    check_encodable(text, "The file name")
    text = _UNSAFE_NAME.sub("_", text).strip().lstrip(". ").rstrip()
    if len(text.encode("utf-8")) > _MAX_NAME_BYTES:
        stem, dot, ext = text.rpartition(".")
        ext = (dot + ext) if dot and len(ext) <= 16 else ""
        stem = text[: len(text) - len(ext)]
        budget = _MAX_NAME_BYTES - len(ext.encode("utf-8"))
        stem = stem.encode("utf-8")[:budget].decode("utf-8", "ignore").rstrip()
        text = stem + ext
    if not text or not text.strip("_"):
        raise BadInput(f"{name!r} is not a usable file name.", "Bad file name")
    return text


def upload_limit_mb() -> int:
    """The largest upload in MB (1 MB = 1024 × 1024 bytes): the upload_max_mb setting."""
    return int(config.get("upload_max_mb"))


def upload(
    root_name: str,
    relative_dir: str,
    name: str,
    data: bytes | BinaryIO,
    *,
    overwrite: bool = False,
    actor: User | None = None,
) -> Entry:
    """Write an uploaded file into a folder of a root (needs data.import). The name is made
    safe; an existing file is only replaced with overwrite=True; the write is atomic and
    at most `upload_max_mb` MB."""
    auth.require(actor, "data.import")
    filename = safe_name(name)
    folder, relative = _target(root_name, relative_dir, filename, overwrite)
    limit_mb = upload_limit_mb()
    limit = limit_mb * _MB
    if isinstance(data, bytes | bytearray | memoryview) and len(data) > limit:
        raise BadInput(_too_big(filename, limit_mb), "File too large")
    tmp = _temp_path(folder)
    try:
        with open(tmp, "xb") as fh:
            if isinstance(data, bytes | bytearray | memoryview):
                fh.write(data)
            else:
                written = 0
                while chunk := data.read(_CHUNK):
                    written += len(chunk)
                    if written > limit:
                        raise BadInput(_too_big(filename, limit_mb), "File too large")
                    fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        _publish(tmp, folder / filename, overwrite, _show(root_name, relative))
    except OSError as exc:  # a full disk: the temp file goes, an existing file stays as it was
        raise config.write_failed(_show(root_name, relative), exc) from None
    finally:
        tmp.unlink(missing_ok=True)
    return _info(root_name, relative)


def delete(root_name: str, relative: str, *, actor: User | None = None) -> None:
    """Delete one file from a root (needs data.import); folders are refused."""
    auth.require(actor, "data.import")
    rel = _relative(relative)
    shown = _show(root_name, rel)
    if not _posix(rel):
        raise BadInput("A data root itself cannot be deleted.", "Not a file")
    path = resolve(root_name, relative)
    # The link itself (not its target) is what the browser shows under this name.
    link = resolve(root_name, _posix(rel.parent)) / rel.name
    if path.is_dir():
        raise BadInput(f"{shown} is a folder: Tusk deletes files only.", "Not a file")
    if not link.is_symlink() and not path.exists():
        raise BadInput(f"{shown} does not exist.", "No such file")
    try:
        (link if link.is_symlink() else path).unlink()
    except FileNotFoundError:
        raise BadInput(f"{shown} does not exist.", "No such file") from None
    except OSError as exc:
        raise BadInput(f"Cannot delete {shown}: {exc.strerror}.", "Delete failed") from None


def export(
    conn: Connection,
    sql: str,
    fmt: str,
    root_name: str,
    relative: str,
    *,
    params: Params = None,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
    actor: User | None = None,
) -> Entry:
    """Stream a query's full result into a file in a root as csv/json/parquet (needs
    data.export, and queries.export, which tusk.export checks). `.fmt` is added to the name
    unless it ends so; an existing file is only replaced with overwrite=True."""
    auth.require(actor, "data.export")
    fmt = str(fmt).lower().lstrip(".")
    if fmt not in exporting.FORMATS:
        raise BadInput(
            f"Unknown export format {fmt!r}: use one of {', '.join(exporting.FORMATS)}.",
            "Unknown format",
        )
    rel = _relative(relative)
    if not _posix(rel):
        raise BadInput("Give the file a name to export to.", "File name missing")
    filename = safe_name(rel.name)
    if not filename.lower().endswith("." + fmt):
        filename += "." + fmt
    folder, relative = _target(root_name, _posix(rel.parent), filename, overwrite)
    tmp = _temp_path(folder)
    try:
        with open(tmp, "xb") as fh:
            exporting.export(conn, sql, fmt, fh, params=params, progress=progress, actor=actor)
            fh.flush()
            os.fsync(fh.fileno())
        _publish(tmp, folder / filename, overwrite, _show(root_name, relative))
    except OSError as exc:  # a full disk: the temp file goes, an existing file stays as it was
        raise config.write_failed(_show(root_name, relative), exc) from None
    finally:
        tmp.unlink(missing_ok=True)
    return _info(root_name, relative)


def _target(root_name: str, relative_dir: str, filename: str, overwrite: bool) -> tuple[Path, str]:
    """The folder to write into and the new file's relative path, refusing a clash early."""
    folder_rel = _relative(relative_dir)
    folder = resolve(root_name, relative_dir)
    if not folder.is_dir():
        raise BadInput(f"{_show(root_name, folder_rel)} is not a folder.", "No such folder")
    relative = _posix(folder_rel / filename)
    target = resolve(root_name, relative)  # an existing symlink here must stay inside too
    if target.is_dir():
        raise BadInput(f"{_show(root_name, relative)} is a folder.", "Name taken")
    if target.exists() and not overwrite:
        raise BadInput(_clash(_show(root_name, relative)), "File exists")
    return folder, relative


def _temp_path(folder: Path) -> Path:
    """A hidden temp file name in the target folder (same file system, so rename is atomic;
    short, so a 255-byte file name still has room)."""
    return folder / f".tusk-{uuid.uuid4().hex}.part"


def _publish(tmp: Path, target: Path, overwrite: bool, shown: str) -> None:
    """Move a finished temp file into place; without overwrite, never replace a file that
    appeared meanwhile (a hard link fails if the name exists, unlike rename)."""
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise BadInput(_clash(shown), "File exists") from None
    except OSError:  # a file system without hard links: check, then rename
        if target.exists():
            raise BadInput(_clash(shown), "File exists") from None
        os.replace(tmp, target)


def _clash(shown: str) -> str:
    return f"{shown} already exists — choose overwrite or another name."


def _too_big(name: str, limit_mb: int) -> str:
    return f"{name} is larger than the upload limit of {limit_mb:,} MB (the upload_max_mb setting)."


# --- demo files -----------------------------------------------------------------------------

_DEMO_MARKER = ".tusk-demo"
_DEMO_COPIES = {
    "cities.csv": ("cities", "(FORMAT csv, HEADER)"),
    "customers.csv": ("customers", "(FORMAT csv, HEADER)"),
    "products.json": ("products", "(FORMAT json)"),  # JSON Lines: DuckDB and DataFusion read it
    "orders.parquet": ("orders", "(FORMAT parquet)"),
    "order_items.parquet": ("order_items", "(FORMAT parquet)"),
}


def _ensure_demo_files(folder: Path) -> None:
    """Write the demo files once per home (deleted ones stay deleted: the marker says so).
    A file of that name already there — a user's — is never replaced, and processes starting
    at once take turns (the lock file)."""
    if (folder / _DEMO_MARKER).exists():
        return
    with _demo_lock:
        if (folder / _DEMO_MARKER).exists() or _demo_failed:
            return
        if not _demo_files:
            try:
                _demo_files.update(_build_demo_files())
            except (TuskError, OSError) as exc:
                # Without demo files the browser still works: say why once, do not retry.
                _demo_failed.append(str(exc))
                log.warning("Could not build the demo data files: %s", exc)
                return
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            with config.locked(folder):
                if (folder / _DEMO_MARKER).exists():
                    return  # another process wrote them while we waited
                for name, content in _demo_files.items():
                    config.write_new(folder / name, content, 0o644)
                config.write_new(folder / _DEMO_MARKER, "demo files written by Tusk\n", 0o644)
        except (TuskError, OSError) as exc:
            # A full disk: the browser still works without them; try again next time.
            log.warning("Could not write the demo data files: %s", exc)


def _build_demo_files() -> dict[str, bytes]:
    """The demo shop's tables as CSV, JSON Lines, Parquet and one SQLite database."""
    from tusk.demo import DEMO_TABLES, create_demo

    with tempfile.TemporaryDirectory(prefix="tusk-demo-") as tmp:
        work = Path(tmp)
        create_demo(str(work / "demo.duckdb"))
        conn = DuckDBConnection(open_duckdb(None, ["sqlite_scanner"]))
        try:
            conn.execute(
                "ATTACH " + sql_literal(str(work / "demo.duckdb")) + " AS d (READ_ONLY)", limit=None
            )
            for name, (table, options) in _DEMO_COPIES.items():
                target = sql_literal(str(work / name))
                source = "d.main." + quote_ident(table)
                conn.execute("COPY " + source + " TO " + target + " " + options, limit=None)
            conn.execute(
                "ATTACH " + sql_literal(str(work / "shop.sqlite")) + " AS s (TYPE sqlite)",
                limit=None,
            )
            for table in DEMO_TABLES:
                name = quote_ident(table)
                conn.execute(
                    "CREATE TABLE s." + name + " AS SELECT * FROM d.main." + name,  # noqa: S608
                    limit=None,
                )
            conn.execute("DETACH s", limit=None)
        finally:
            conn.close()
        return {name: (work / name).read_bytes() for name in [*_DEMO_COPIES, "shop.sqlite"]}
