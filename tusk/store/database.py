"""Open one of Tusk's SQLite files in WAL mode and bring its schema up to date.

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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tusk import config
from tusk.errors import TuskError

BUSY_TIMEOUT_S = 10

_shared: dict[Path, tuple[sqlite3.Connection, threading.Lock]] = {}
_shared_lock = threading.Lock()
_checked: set[tuple[Path, int]] = set()  # (file, inode) whose integrity this process checked


def storage_error(path: Path, exc: sqlite3.Error) -> TuskError | None:
    """The clear error for SQLite's failure `exc` on `path` when it is about storage (damaged
    file, full disk, no access, busy), else None: constraint errors and the like are the
    caller's to handle."""
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
    except sqlite3.Error as exc:
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


@contextmanager
def shared_store(path: Path, migrations: Sequence[str]) -> Iterator[sqlite3.Connection]:
    """A connection kept open for the process (one per file), used by one thread at a time.

    Opening, migrating and closing per statement cost 5 fsyncs and most of a query's
    history overhead (bench/studio.py); a kept connection makes a history write ~0.2 ms.
    """
    key = path.resolve() if path.exists() else path.absolute()
    with _shared_lock:
        entry = _shared.get(key)
        if entry is None or not path.exists():
            if entry is not None:
                entry[0].close()  # the file was removed under us: start again
            entry = (open_store(path, migrations), threading.Lock())
            _shared[key] = entry
            _evict_idle(keep=key)
    con, lock = entry
    with lock, sqlite_errors(path):
        yield con


def _evict_idle(keep: Path, limit: int = 8) -> None:
    """Close the oldest idle kept connections past `limit` (tests make one home each)."""
    for key in list(_shared)[: max(0, len(_shared) - limit)]:
        con, lock = _shared[key]
        if key != keep and lock.acquire(blocking=False):
            try:
                con.close()
                del _shared[key]
            finally:
                lock.release()
