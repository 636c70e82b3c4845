"""Backups with pg_dump and restores with pg_restore (psql for plain SQL), run as child
processes watched by a thread so no page or session waits on them.

Every backup is verified before it is listed: `pg_restore --list` must read the archive, a
plain script must end with pg_dump's completion trailer. A failed, cancelled or unverifiable
dump is removed. Each verified backup has a JSON sidecar (`<name>.meta.json`) describing it;
`list_backups` shows only those. Passwords reach the tools through a temporary 0600 pgpass
file, never the command line, and are scrubbed from everything the tools print.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import io
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import tarfile
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_args

import psycopg
from psycopg import sql as pgsql

from tusk import admin, auth, config
from tusk.admin import AdminConnection
from tusk.engines.abilities import engine_abilities
from tusk.engines.base import check_encodable
from tusk.engines.pg_errors import scrub as _scrub
from tusk.engines.postgres import PostgresEngine
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput, TuskError

if TYPE_CHECKING:
    from tusk.auth.store import User

log = logging.getLogger("tusk.admin.backup")

PERMISSION = "admin.backup"

Format = Literal["custom", "plain", "directory", "tar"]
FORMATS: tuple[Format, ...] = get_args(Format)
Status = Literal["running", "verifying", "ok", "failed", "cancelled"]

_FORMAT_FLAG: dict[str, str] = {"custom": "c", "plain": "p", "directory": "d", "tar": "t"}
_SUFFIX: dict[str, str] = {"custom": ".dump", "plain": ".sql", "directory": ".dir", "tar": ".tar"}
_META = ".meta.json"
# pg_dump ends every complete plain script with this comment (newer minor releases add an
# `\unrestrict` line after it, so look near the end rather than at the very last line).
_TRAILER = b"-- PostgreSQL database dump complete"
_TRAILER_WINDOW = 4096
_MAX_LINES = 5000  # stderr lines kept per job; --verbose prints one per object
_MAX_JOBS = 32
_NAME_BYTES = 63  # PostgreSQL truncates longer identifiers
_LOCK = threading.Lock()  # reserves backup names between concurrent jobs

# Lines printed by --verbose (LC_MESSAGES=C in the child keeps them in English).
_DUMP_LINE = re.compile(r'dumping contents of table "(.*)"$')
_RESTORE_LINE = re.compile(r'processing data for table "(.*)"$')
_SCHEMA_ENTRY = re.compile(r"^\d+; \d+ \d+ SCHEMA - (.*)$")

# Dumpable relations of user schemas: what the schema/table pickers offer.
_CATALOG_SQL = """
select n.nspname as schema, c.relname as name, c.relkind::text as kind
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
  and n.nspname not in ('pg_catalog', 'information_schema')
  and n.nspname not like 'pg\\_toast%%'
  and n.nspname not like 'pg\\_temp\\_%%'
order by 1, 2
"""
_SCHEMAS_SQL = """
select nspname as schema from pg_namespace
where nspname not in ('pg_catalog', 'information_schema')
  and nspname not like 'pg\\_toast%%' and nspname not like 'pg\\_temp\\_%%'
