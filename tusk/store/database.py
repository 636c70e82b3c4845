"""Open one of Tusk's SQLite files in WAL mode and bring its schema up to date; `SqliteFile`
reaches one through sqlmodel (auth.db, history.db, saved.db, cluster.db).

Every write runs in a transaction (`begin immediate` where a check precedes the change) and
waits up to 10 s for another writer (busy timeout), so threads and processes saving at once
lose nothing. A damaged file is never replaced: `sqlite_errors` turns SQLite's "file is not a
database" / "disk image is malformed" into a BadInput naming the file, with a copy kept aside,
and a full disk into a clear TuskError (SQLite rolls the transaction back; the file stays
readable).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import NullPool
from sqlmodel import Session, create_engine

from tusk import config
from tusk.errors import TuskError

BUSY_TIMEOUT_S = 10

_checked: set[tuple[Path, int]] = set()  # (file, inode) whose integrity this process checked


def storage_error(path: Path, exc: BaseException | None) -> TuskError | None:
    """The clear error for SQLite's failure `exc` on `path` when it is about storage (damaged
    file, full disk, no access, busy), else None: constraint errors and the like are the
    caller's to handle. SQLAlchemy's wrapping of the error is looked through."""
    if isinstance(exc, DBAPIError):
        exc = exc.orig
    if isinstance(exc, PoolTimeout):  # threads of this process queued for the one writer
        return TuskError(f"{path} stayed busy with other writers; try again.", "Database busy")
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorname", "") or ""
    if code.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return _damaged(path, f"it is not a usable SQLite database ({exc})")
    if code.startswith("SQLITE_FULL") or (code.startswith("SQLITE_IOERR") and _disk_full(path)):
        # SQLite reports a full disk as SQLITE_FULL only for its main writes: growing the
        # -shm index (a new connection) fails as SQLITE_IOERR_SHMSIZE.
        return TuskError(
            f"Could not save to {path}: the disk is full. The change was not saved; everything "
            "saved before is kept. Free some space and try again.",
            "Disk full",
        )
    if code.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_IOERR")):
        return TuskError(f"Cannot use {path}: {exc} ({code}). Nothing was changed.", "Cannot save")
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return TuskError(
            f"{path} stayed busy with another writer for {BUSY_TIMEOUT_S} s; try again.",
            "Database busy",
        )
    return None


def _disk_full(path: Path) -> bool:
    """True when the file system holding `path` has (almost) no space left for this user."""
    try:
        fs = os.statvfs(path.parent)
    except OSError:
        return False
    free = fs.f_bfree if os.geteuid() == 0 else fs.f_bavail  # root may use the reserve
    return free * fs.f_frsize < 1 << 20


def _damaged(path: Path, problem: str) -> TuskError:
    return config.damaged(
        path,
        problem,
        f"Move it away to start a new, empty {path.name}, or recover what it holds from the "
        "copy with sqlite3's .recover command.",
    )


@contextmanager
def sqlite_errors(path: Path) -> Iterator[None]:
    """Raise storage failures of `path` inside the block as clear TuskErrors (storage_error);
    every other exception passes unchanged."""
    try:
        yield
    except (sqlite3.Error, DBAPIError, PoolTimeout) as exc:
        clear = storage_error(path, exc)
        if clear is None:
            raise
        raise clear from None


def open_store(path: Path, migrations: Sequence[str]) -> sqlite3.Connection:
    """Connect, switch to WAL and apply migrations past PRAGMA user_version, each atomically;
    a damaged file or a full disk is a clear TuskError (sqlite_errors)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise config.write_failed(path, exc) from None
    with sqlite_errors(path):
        con = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        try:
            _prepare(con, path, migrations)
        except BaseException:
            con.close()
            raise
    return con


def _prepare(con: sqlite3.Connection, path: Path, migrations: Sequence[str]) -> None:
    con.execute("pragma journal_mode=wal")
    # WAL + NORMAL never corrupts; at worst the last commits before a power cut are lost.
    con.execute("pragma synchronous=normal")
    con.execute("pragma foreign_keys=on")
    _check_once(con, path)
    version = con.execute("pragma user_version").fetchone()[0]
    for number, script in enumerate(migrations[version:], start=version + 1):
        con.execute("begin immediate")
        try:
            # Another process may have migrated while we waited for the lock.
            if con.execute("pragma user_version").fetchone()[0] >= number:
                con.execute("commit")
                continue
            for statement in script.split(";\n"):
                if statement.strip():
                    con.execute(statement)
            # PRAGMA takes no bound parameters; the value is this loop's own integer.
            con.execute("pragma user_version = " + str(int(number)))
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise


