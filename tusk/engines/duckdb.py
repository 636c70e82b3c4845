"""DuckDB adapter: embedded, streaming Arrow results, extensions loaded offline from wheels."""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import pyarrow as pa

from tusk.catalog import Catalog, CatalogBuilder, ForeignKey
from tusk.engines.abilities import DuckDBAbilities
from tusk.engines.base import (
    Abilities,
    ConfiguredEngine,
    LoadMode,
    Params,
    check_load_mode,
    check_params,
    check_text,
    database_file,
    dedupe_names,
    error_position,
    load_reader,
    quote_ident,
    sql_literal,
)
from tusk.engines.result import QueryResult, empty_table
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput, ConnectionFailed, QueryCancelled, QueryFailed

DUCKDB_VERSION = "1.5.5"
# Extensions come from the PyPI duckdb-extension-* wheels; DuckDB never downloads anything.
OFFLINE_EXTENSIONS = ("spatial", "postgres_scanner", "sqlite_scanner")
BASE_CONFIG: dict[str, str | bool] = {  # every DuckDB database Tusk opens
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}

_DML = {"INSERT", "UPDATE", "DELETE", "MERGE_INTO"}
# A read-only session runs each statement in its own READ ONLY transaction; these statement
# types would end that transaction, or reach outside it (attach, load code), so they are
# refused there. The engine itself refuses every write inside the transaction.
_NOT_READ_ONLY = {"TRANSACTION", "ATTACH", "DETACH", "LOAD", "EXTENSION", "COPY_DATABASE"}


def extension_path(name: str) -> Path:
    """The extension file shipped in the duckdb-extension-<name> wheel."""
    pkg = f"duckdb_extension_{name}"
    spec = importlib.util.find_spec(pkg)
    if spec is None or not spec.submodule_search_locations:
        raise ConnectionFailed(
            f"The DuckDB extension {name!r} is not installed: pip install "
            f"duckdb-extension-{name.replace('_', '-')}=={DUCKDB_VERSION}",
            "Missing DuckDB extension",
        )
    base = Path(next(iter(spec.submodule_search_locations)))
    path = base / "extensions" / f"v{DUCKDB_VERSION}" / f"{name}.duckdb_extension"
    if not path.exists():
        raise ConnectionFailed(f"DuckDB extension file missing: {path}", "Missing DuckDB extension")
    return path


