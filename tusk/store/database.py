"""Open one of Tusk's SQLite files in WAL mode and bring its schema up to date."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

_shared: dict[Path, tuple[sqlite3.Connection, threading.Lock]] = {}
_shared_lock = threading.Lock()


def open_store(path: Path, migrations: Sequence[str]) -> sqlite3.Connection:
    """Connect, switch to WAL and apply migrations past PRAGMA user_version, each atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
    con.execute("pragma journal_mode=wal")
    # WAL + NORMAL never corrupts; at worst the last commits before a power cut are lost.
    con.execute("pragma synchronous=normal")
    con.execute("pragma foreign_keys=on")
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
            con.execute(f"pragma user_version = {int(number)}")
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    return con


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
    with lock:
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