def _check_once(con: sqlite3.Connection, path: Path) -> None:
    """quick_check once per file per process: a file cut short is found here, before any
    write, not halfway through a user's action (35 ms for an 11 MB file)."""
    try:
        key = (path.resolve(), path.stat().st_ino)
    except OSError:
        return
    if key in _checked:
        return
    row = con.execute("pragma quick_check(1)").fetchone()
    if row is None or row[0] != "ok":
        raise _damaged(path, f"its integrity check failed ({row[0] if row else 'no answer'})")
    _checked.add(key)


def _begin_immediate(conn: Any) -> None:
    # IMMEDIATE: take the write lock up front, so check-then-write (last admin) cannot race.
    conn.exec_driver_sql("begin immediate")


def _begin_deferred(conn: Any) -> None:
    conn.exec_driver_sql("begin")


class SqliteFile:
    """One of Tusk's SQLite files through sqlmodel: a writer engine whose transactions take the
    write lock up front (BEGIN IMMEDIATE, so check-then-write cannot race) and a reader engine
    whose transactions are deferred (in WAL mode readers neither wait for the write lock nor
    hold it). The file is made with mode 0600 and migrated by `open_store` before first use.

    `keep`: keep connections open between transactions (one writer per process, threads queue
    for it; readers pooled). A kept connection saves the open + checkpoint of each transaction
    and keeps SQLite's -shm index, so reading still works on a full disk. Without it every
    transaction opens its own connection. `synchronous`: SQLite's PRAGMA synchronous for every
    connection ("normal" in WAL never corrupts; at worst the last commits before a power cut
    are lost).
    """

    KEEP_FILES = 8  # kept engines per SqliteFile (tests make one home each)

    def __init__(
        self,
        locate: Callable[[], Path],
        migrations: Sequence[str],
        *,
        keep: bool = True,
        synchronous: str = "normal",
    ) -> None:
        self.locate = locate
        self.migrations = migrations
        self.keep = keep
        self.synchronous = synchronous
        # file -> (writer, reader); clearing it starts again as a new process would
        self.engines: dict[Path, tuple[Engine, Engine]] = {}
        self._lock = threading.Lock()

    def engine(self, read: bool = False) -> Engine:
        """The engine for writes (BEGIN IMMEDIATE) or for reads (a deferred BEGIN)."""
        db = self.locate()
        pair = self.engines.get(db)
        if pair is None or not db.exists():
            with self._lock:
                pair = self.engines.get(db)
                if pair is None or not db.exists():
                    pair = self._open(db, pair)
        return pair[1] if read else pair[0]

    def _open(self, db: Path, old: tuple[Engine, Engine] | None) -> tuple[Engine, Engine]:
        if old is not None:  # the file was removed under us: start again
            for made in old:
                made.dispose()
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
            if not db.exists():
                os.close(os.open(db, os.O_CREAT | os.O_WRONLY, 0o600))
        except OSError as exc:
            raise config.write_failed(db, exc) from None
        open_store(db, self.migrations).close()
        os.chmod(db, 0o600)
        url = f"sqlite:///{db}"
        args = {"timeout": BUSY_TIMEOUT_S}  # the driver sets SQLite's busy timeout itself
        if self.keep:
            # One writer connection: threads of this process queue for it in Python (woken at
            # once) instead of polling SQLite's busy handler; other processes still wait there.
            writer = create_engine(
                url, connect_args=args, pool_size=1, max_overflow=0, pool_timeout=60
            )
            reader = create_engine(url, connect_args=args)
        else:
            writer = create_engine(url, connect_args=args, poolclass=NullPool)
            reader = create_engine(url, connect_args=args, poolclass=NullPool)
        for made, begin in ((writer, _begin_immediate), (reader, _begin_deferred)):
            event.listen(made, "connect", self._on_connect)
            event.listen(made, "begin", begin)
        self.engines.pop(db, None)
        self.engines[db] = (writer, reader)
        if self.keep:
            self._evict(keep=db)
        return writer, reader

    def _on_connect(self, dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own BEGIN is deferred).
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("pragma foreign_keys = on")
        # PRAGMA takes no bound parameters; the value is this class's own setting.
        dbapi_connection.execute("pragma synchronous = " + self.synchronous)

    def _evict(self, keep: Path) -> None:
        """Close the engines of the oldest files past KEEP_FILES (connections in use close
        when they are given back)."""
        for db in list(self.engines)[: max(0, len(self.engines) - self.KEEP_FILES)]:
            if db != keep:
                for made in self.engines.pop(db):
                    made.dispose()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: committed when the block ends, rolled back on any error;
        storage failures (full disk, damaged file, busy) are clear TuskErrors."""
        with (
            sqlite_errors(self.locate()),
            Session(self.engine(), expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """One read-only transaction (a consistent snapshot); never for check-then-write."""
        with (
            sqlite_errors(self.locate()),
            Session(self.engine(read=True), expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session