def _value(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    """The first value of the one row `sql` returns (a setting, a yes/no); None without a row."""
    row = con.execute(sql).fetchone()
    return row[0] if row is not None else None


def load_extension(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """LOAD an offline extension into a DuckDB connection. A database confined to the data
    roots refuses LOAD (even of an extension it has); confining loaded them all before."""
    if not _value(con, "select current_setting('enable_external_access')"):
        return
    # LOAD takes no parameters; the path comes from the installed wheel, as a literal.
    con.execute("LOAD " + sql_literal(str(extension_path(name))))


def escape_glob(path: str) -> str:
    """A file path for read_parquet/read_csv/read_json that names exactly that file: DuckDB
    reads *, ? and [ as wildcards, so each is bracketed ([*], [?], [[]) — ] alone is literal."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in path)


def open_duckdb(
    path: str | None = None, extensions: Iterable[str] = (), read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """Open DuckDB with auto-install off and the named offline extensions loaded."""
    con = duckdb.connect(path or ":memory:", read_only=read_only, config=dict(BASE_CONFIG))
    # A server never has a terminal to draw on: the bar only ends up in captured output. It is
    # a per-connection setting (refused in the config), on for Python's connections (not their
    # cursors). A file this process already confined has its configuration locked: the SET is
    # refused there, and the bar, drawn only after 2 s, is the lesser harm.
    with contextlib.suppress(duckdb.Error):
        con.execute("SET enable_progress_bar = false")
    for ext in extensions:
        load_extension(con, ext)
    return con


def duckdb_error(exc: Exception, statement: str, offset: int = 0) -> QueryFailed | QueryCancelled:
    """Map a DuckDB exception to a Tusk error with the database's message and position."""
    msg = str(exc).strip()
    if isinstance(exc, duckdb.InterruptException):
        return QueryCancelled("The query was cancelled.")
    pos = error_position(msg, statement)
    return QueryFailed(msg, position=pos + offset if pos is not None else None)


class DuckDBConnection:
    """One DuckDB connection; `cancel` interrupts it from any thread."""

    engine: ClassVar[str] = "duckdb"
    abilities: ClassVar[type[Abilities]] = DuckDBAbilities

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self._lock = threading.Lock()
        self._loaded: set[str] = set()  # offline extensions LOADed through this object
        self._secrets: set[str] = set()  # passwords given to ATTACH: scrubbed from every error
        self._confined: tuple[Path, ...] | None = None  # the data roots, once confined
        self._read_only_files = False  # confined without write: COPY/EXPORT/ATTACH refused
        self._streams: set[duckdb.DuckDBPyConnection] = set()  # stream_arrow's open cursors
        self._cancel_asked = False  # cancel() since the last statement or stream began
        self._read_only = False  # set_read_only: every statement in a READ ONLY transaction

    def _error(
        self, exc: Exception, statement: str, offset: int = 0
    ) -> QueryFailed | QueryCancelled:
        """duckdb_error, with any password this connection was given blanked out."""
        err = duckdb_error(exc, statement, offset)
        # Through pyarrow's stream reader an interrupt arrives as an OSError with this text;
        # DuckDB also says it for a worker stopped by its sibling's error, so it means a
        # cancel only when one was asked for.
        if self._cancel_asked and err.message.startswith("INTERRUPT Error"):
            return QueryCancelled("The query was cancelled.")
        if self._confined is not None and "disabled by configuration" in err.message:
            err.message += (
                "\n\nOn this Tusk, SQL reads and writes files only inside the data roots."
            )
            err.args = (err.message,)
        if self._secrets:
            for secret in self._secrets:
                err.message = err.message.replace(secret, "********")
            err.args = (err.message,)
        return err

    @property
    def raw(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection, for library code that needs DuckDB itself (ETL, geo)."""
        return self._con

    def execute(self, sql: str, params: Params = None, *, limit: int | None = 1000) -> QueryResult:
        """Run one or more statements; fetch at most limit + 1 rows of the last."""
        return self._run(sql, params, limit)[0]

    def execute_typed(
        self, sql: str, params: Params = None, *, limit: int | None = 1000
    ) -> tuple[QueryResult, list[tuple[str, str]]]:
        """Like execute, plus the last statement's columns as (name, DuckDB type name) pairs
        (DECIMAL(10,2), STRUCT(a INTEGER) … which Arrow types only approximate)."""
        return self._run(sql, params, limit)

    def _run(
        self, sql: str, params: Params, limit: int | None
    ) -> tuple[QueryResult, list[tuple[str, str]]]:
        start = time.perf_counter()
        check_text(sql)
        check_params(params)
        self._cancel_asked = False
        with self._lock:
            try:
                statements = duckdb.extract_statements(sql)
            except duckdb.Error as exc:
                raise self._error(exc, sql) from None
            if not statements:
                raise QueryFailed("There is no SQL to run.", "Empty query")
            self._refuse_file_writes(statements)
            self._refuse_outside_read_only(statements)
            offset, current = 0, sql
            columns: list[tuple[str, str]] = []
            in_tx = False
            try:
                for stmt in statements[:-1]:
                    offset, current = _locate(sql, stmt.query, offset), stmt.query
                    in_tx = self._begin(self._con)
                    self._con.execute(stmt if self._read_only else stmt.query)
                    in_tx = self._commit(self._con, in_tx)
                    offset += len(stmt.query)
                last = statements[-1]
                offset, current = _locate(sql, last.query, offset), last.query
                in_tx = self._begin(self._con)
                self._con.execute(last if self._read_only else last.query, params)
                if self._con.description is None:
                    table, truncated = empty_table(), False
                else:
                    columns = [(d[0], str(d[1])) for d in self._con.description]
                    reader = self._con.to_arrow_reader(
                        min(limit + 1, 100_000) if limit is not None else 100_000
                    )
                    table, truncated = _read_limited(reader, limit)
                in_tx = self._commit(self._con, in_tx)
            except (duckdb.Error, RuntimeError) as exc:
                if in_tx:
                    with contextlib.suppress(duckdb.Error):
                        self._con.execute("ROLLBACK")
                raise self._error(exc, current, offset) from None
        affected = None
        if last.type.name in _DML and table.column_names == ["Count"] and table.num_rows == 1:
            affected = int(table.column(0)[0].as_py())
            table, columns = empty_table(), []  # like every engine: DML has no result set
        result = QueryResult(
            dedupe_names(table), truncated, time.perf_counter() - start, sql, affected
        )
        return result, columns

    def stream_arrow(
        self, sql: str, params: Params = None, batch_rows: int = 100_000
    ) -> Iterator[pa.RecordBatch]:
        """Stream the full result of one statement as Arrow batches."""
        check_text(sql)
        check_params(params)
        self._cancel_asked = False
        if self._read_only_files or self._read_only:
            try:
                statements = duckdb.extract_statements(sql)
            except duckdb.Error as exc:
                raise self._error(exc, sql) from None
            self._refuse_file_writes(statements)
            self._refuse_outside_read_only(statements)
        cur = self._con.cursor()  # its own cursor, so the main connection stays free
        self._streams.add(cur)
        try:
            try:
                self._begin(cur)  # a read-only session's stream ends with its cursor
                cur.execute(sql, params)
                reader = cur.to_arrow_reader(batch_rows)
            except (duckdb.Error, RuntimeError) as exc:
                raise self._error(exc, sql) from None
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except (duckdb.Error, RuntimeError, pa.ArrowException, OSError) as exc:
                    # An error mid-stream surfaces through pyarrow's reader as OSError.
                    raise self._error(exc, sql) from None
                yield batch
        finally:
            self._streams.discard(cur)
            cur.close()

    def load_arrow(
        self,
        table: str,
        batches: Iterable[pa.RecordBatch] | pa.Table,
        *,
        mode: LoadMode = "create",
        schema: str | None = None,
    ) -> int:
        """Load Arrow data with DuckDB's Arrow scan (zero-copy where it can)."""
        check_load_mode(mode)
        if self._read_only:
            raise QueryFailed(_READ_ONLY_MESSAGE, "Read-only session")
        reader = load_reader(table, batches, schema)
        # DuckDB's Python client has no identifier tool, and its relation API (rel.create)
        # drops embedded quotes from names: quote_ident is the one quoting path here, and the
        # hostile-name contract test holds it to account.
        target = (quote_ident(schema) + "." if schema else "") + quote_ident(table)
        view = f"__tusk_load_{id(reader)}"
        with self._lock:
            try:
                self._con.register(view, reader)
                try:
                    # Identifiers only, each quoted; DuckDB's driver has no quoting helper.
                    source = " SELECT * FROM " + quote_ident(view)
                    if mode == "replace":
                        self._con.execute("CREATE OR REPLACE TABLE " + target + " AS" + source)
                    elif mode == "create":
                        self._con.execute("CREATE TABLE " + target + " AS" + source)
                    else:
                        self._con.execute("INSERT INTO " + target + source)
                    count = self._con.fetchone()
                finally:
                    self._con.unregister(view)
            except (duckdb.Error, RuntimeError) as exc:
                raise self._error(exc, f"load into {target}") from None
        return int(count[0]) if count else 0

    # --- attached databases -------------------------------------------------------------------

    def load_extension(self, extension: str) -> None:
        """LOAD an offline extension once (the connection may have been opened without it)."""
        with self._lock:
            try:
                self._load(extension)
            except (duckdb.Error, RuntimeError) as exc:
                raise self._error(exc, "LOAD") from None

    def _load(self, extension: str) -> None:
        """load_extension for callers that hold the lock."""
        if extension not in self._loaded:
            load_extension(self._con, extension)
            self._loaded.add(extension)

    def attach_sqlite(self, path: Path, alias: str) -> None:
        """ATTACH a SQLite file READ_ONLY as `alias` (DuckDB's sqlite_scanner)."""
        name = _alias(alias)
        if self._confined is not None:
            raise BadInput(
                "On a shared Tusk, DuckDB reads SQLite files with st_read(path, layer => "
                "'table') (Query in a new tab writes it for you): the SQLite scanner opens "
                "files past the data roots, so it is not loaded here.",
                "SQLite attach unavailable",
            )
        path = Path(path)
        if not path.is_file():
            raise BadInput(f"{path} is not a file: choose an existing SQLite database.")
        # ATTACH takes no parameters: the path goes in as a quoted literal, the alias quoted.
        statement = (
            "ATTACH " + sql_literal(str(path)) + " AS " + quote_ident(name) + " (TYPE sqlite, "
            "READ_ONLY)"
        )
        with self._lock:
            try:
                self._load("sqlite_scanner")
                self._con.execute(statement)
            except (duckdb.Error, RuntimeError) as exc:
                raise self._attach_error(exc, statement, name) from None
            try:
                # ATTACH opens the file lazily: read its catalog now, so a file that is not a
                # SQLite database fails here rather than in the first query.
                self._con.execute(_ATTACHED_TABLES, [name]).fetchall()
            except (duckdb.Error, RuntimeError) as exc:
                err = self._attach_error(exc, statement, name)
                with contextlib.suppress(duckdb.Error):
                    self._con.execute("DETACH " + quote_ident(name))
                raise err from None

    def attach_postgres(self, spec: ConnectionSpec, alias: str) -> None:
        """ATTACH a saved PostgreSQL connection READ_ONLY as `alias` (postgres_scanner).

        The password never enters SQL text that DuckDB could echo: it goes into a temporary
        SECRET that ATTACH reads and that is dropped straight after (the attached database
        keeps its own copy for its connection pool; DuckDB never shows it), and the connection
        string ATTACH does show in errors and duckdb_databases() holds no password.
        """
        if spec.engine != "postgres":
            raise BadInput(f"{spec.name!r} is a {spec.engine} connection, not PostgreSQL.")
        if self._confined is not None:
            raise BadInput(
                "On a shared Tusk, DuckDB sessions are confined to the data roots and cannot "
                "attach PostgreSQL (the scanner would reach any server with this server's "
                "credentials). Query the PostgreSQL connection in its own tab, or import its "
                "tables on the Data page.",
                "Attach unavailable",
            )
        from tusk.engines.pg_conninfo import conninfo  # psycopg only when attaching

        name = _alias(alias)
        password = spec.secret()
        options = {k: v for k, v in spec.options.items() if k.lower() != "password"}
        public = spec.with_changes(password=None, password_env=None, options=options)
        try:
            libpq = conninfo(public)
        except Exception as exc:  # noqa: BLE001 - psycopg rejects unknown libpq options
            raise BadInput(
                f"The connection {spec.name!r} has options libpq does not accept: {exc}",
                "Bad connection options",
            ) from None
        secret = f"__tusk_pg_{uuid.uuid4().hex}"  # generated: no user text in the name
        attach = "ATTACH " + sql_literal(libpq) + " AS " + quote_ident(name) + " (TYPE postgres"
        attach += (
            (", SECRET " + quote_ident(secret) + ", READ_ONLY)") if password else ", READ_ONLY)"
        )
        failure: QueryFailed | None = None
        with self._lock:
            if password:
                self._secrets.add(password)
                self._secrets.add(sql_literal(password)[1:-1])  # as it would appear quoted
            try:
                self._load("postgres_scanner")
                if password:
                    self._con.execute(
                        "CREATE TEMPORARY SECRET "
                        + quote_ident(secret)
                        + " (TYPE postgres, PASSWORD "
                        + sql_literal(password)
                        + ")"
                    )
                try:
                    self._con.execute(attach)
                finally:
                    if password:
                        self._con.execute("DROP TEMPORARY SECRET IF EXISTS " + quote_ident(secret))
            except (duckdb.Error, RuntimeError) as exc:
                failure = self._attach_error(exc, attach, name)
        if failure is not None:
            # Raised outside the except block, so DuckDB's own unscrubbed exception is not
            # chained to it as __context__ (where a traceback or logger would still find it).
            raise failure

    def _attach_error(self, exc: Exception, statement: str, alias: str) -> QueryFailed:
        """An ATTACH failure as a QueryFailed titled for it (password scrubbed)."""
        err = self._error(exc, statement)
        if isinstance(err, QueryCancelled):
            return QueryFailed("Attaching was cancelled.", "Attach failed")
        err.title = f"Cannot attach {alias}"
        err.position = None
        return err

    def detach(self, alias: str) -> None:
        """DETACH a database attached with attach_sqlite/attach_postgres."""
        name = _alias(alias)
        if name not in self.attached():
            raise BadInput(f"Nothing is attached as {name!r}.", "Not attached")
        with self._lock:
            try:
                self._con.execute("DETACH " + quote_ident(name))
            except (duckdb.Error, RuntimeError) as exc:
                raise self._error(exc, "DETACH") from None

    def attached(self) -> list[str]:
        """Aliases of the attached databases (not DuckDB's own main, temp and system)."""
        with self._lock:
            try:
                rows = self._con.execute(_ATTACHED).fetchall()
            except duckdb.Error as exc:
                raise self._error(exc, "attached") from None
        return [r[0] for r in rows]

    def cancel(self) -> None:
        """Interrupt the running statement and any stream (safe from another thread)."""
        self._cancel_asked = True
        self._con.interrupt()
        for cur in list(self._streams):  # streams run on their own cursors
            cur.interrupt()

    def catalog(self) -> Catalog:
        """Tables, views, columns and constraints of the own and the attached databases, from
        DuckDB's catalog functions (an attached table has its alias in `Table.database`).
        An attached PostgreSQL's cached catalog is read afresh, so a refresh shows tables
        created on the server since it was attached."""
        with self._lock:
            cur = self._con.cursor()
            try:
                if _value(cur, _HAS_POSTGRES):
                    cur.execute("SELECT * FROM pg_clear_cache()").fetchall()
                cols = cur.execute(_CATALOG_COLUMNS).fetchall()
                cons = cur.execute(_CATALOG_CONSTRAINTS).fetchall()
                sizes = cur.execute(_CATALOG_SIZES).fetchall()
            except duckdb.Error as exc:
                raise self._error(exc, "catalog") from None
            finally:
                cur.close()
        b = CatalogBuilder()
        for db, schema, table, kind, col, type_, nullable, default, _ in cols:
            b.add_column(schema, table, kind, col, type_, bool(nullable), default, database=db)
        for db, schema, table, rows in sizes:
            b.set_row_estimate(schema, table, rows, database=db)
        for db, schema, table, ctype, columns, ref_table, ref_columns, name in cons:
            if ctype == "PRIMARY KEY":
                b.set_primary_key(schema, table, tuple(columns), database=db)
            elif ctype == "FOREIGN KEY" and ref_table:
                fk = ForeignKey(
                    tuple(columns), schema, ref_table, tuple(ref_columns or ()), name, db
                )
                b.add_foreign_key(schema, table, fk, database=db)
        return b.build()

    def confine(self, roots: Sequence[Path], *, write: bool = True) -> None:
        """Files only inside `roots` from now on (DuckDB's allowed_directories with external
        access off, which DuckDB itself never lets a session turn back on); without `write`,
        COPY, EXPORT and ATTACH statements are refused too. The configuration is then locked,
        so no SQL can change the database's settings (memory, threads, secret folders) for
        the other sessions on it. Of the offline extensions only spatial may be loaded: it
        reads files through DuckDB's own file system, which the roots bound, while
        sqlite_scanner opens any path with SQLite's own I/O and postgres_scanner reaches any
        server (with the server's ~/.pgpass), so a database that loaded either is refused.

        These settings belong to the database, which every connection to the same file in
        this process shares: the first confined session confines them all (so on a shared
        Tusk everyone's SQL is confined, see tusk.files.confinement), and a later one finds
        it done."""
        allowed = [str(Path(r).resolve()).rstrip("/") + "/" for r in roots]
        with self._lock:
            if self._confined is not None:
                return
            try:
                open_access = _value(self._con, "select current_setting('enable_external_access')")
                if open_access:
                    # (Once confined, DuckDB refuses duckdb_extensions(): checked before.)
                    leaky = self._con.execute(_LOADED_LEAKY).fetchall()
                    if leaky:
                        raise QueryFailed(
                            f"This DuckDB database has {leaky[0][0]} loaded, which reads past "
                            "any confinement: open it without that extension to confine it.",
                            "Cannot confine",
                        )
                    for extension in _CONFINED_EXTENSIONS:
                        self._load(extension)
                    spill = _spill_folder()
                    self._con.execute("SET temp_directory = " + sql_literal(str(spill)))
                    self._con.execute("SET allowed_directories = ?", [allowed])
                    self._con.execute("SET enable_external_access = false")
                    self._con.execute("SET lock_configuration = true")
            except (duckdb.Error, RuntimeError) as exc:
                raise self._error(exc, "confine") from None
            self._confined = tuple(Path(r) for r in roots)
            self._read_only_files = not write

    def set_read_only(self) -> None:
        """From now on every statement runs in its own READ ONLY transaction, so DuckDB itself
        refuses any write to a database (temporary objects stay allowed); statements that
        would end that transaction or reach outside it are refused. Cannot be undone."""
        with self._lock:
            self._read_only = True

    @property
    def read_only(self) -> bool:
        """True once set_read_only ran."""
        return self._read_only

    def _refuse_outside_read_only(self, statements: Sequence[Any]) -> None:
        """QueryFailed for a statement a read-only session may not run (see _NOT_READ_ONLY)."""
        if not self._read_only:
            return
        for stmt in statements:
            if stmt.type.name in _NOT_READ_ONLY:
                raise QueryFailed(
                    f"{stmt.type.name.replace('_', ' ')} statements are not allowed in a "
                    "read-only session. " + _READ_ONLY_MESSAGE,
                    "Read-only session",
                )

    def _begin(self, con: duckdb.DuckDBPyConnection) -> bool:
        """BEGIN a READ ONLY transaction on a read-only session; True when one was begun."""
        if self._read_only:
            con.execute("BEGIN TRANSACTION READ ONLY")
        return self._read_only

    @staticmethod
    def _commit(con: duckdb.DuckDBPyConnection, in_tx: bool) -> bool:
        """COMMIT the transaction _begin started (a read-only one: nothing is written)."""
        if in_tx:
            con.execute("COMMIT")
        return False

    def healthy(self) -> bool:
        """True while the database answers on a fresh cursor. One statement can leave a DuckDB
        database unusable for every session on it (enable_logging to a refused folder makes
        every later statement fail; a fatal error invalidates it): the engine worker asks
        after each failed statement and restarts when it is not."""
        try:
            cur = self._con.cursor()  # its own transaction: a user's aborted one is not seen
            try:
                cur.execute("select 1").fetchall()
            finally:
                cur.close()
        except (duckdb.Error, RuntimeError):
            return False
        return True

    @property
    def confined(self) -> bool:
        """True once `confine` ran: files only inside the data roots."""
        return self._confined is not None

    def _refuse_file_writes(self, statements: Sequence[Any]) -> None:
        """QueryFailed for a COPY/EXPORT/ATTACH on a connection confined without write."""
        if not self._read_only_files:
            return
        for stmt in statements:
            if stmt.type.name in _FILE_STATEMENTS:
                raise QueryFailed(
                    f"{stmt.type.name} reads or writes files directly, which needs the "
                    "data.export permission here: use the Files panel or Export instead.",
                    "Not allowed",
                )

    def close(self) -> None:
        """Close the connection."""
        self._con.close()


def _locate(script: str, statement: str, start: int) -> int:
    """Where a statement starts in its script (0 if DuckDB rewrote its text)."""
    found = script.find(statement.strip(), start)
    return found if found >= 0 else 0


def _alias(alias: str) -> str:
    """An ATTACH alias: any text (it is quoted), but not empty and without NUL."""
    name = str(alias).strip()
    if not name:
        raise BadInput("Give the attached database a name (an alias).", "Alias missing")
    check_text(name, "The alias")
    return name


def _read_limited(reader: pa.RecordBatchReader, limit: int | None) -> tuple[pa.Table, bool]:
    """Read batches until limit + 1 rows are seen; report truncation."""
    batches: list[pa.RecordBatch] = []
    rows = 0
    for batch in reader:
        batches.append(batch)
        rows += batch.num_rows
        if limit is not None and rows > limit:
            break
    table = pa.Table.from_batches(batches, schema=reader.schema)
    if limit is not None and table.num_rows > limit:
        return table.slice(0, limit), True
    return table, False


# Loaded before confining: DuckDB refuses to load extensions once external access is off.
_CONFINED_EXTENSIONS = ("spatial",)
# Extensions whose functions read past allowed_directories (SQLite's own file I/O, libpq).
_LEAKY_EXTENSIONS = ("sqlite_scanner", "postgres_scanner")
_LOADED_LEAKY = (
    "select extension_name from duckdb_extensions() where loaded and extension_name in "
    + "("
    + ", ".join(sql_literal(e) for e in (*_LEAKY_EXTENSIONS, "sqlite", "postgres"))
    + ")"
)
_READ_ONLY_MESSAGE = "This session is read-only: it may read data, never change it."
_SPILL: list[Path] = []  # this process's temp_directory for confined databases


def _spill_folder() -> Path:
    """One private temp folder per process for confined databases to spill to (removed at
    exit): the setting is the database's, shared by its sessions, so it must outlive each."""
    if not _SPILL:
        folder = Path(tempfile.mkdtemp(prefix="tusk-duckdb-"))
        atexit.register(shutil.rmtree, folder, True)
        _SPILL.append(folder)
    return _SPILL[0]


_FILE_STATEMENTS = {"COPY", "EXPORT", "ATTACH", "COPY_DATABASE"}

# The catalog queries name the own database NULL (nullif) and an attached one by its alias.
# Shown: the own database as before, plus every attached one that is not DuckDB's own (system,
# temp); of an attached PostgreSQL, not its pg_catalog and information_schema. The PostgreSQL
# scanner reads a server's catalog once per attach and caches it; duckdb_columns() scans every
# attached catalog even when filtered, so listing them costs nothing more than before.
_CATALOG_COLUMNS = """
with shown as (
  select database_name, type from duckdb_databases()
  where database_name = current_database() or not internal
)
select nullif(c.database_name, current_database()), c.schema_name, c.table_name,
       case when v.view_name is null then 'table' else 'view' end,
       c.column_name, c.data_type, c.is_nullable, c.column_default, c.column_index
from duckdb_columns() c
join shown d on d.database_name = c.database_name
left join duckdb_views() v
  on v.database_name = c.database_name and v.schema_name = c.schema_name
 and v.view_name = c.table_name
where not c.internal
  and not (d.type = 'postgres' and c.schema_name in ('pg_catalog', 'information_schema'))
union all
-- sqlite_scanner lists a SQLite view in duckdb_views() but not its columns: list the view
select v.database_name, v.schema_name, v.view_name, 'view', null, null, null, null, null
from duckdb_views() v
join shown d on d.database_name = v.database_name
where v.database_name <> current_database() and not v.internal
  and not (d.type = 'postgres' and v.schema_name in ('pg_catalog', 'information_schema'))
order by 1 nulls first, 2, 3, 9 nulls first
"""

_ATTACHED = """
select database_name from duckdb_databases()
where not internal and database_name <> current_database()
order by database_name
"""

_HAS_POSTGRES = "select count(*) > 0 from duckdb_databases() where type = 'postgres'"

_ATTACHED_TABLES = "select count(*) from duckdb_tables() where database_name = ?"

# Only DuckDB's own storage estimates rows: sqlite_scanner says 10000 and the PostgreSQL
# scanner 0 for every table, which would read as a fact in the browser.
_CATALOG_SIZES = """
select nullif(t.database_name, current_database()), t.schema_name, t.table_name,
       t.estimated_size
from duckdb_tables() t
join duckdb_databases() d on d.database_name = t.database_name
where t.database_name = current_database() or (not d.internal and d.type = 'duckdb')
"""

_CATALOG_CONSTRAINTS = """
select nullif(c.database_name, current_database()), c.schema_name, c.table_name,
       c.constraint_type, c.constraint_column_names, c.referenced_table,
       c.referenced_column_names, c.constraint_name
from duckdb_constraints() c
join duckdb_databases() d on d.database_name = c.database_name
where (c.database_name = current_database() or not d.internal)
  and not (d.type = 'postgres' and c.schema_name in ('pg_catalog', 'information_schema'))
  and c.constraint_type in ('PRIMARY KEY', 'FOREIGN KEY')
"""


class DuckDBEngine(ConfiguredEngine, DuckDBAbilities):
    """DuckDB on a file or in memory."""

    # A confined session loads only spatial (see DuckDBConnection.confine).
    confined_options: ClassVar[dict[str, str]] = {"extensions": ",".join(_CONFINED_EXTENSIONS)}

    def connect(self) -> DuckDBConnection:
        """Open the database file (created if missing) with the offline extensions loaded."""
        path = database_file(self.spec.path, "DuckDB")
        read_only = self.spec.options.get("read_only", "").lower() in ("1", "true", "yes")
        exts = _extensions_from(self.spec.options)
        try:
            con = open_duckdb(path, exts, read_only=read_only)
        except (duckdb.Error, RuntimeError) as exc:
            raise ConnectionFailed(
                f"Could not open DuckDB database {path}: {exc}", "Cannot open DuckDB file"
            ) from None
        return DuckDBConnection(con)


def _extensions_from(options: dict[str, Any]) -> tuple[str, ...]:
    """Extensions to load: all offline ones unless options["extensions"] narrows them."""
    raw = options.get("extensions")
    if raw is None:
        return OFFLINE_EXTENSIONS
    return tuple(x.strip() for x in str(raw).split(",") if x.strip())