order by 1
"""
_DATABASES_SQL = """
select datname from pg_database
where datallowconn and not datistemplate
order by datname
"""
_DATABASE_EXISTS_SQL = "select 1 as found from pg_database where datname = %s"
_TARGET_SCHEMAS_SQL = "select nspname as schema from pg_namespace"


# --- options and catalog -------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupOptions:
    """What pg_dump writes: format, which parts, which schemas/tables, compression."""

    format: Format = "custom"
    schema_only: bool = False
    data_only: bool = False
    schemas: tuple[str, ...] = ()
    tables: tuple[tuple[str, str], ...] = ()  # (schema, table); only these when given
    compression: int | None = None  # 0-9; None keeps pg_dump's default
    jobs: int = 1  # parallel dump workers, directory format only
    no_owner: bool = False  # leave out ALTER ... OWNER (plain scripts; pg_dump ignores it else)

    def checked(self) -> BackupOptions:
        """These options validated and normalised; BadInput says what is wrong."""
        if self.format not in FORMATS:
            raise BadInput(f"Unknown backup format {self.format!r}: use {', '.join(FORMATS)}.")
        if self.schema_only and self.data_only:
            raise BadInput("Choose schema only or data only, not both.")
        level = self.compression
        if level is not None:
            if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 9:
                raise BadInput(f"Compression is a level from 0 to 9, not {level!r}.")
            if self.format in ("plain", "tar"):
                if level > 0:
                    raise BadInput(
                        f"The {self.format} format is not compressed; choose custom or "
                        "directory for compression."
                    )
                level = None
        if self.schemas and self.tables:
            # pg_dump ignores --schema once --table is given; say so instead of surprising.
            raise BadInput("Choose schemas or tables, not both: tables override schemas.")
        jobs = _jobs(self.jobs)
        if jobs > 1 and self.format != "directory":
            raise BadInput("Parallel backup (jobs above 1) needs the directory format.")
        schemas = tuple(_name(s, "schema") for s in self.schemas)
        tables = tuple((_name(s, "schema"), _name(t, "table")) for s, t in self.tables)
        return BackupOptions(
            format=self.format,
            schema_only=bool(self.schema_only),
            data_only=bool(self.data_only),
            schemas=tuple(dict.fromkeys(schemas)),
            tables=tuple(dict.fromkeys(tables)),
            compression=level,
            jobs=jobs,
            no_owner=bool(self.no_owner),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form for the sidecar."""
        return {
            "format": self.format,
            "schema_only": self.schema_only,
            "data_only": self.data_only,
            "schemas": list(self.schemas),
            "tables": [list(t) for t in self.tables],
            "compression": self.compression,
            "jobs": self.jobs,
            "no_owner": self.no_owner,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BackupOptions:
        """Options read back from a sidecar."""
        return cls(
            format=data.get("format", "custom"),
            schema_only=bool(data.get("schema_only")),
            data_only=bool(data.get("data_only")),
            schemas=tuple(data.get("schemas") or ()),
            tables=tuple((str(s), str(t)) for s, t in data.get("tables") or ()),
            compression=data.get("compression"),
            jobs=int(data.get("jobs") or 1),
            no_owner=bool(data.get("no_owner")),
        )

    def describe(self) -> str:
        """What the backup holds, e.g. 'schema only, 2 tables' or 'whole database'."""
        parts: list[str] = []
        if self.schema_only:
            parts.append("schema only")
        if self.data_only:
            parts.append("data only")
        if self.schemas:
            parts.append(_plural(len(self.schemas), "schema"))
        if self.tables:
            parts.append(_plural(len(self.tables), "table"))
        if self.compression is not None:
            parts.append(f"compression {self.compression}")
        if self.jobs > 1:
            parts.append(f"{self.jobs} jobs")
        if self.no_owner:
            parts.append("no owner")
        if not (self.schemas or self.tables):
            parts.insert(0, "whole database")
        return ", ".join(parts)


@dataclass(frozen=True)
class DumpCatalog:
    """What a backup can pick from: the user schemas and their dumpable relations."""

    schemas: tuple[str, ...]
    tables: tuple[tuple[str, str, str], ...]  # (schema, name, relkind)

    def data_tables(self, options: BackupOptions) -> int:
        """How many tables' rows the options dump (the progress total)."""
        if options.schema_only:
            return 0
        chosen = set(options.tables)
        wanted = set(options.schemas)
        count = 0
        for schema, name, kind in self.tables:
            if kind != "r":
                continue
            if chosen:
                count += (schema, name) in chosen
            elif wanted:
                count += schema in wanted
            else:
                count += 1
        return count


def dump_catalog(conn: AdminConnection) -> DumpCatalog:
    """The schemas and relations of the connection's database, for choosing what to back up."""
    schemas = tuple(str(r["schema"]) for r in conn.rows(_SCHEMAS_SQL))
    tables = tuple(
        (str(r["schema"]), str(r["name"]), str(r["kind"])) for r in conn.rows(_CATALOG_SQL)
    )
    return DumpCatalog(schemas, tables)


def list_databases(conn: AdminConnection) -> list[str]:
    """Databases on the server that a restore can go into (no templates)."""
    return [str(r["datname"]) for r in conn.rows(_DATABASES_SQL)]


# --- the backups folder --------------------------------------------------------------------------


@dataclass(frozen=True)
class Backup:
    """One verified backup in the backups folder."""

    name: str
    path: Path
    database: str
    connection: str
    server: str
    format: Format
    created: datetime
    size: int
    options: BackupOptions
    entries: int  # archive TOC entries (0 for plain scripts)
    data_tables: int  # tables with rows in the archive (0 for plain scripts)
    elapsed_s: float

    @property
    def download_name(self) -> str:
        """The file name a download gets (a directory backup is sent as a tar)."""
        return f"{self.name}.tar" if self.format == "directory" else self.name


def backups_dir() -> Path:
    """The backups folder in Tusk's home, created 0700 (backups hold whole databases)."""
    # Absolute, so a path handed to a tool can never be read as one of its options.
    folder = (config.home() / config.BACKUPS_DIR).resolve()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        folder.chmod(0o700)
    return folder


def list_backups() -> list[Backup]:
    """Verified backups, newest first; anything without a good sidecar is left out."""
    found: list[Backup] = []
    folder = backups_dir()
    for meta in folder.glob(f"*{_META}"):
        backup = _read_meta(meta)
        if backup is not None:
            found.append(backup)
    found.sort(key=lambda b: (b.created, b.name), reverse=True)
    return found


def get_backup(name: str) -> Backup:
    """One verified backup by file name; BadInput for unknown or unsafe names."""
    path = _safe_path(name)
    backup = _read_meta(path.parent / f"{path.name}{_META}")
    if backup is None:
        raise BadInput(f"There is no verified backup named {name!r}.", "Unknown backup")
    return backup


def delete_backup(name: str, *, actor: User | None) -> None:
    """Remove a backup (file or directory) and its sidecar."""
    auth.require(actor, PERMISSION)
    backup = get_backup(name)
    # The sidecar goes first: a half-deleted backup must never be listed as good.
    (backup.path.parent / f"{backup.name}{_META}").unlink(missing_ok=True)
    _remove(backup.path)
    admin.audit(actor, "admin.backup.delete", backup.name, backup.database)


def read_backup(name: str, *, actor: User | None) -> bytes:
    """A backup's bytes for download; a directory backup as an uncompressed tar."""
    auth.require(actor, PERMISSION)
    backup = get_backup(name)
    if backup.format != "directory":
        return backup.path.read_bytes()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(backup.path, arcname=backup.name)
    return buffer.getvalue()


def _safe_path(name: str) -> Path:
    """The path of `name` inside the backups folder; BadInput for anything that could leave it."""
    if (
        not isinstance(name, str)
        or not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or name.startswith(".")
        or name.endswith(_META)
    ):
        raise BadInput(f"{name!r} is not a backup name.", "Unknown backup")
    folder = backups_dir().resolve()
    path = folder / name
    if path.resolve().parent != folder:  # a symlink pointing elsewhere
        raise BadInput(f"{name!r} is not a backup name.", "Unknown backup")
    return path


def _read_meta(meta: Path) -> Backup | None:
    """The Backup a sidecar describes, or None when it is unreadable, unverified or orphaned."""
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
        if not data.get("verified"):
            return None
        name = str(data["name"])
        path = meta.parent / name
        if f"{name}{_META}" != meta.name or not path.exists():
            return None
        options = BackupOptions.from_dict(data.get("options") or {})
        return Backup(
            name=name,
            path=path,
            database=str(data["database"]),
            connection=str(data.get("connection") or ""),
            server=str(data.get("server") or ""),
            format=options.format,
            created=datetime.fromisoformat(str(data["created"])),
            size=_size(path),
            options=options,
            entries=int(data.get("entries") or 0),
            data_tables=int(data.get("data_tables") or 0),
            elapsed_s=float(data.get("elapsed_s") or 0.0),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _reserve(database: str, fmt: str) -> Path:
    """A fresh backup path, created empty so two jobs never pick the same name."""
    slug = re.sub(r"[^\w-]+", "_", database).strip("_")[:40] or "database"
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%SZ")
    folder = backups_dir()
    with _LOCK:
        for n in range(1, 1000):
            stem = f"{slug}_{stamp}" if n == 1 else f"{slug}_{stamp}-{n}"
            path = folder / f"{stem}{_SUFFIX[fmt]}"
            if path.exists() or (folder / f"{path.name}{_META}").exists():
                continue
            try:
                if fmt == "directory":
                    path.mkdir(mode=0o700)  # pg_dump accepts an existing empty directory
                else:
                    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except FileExistsError:
                continue
            return path
    raise BadInput("Too many backups of this database in one second; try again.")


def _remove(path: Path) -> None:
    """Delete a backup file or directory, whatever is left of it."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _size(path: Path) -> int:
    """Bytes in a file, or in all files of a directory."""
    try:
        if path.is_dir():
            return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
        return path.stat().st_size
    except OSError:
        return 0


# --- jobs ----------------------------------------------------------------------------------------


class ToolJob:
    """A PostgreSQL client tool running as a child process, its stderr read by a thread.

    Safe to read from any thread; `cancel()` stops the tool (and its parallel workers).
    """

    kind: ClassVar[str] = "job"
    _progress_line: ClassVar[re.Pattern[str] | None] = None

    def __init__(self, database: str, secret: str | None, tables_total: int | None) -> None:
        self.database = database
        self.started_at = datetime.now(UTC)
        self._started = time.monotonic()
        self._finished: float | None = None
        self._secret = secret
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._lines: collections.deque[str] = collections.deque(maxlen=_MAX_LINES)
        self._status: Status = "running"
        self._message = ""
        self._cancelled = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._scratch: Path | None = None  # temp folder with the pgpass (and restore list)
        self.tables_done = 0
        self.tables_total = tables_total
        self.current_table = ""

    # -- what the UI reads --

    @property
    def status(self) -> Status:
        """running, verifying, ok, failed or cancelled."""
        with self._lock:
            return self._status

    @property
    def message(self) -> str:
        """What happened, in a sentence (the tool's error when it failed)."""
        with self._lock:
            return self._message

    @property
    def done(self) -> bool:
        """True once the job ended, whatever the outcome."""
        return self._done.is_set()

    @property
    def elapsed_s(self) -> float:
        """Seconds since the start (until the end once done)."""
        end = self._finished if self._finished is not None else time.monotonic()
        return end - self._started

    def lines(self, last: int | None = None) -> list[str]:
        """The tool's stderr so far (password scrubbed), optionally only the last lines."""
        with self._lock:
            lines = list(self._lines)
        return lines[-last:] if last else lines

    @property
    def progress(self) -> float | None:
        """Share of the tables done, 0-1, when the total is known."""
        total = self.tables_total
        if not total:
            return None
        return min(self.tables_done / total, 1.0)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends (or timeout seconds pass); True when it ended."""
        return self._done.wait(timeout)

    def cancel(self) -> None:
        """Stop the tool; the job ends as cancelled and leaves nothing half-made behind."""
        with self._lock:
            proc = self._proc
            if self._done.is_set() or proc is None or proc.returncode is not None:
                return  # once reaped, its process group id may belong to someone else
            self._cancelled = True
        # The tool runs in its own process group: this reaches parallel workers too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)

    # -- running --

    def _launch(self, args: list[str], env: dict[str, str]) -> None:
        """Start the tool and the thread that follows it."""
        try:
            self._proc = subprocess.Popen(  # noqa: S603 - an argument list, never a shell
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=env,
                umask=0o077,  # dumps hold whole databases: readable by the owner only
                start_new_session=True,
            )
        except OSError as exc:
            self._cleanup_scratch()
            raise BadInput(
                f"Could not run {args[0]}: {exc.strerror or exc}. Check the pg_bin_path "
                "setting (`tusk config set pg_bin_path …`)."
            ) from None
        _LIVE.add(self)
        threading.Thread(target=self._follow, name=f"tusk-{self.kind}", daemon=True).start()

    def _follow(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stderr is not None
        try:
            for raw in proc.stderr:
                self._note(_scrub(raw.decode("utf-8", "replace").rstrip("\r\n"), self._secret))
            code = proc.wait()
            self._cleanup_scratch()
            self._after(code)
        except Exception as exc:  # the thread must end the job whatever happens
            log.exception("%s job failed", self.kind)
            self._end("failed", _scrub(f"{type(exc).__name__}: {exc}", self._secret))
            self._on_failure()
        finally:
            self._cleanup_scratch()
            self._done.set()
            _LIVE.discard(self)

    def _note(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)
        if self._progress_line is not None:
            m = self._progress_line.search(line)
            if m:
                self.tables_done += 1
                self.current_table = m.group(1)

    def _set(self, status: Status) -> None:
        with self._lock:
            self._status = status

    def _end(self, status: Status, message: str) -> None:
        with self._lock:
            self._status = status
            self._message = message
            self._finished = time.monotonic()

    def _after(self, code: int) -> None:
        """Decide the outcome once the tool exited (subclasses)."""
        raise NotImplementedError

    def _on_failure(self) -> None:
        """Undo what a failed job left behind (subclasses)."""

    def _failure_text(self, code: int) -> str:
        """The tool's own error lines, or its last words."""
        lines = self.lines()
        errors = [ln for ln in lines if re.search(r"error:|ERROR:|FATAL:|fatal:", ln)]
        picked = errors[:3] or lines[-3:]
        text = "\n".join(picked).strip()
        return text or f"the tool exited with code {code}"

    def _cleanup_scratch(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


class BackupJob(ToolJob):
    """pg_dump writing one backup, then its verification."""

    kind: ClassVar[str] = "backup"
    _progress_line = _DUMP_LINE

    def __init__(
        self,
        spec: ConnectionSpec,
        options: BackupOptions,
        path: Path,
        actor: User | None,
        tables_total: int | None,
    ) -> None:
        super().__init__(spec.database or "postgres", spec.secret(), tables_total)
        self.options = options
        self.path = path
        self.name = path.name
        self._spec = spec
        self._actor = actor

    @property
    def bytes_written(self) -> int:
        """Size of the backup so far."""
        return _size(self.path)

    def _after(self, code: int) -> None:
        if self._cancelled:
            _remove(self.path)
            self._end("cancelled", "The backup was cancelled; its partial file was removed.")
            return
        if code != 0:
            _remove(self.path)
            self._end("failed", f"pg_dump failed: {self._failure_text(code)}")
            return
        self._set("verifying")
        try:
            entries, data_tables = _verify(self.path, self.options.format)
        except TuskError as exc:
            _remove(self.path)
            self._end("failed", f"The backup did not pass verification: {exc.message}")
            return
        meta = {
            "name": self.name,
            "database": self.database,
            "connection": self._spec.name,
            "server": f"{self._spec.host or 'localhost'}:{self._spec.port or 5432}",
            "created": self.started_at.isoformat(),
            "options": self.options.to_dict(),
            "verified": True,
            "entries": entries,
            "data_tables": data_tables,
            "elapsed_s": round(self.elapsed_s, 3),
        }
        config.atomic_write(
            self.path.parent / f"{self.name}{_META}", json.dumps(meta, indent=2), mode=0o600
        )
        if self.tables_total is None:
            self.tables_total = data_tables
        self._end("ok", f"Backed up {self.database} to {self.name} and verified it.")
        try:
            detail = f"{self.name}: {self.options.format}, {self.options.describe()}"
            admin.audit(self._actor, "admin.backup", self.database, detail)
        except Exception:  # the backup is good; a failed audit write must not hide it
            log.exception("audit of backup %s failed", self.name)

    def _on_failure(self) -> None:
        (self.path.parent / f"{self.name}{_META}").unlink(missing_ok=True)
        _remove(self.path)


class RestoreJob(ToolJob):
    """pg_restore (or psql for a plain script) loading one backup into a database."""

    kind: ClassVar[str] = "restore"
    _progress_line = _RESTORE_LINE

    def __init__(
        self,
        spec: ConnectionSpec,
        backup: Backup,
        target: str,
        created_database: bool,
        actor: User | None,
        detail: str,
    ) -> None:
        total = backup.data_tables if backup.format != "plain" else None
        super().__init__(target, spec.secret(), total or None)
        self.backup = backup
        self.created_database = created_database
        self._spec = spec
        self._actor = actor
        self._detail = detail

    def _after(self, code: int) -> None:
        if self._cancelled:
            self._end("cancelled", "The restore was cancelled." + self._undo_note())
            return
        if code != 0:
            self._end(
                "failed", f"The restore failed: {self._failure_text(code)}" + self._undo_note()
            )
            return
        self._end("ok", f"Restored {self.backup.name} into {self.database}.")
        try:
            admin.audit(self._actor, "admin.restore", self.database, self._detail)
        except Exception:  # the restore happened; a failed audit write must not hide it
            log.exception("audit of restore into %s failed", self.database)

    def _on_failure(self) -> None:
        self._undo_note()

    def _undo_note(self) -> str:
        """Drop the database this restore created (it holds nothing useful); say so."""
        if not self.created_database:
            return ""
        self.created_database = False
        try:
            _drop_database(self._spec, self.database)
        except TuskError as exc:
            return f" The new database {self.database} could not be removed: {exc.message}"
        return f" The new database {self.database} was removed."


_LIVE: weakref.WeakSet[ToolJob] = weakref.WeakSet()  # jobs whose tool is still running


@atexit.register
def _stop_running_jobs() -> None:
    """When Tusk exits, stop the tools it started (they run in their own process groups, so
    Ctrl+C does not reach them) and let their threads remove what they left half-written."""
    jobs = list(_LIVE)
    for job in jobs:
        job.cancel()
    for job in jobs:
        job.wait(5)


# --- backup --------------------------------------------------------------------------------------


def start_backup(
    spec: ConnectionSpec,
    options: BackupOptions | None = None,
    *,
    actor: User | None,
    tables_total: int | None = None,
) -> BackupJob:
    """Start pg_dump of the connection's database in the background; the job verifies it.

    `tables_total` (from `DumpCatalog.data_tables`) turns on the progress share.
    """
    auth.require(actor, PERMISSION)
    _require_postgres(spec)
    opts = (options or BackupOptions()).checked()
    tool = config.pg_tool("pg_dump")
    database = spec.database or "postgres"
    path = _reserve(database, opts.format)
    job = BackupJob(spec, opts, path, actor, tables_total)
    args = [
        tool,
        f"--dbname={_tool_conninfo(spec, database, 'tusk backup')}",
        f"--format={_FORMAT_FLAG[opts.format]}",
        f"--file={path}",
        "--verbose",
        "--strict-names",  # a chosen schema or table that does not exist is an error
    ]
    if opts.schema_only:
        args.append("--schema-only")
    if opts.data_only:
        args.append("--data-only")
    args += [f"--schema={_pattern(s)}" for s in opts.schemas]
    args += [f"--table={_pattern(s, t)}" for s, t in opts.tables]
    if opts.compression is not None:
        args.append(f"--compress={opts.compression}")
    if opts.jobs > 1:
        args.append(f"--jobs={opts.jobs}")
    if opts.no_owner:
        args.append("--no-owner")
    try:
        job._scratch, env = _child_env(spec.secret())
        job._launch(args, env)
    except BaseException:
        _remove(path)
        raise
    return job


def _verify(path: Path, fmt: Format) -> tuple[int, int]:
    """Check a finished dump; (TOC entries, tables with data), BadInput when it is no good."""
    if _size(path) == 0:
        raise BadInput("pg_dump wrote nothing.")
    if fmt == "plain":
        with path.open("rb") as fh:
            fh.seek(max(path.stat().st_size - _TRAILER_WINDOW, 0))
            tail = fh.read()
        if _TRAILER not in tail:
            raise BadInput("the SQL script is incomplete (no end-of-dump trailer).")
        return 0, 0
    listing = _toc(path)
    entries = [ln for ln in listing.splitlines() if ln.strip() and not ln.startswith(";")]
    return len(entries), sum(" TABLE DATA " in ln for ln in entries)


def _toc(path: Path) -> str:
    """`pg_restore --list` of an archive; BadInput with its message when it cannot read it."""
    tool = config.pg_tool("pg_restore")
    env = _locale_env(dict(os.environ))
    try:
        done = subprocess.run(  # noqa: S603 - an argument list, never a shell
            [tool, "--list", str(path)],
            capture_output=True,
            env=env,
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BadInput(f"pg_restore --list could not run: {exc}") from None
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip()
        raise BadInput(f"pg_restore cannot read it ({err or f'exit code {done.returncode}'}).")
    listing = done.stdout.decode("utf-8", "replace")
    if not listing.strip():
        raise BadInput("pg_restore found no table of contents.")
    return listing


# --- restore -------------------------------------------------------------------------------------


def restore(
    spec: ConnectionSpec,
    backup_name: str,
    *,
    target_database: str,
    create_database: bool = False,
    clean: bool = False,
    no_owner: bool = False,
    jobs: int = 1,
    actor: User | None,
) -> RestoreJob:
    """Start restoring a verified backup into a database on the connection's server.

    `create_database` makes the target first (it must not exist; a failed restore removes it
    again); `clean` drops the backup's objects in the target before recreating them — callers
    confirm that with the user first. One transaction whenever `jobs` is 1.
    """
    auth.require(actor, PERMISSION)
    _require_postgres(spec)
    backup = get_backup(backup_name)
    target = _database_name(target_database)
    jobs = _jobs(jobs)
    plain = backup.format == "plain"
    if clean and create_database:
        raise BadInput("Clean applies to an existing database; a new one is empty already.")
    if plain and (clean or no_owner or jobs > 1):
        raise BadInput(
            "A plain backup is an SQL script run as it is: clean, no owner and jobs do not "
            "apply. Choose them when backing up, or use the custom format."
        )
    if jobs > 1 and backup.format not in ("custom", "directory"):
        raise BadInput("Parallel restore (jobs above 1) needs a custom or directory backup.")
    tool = config.pg_tool("psql" if plain else "pg_restore")
    listing = None if plain else _toc(backup.path)

    created = False
    server = admin.connect(spec)
    try:
        exists = server.one(_DATABASE_EXISTS_SQL, (target,)) is not None
        if create_database:
            if exists:
                raise BadInput(
                    f"A database named {target} already exists: restore into it as an "
                    "existing database, or choose another name.",
                    "Database exists",
                )
            server.execute(pgsql.SQL("create database {}").format(pgsql.Identifier(target)))
            created = True
        elif not exists:
            raise BadInput(
                f"There is no database named {target} on this server: choose an existing one "
                "or create a new one.",
                "Unknown database",
            )
    finally:
        server.close()

    detail = f"{backup.name} ({backup.database}, {backup.format})"
    job = RestoreJob(spec, backup, target, created, actor, detail)
    try:
        existing = _prepare_target(spec, target, backup, fresh=created)
        scratch, env = _child_env(spec.secret())
        job._scratch = scratch
        conninfo = _tool_conninfo(spec, target, "tusk restore")
        if plain:
            args = [
                tool,
                f"--dbname={conninfo}",
                "--no-psqlrc",
                "--quiet",
                "--set=ON_ERROR_STOP=1",
                "--single-transaction",
                f"--file={backup.path}",
            ]
        else:
            assert listing is not None
            use_list = scratch / "restore.list"
            use_list.write_text(_use_list(listing, existing), encoding="utf-8")
            args = [
                tool,
                f"--dbname={conninfo}",
                "--verbose",
                "--exit-on-error",
                f"--use-list={use_list}",
            ]
            if jobs > 1:
                args.append(f"--jobs={jobs}")
            else:
                args.append("--single-transaction")
            if clean:
                args += ["--clean", "--if-exists"]
            if no_owner:
                args.append("--no-owner")
            args.append(str(backup.path))
        job._launch(args, env)
    except BaseException:
        job._cleanup_scratch()
        if created:
            with contextlib.suppress(TuskError):
                _drop_database(spec, target)
        raise
    return job


def _prepare_target(spec: ConnectionSpec, target: str, backup: Backup, *, fresh: bool) -> set[str]:
    """Ready the target for what pg_dump leaves out or repeats; return the schemas it has.

    A table-only backup (pg_dump -t) has no CREATE SCHEMA, so its schemas are made here. A
    backup of chosen schemas does create them, and a new database already has `public`: an
    archive restore skips those entries (see `_use_list`), but a plain script cannot be edited,
    so in a database made for this restore the still-empty schemas it re-creates are dropped.
    """
    conn = admin.connect(spec.with_changes(database=target))
    try:
        existing = {str(r["schema"]) for r in conn.rows(_TARGET_SCHEMAS_SQL)}
        if fresh and backup.format == "plain":
            for schema in backup.options.schemas:
                if schema in existing:
                    # No CASCADE: a schema the template filled is an error, not a loss.
                    conn.execute(pgsql.SQL("drop schema {}").format(pgsql.Identifier(schema)))
                    existing.discard(schema)
        for schema in dict.fromkeys(s for s, _ in backup.options.tables):
            if schema not in existing:
                conn.execute(
                    pgsql.SQL("create schema if not exists {}").format(pgsql.Identifier(schema))
                )
                existing.add(schema)
        return existing
    finally:
        conn.close()


def _use_list(listing: str, existing: set[str]) -> str:
    """The archive's TOC with CREATE SCHEMA commented out for schemas the target already has
    (a fresh database has `public`, and `pg_dump -n public` would fail restoring it)."""
    names = sorted(existing, key=len, reverse=True)
    out: list[str] = []
    for line in listing.splitlines():
        m = _SCHEMA_ENTRY.match(line)
        # The entry reads "<name> <owner>"; names may hold spaces, so match known names.
        if m and any(m.group(1).startswith(f"{n} ") for n in names):
            line = f";{line}"
        out.append(line)
    return "\n".join(out) + "\n"


def _drop_database(spec: ConnectionSpec, name: str) -> None:
    """Drop a database this module created."""
    conn = admin.connect(spec)
    try:
        conn.execute(pgsql.SQL("drop database if exists {}").format(pgsql.Identifier(name)))
    finally:
        conn.close()


# --- helpers -------------------------------------------------------------------------------------


def _require_postgres(spec: ConnectionSpec) -> None:
    if not engine_abilities(spec.engine).administrable:
        raise BadInput(
            f"{spec.name!r} is a {spec.engine} connection; backups work on PostgreSQL.",
            "Not PostgreSQL",
        )


def _tool_conninfo(spec: ConnectionSpec, database: str, application: str) -> str:
    """A libpq connection string for a client tool: everything but the password."""
    params = psycopg.conninfo.conninfo_to_dict(PostgresEngine(spec).conninfo())
    params.pop("password", None)
    params.pop("passfile", None)
    params["dbname"] = database
    params["application_name"] = application
    return psycopg.conninfo.make_conninfo(**params)  # type: ignore[arg-type]


def _child_env(secret: str | None) -> tuple[Path, dict[str, str]]:
    """A private temp folder and the child's environment; the password goes into a 0600
    pgpass file in that folder (libpq refuses looser modes), never onto the command line."""
    env = _locale_env(dict(os.environ))
    scratch = Path(tempfile.mkdtemp(prefix="tusk-pg-"))  # mode 0700
    if secret:
        env.pop("PGPASSWORD", None)
        if "\n" in secret or "\r" in secret:
            # pgpass has no way to write a line break; the child's environment is private too.
            env["PGPASSWORD"] = secret
        else:
            escaped = secret.replace("\\", "\\\\").replace(":", "\\:")
            pgpass = scratch / "pgpass"
            fd = os.open(pgpass, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(f"*:*:*:*:{escaped}\n")
            env["PGPASSFILE"] = str(pgpass)
    return scratch, env


def _locale_env(env: dict[str, str]) -> dict[str, str]:
    """English tool messages: progress is read from them."""
    env.pop("LC_ALL", None)
    env["LC_MESSAGES"] = "C"
    return env


def _pattern(*parts: str) -> str:
    """A pg_dump name pattern that matches exactly these names (quoted, quotes doubled)."""
    return ".".join('"' + p.replace('"', '""') + '"' for p in parts)


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or "\x00" in value:
        raise BadInput(f"{value!r} is not a {what} name.")
    check_encodable(value, f"The {what} name")
    return value


def _database_name(value: object) -> str:
    name = _name(value, "database")
    if len(name.encode()) > _NAME_BYTES:
        raise BadInput(f"A database name has at most {_NAME_BYTES} bytes; {name!r} is longer.")
    return name


def _jobs(value: object) -> int:
    try:
        jobs = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise BadInput(f"Jobs is a whole number, not {value!r}.") from None
    if not 1 <= jobs <= _MAX_JOBS:
        raise BadInput(f"Jobs is from 1 to {_MAX_JOBS}, not {jobs}.")
    return jobs


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


__all__ = [
    "FORMATS",
    "Backup",
    "BackupJob",
    "BackupOptions",
    "DumpCatalog",
    "RestoreJob",
    "ToolJob",
    "backups_dir",
    "delete_backup",
    "dump_catalog",
    "get_backup",
    "list_backups",
    "list_databases",
    "read_backup",
    "restore",
    "start_backup",
]
