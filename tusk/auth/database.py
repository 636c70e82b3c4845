"""auth.db itself: where it lives, its engines (one for writes, one for reads) and the
transactions every auth action runs in.

Every public auth function is one short transaction (BEGIN IMMEDIATE): on any error nothing is
written. Reads take a deferred BEGIN, so in WAL mode they neither wait for the write lock nor
hold it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from tusk import config
from tusk.auth.schema import MIGRATIONS, User
from tusk.store.database import SqliteFile

AUTH_DB = "auth.db"


def utc_now() -> datetime:
    """Aware UTC: sqlmodel stores it as UTC and hands it back aware."""
    return datetime.now(UTC)


def path() -> Path:
    """Where auth.db lives."""
    return config.home() / AUTH_DB


# A connection per transaction (auth runs a few short ones per page run) and synchronous=full:
# a committed revocation or password change survives a power cut.
_file = SqliteFile(path, MIGRATIONS, keep=False, synchronous="full")
_engines = _file.engines  # auth.db -> (writer, reader); cleared, it starts again


def engine(read: bool = False) -> Engine:
    """The engine for writes (BEGIN IMMEDIATE) or for reads (a deferred BEGIN: in WAL mode
    readers neither wait for the write lock nor hold it, so page runs do not queue up)."""
    return _file.engine(read)


_commits = 0  # write transactions committed by this process (see `commits`)
_commits_lock = threading.Lock()


@contextmanager
def transaction() -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back on any error."""
    global _commits
    with _file.write() as session:
        yield session
    with _commits_lock:
        _commits += 1


def commits() -> int:
    """How many write transactions this process has committed to auth.db: a cache of what it
    read (a user, their permissions) is stale once this number moves."""
    return _commits


@contextmanager
def snapshot() -> Iterator[Session]:
    """One read-only transaction (a consistent snapshot); never for check-then-write."""
    with _file.read() as session:
        yield session


def initialised() -> bool:
    """True once `init` has created users (never creates auth.db itself)."""
    if not path().exists():
        return False
    with snapshot() as s:
        return s.exec(select(func.count()).select_from(User)).one() > 0
