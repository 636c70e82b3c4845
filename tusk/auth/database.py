"""auth.db itself: where it lives, its engines (one for writes, one for reads) and the
transactions every auth action runs in.

Every public auth function is one short transaction (BEGIN IMMEDIATE): on any error nothing is
written. Reads take a deferred BEGIN, so in WAL mode they neither wait for the write lock nor
hold it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, func
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool
from sqlmodel import Session, create_engine, select

from tusk import config
from tusk.auth.schema import MIGRATIONS, User
from tusk.store.database import open_store

AUTH_DB = "auth.db"

_engines: dict[Path, tuple[Engine, Engine]] = {}  # auth.db -> (writer, reader)


def utc_now() -> datetime:
    """Aware UTC: sqlmodel stores it as UTC and hands it back aware."""
    return datetime.now(UTC)


def path() -> Path:
    """Where auth.db lives."""
    return config.home() / AUTH_DB


def engine(read: bool = False) -> Engine:
    """The engine for writes (BEGIN IMMEDIATE) or for reads (a deferred BEGIN: in WAL mode
    readers neither wait for the write lock nor hold it, so page runs do not queue up)."""
    db = path()
    pair = _engines.get(db)
    if pair is None or not db.exists():
        if not db.exists():
            os.close(os.open(db, os.O_CREAT | os.O_WRONLY, 0o600))
        open_store(db, MIGRATIONS).close()
        os.chmod(db, 0o600)
        pair = (
            create_engine(f"sqlite:///{db}", poolclass=NullPool),
            create_engine(f"sqlite:///{db}", poolclass=NullPool),
        )
        for made, begin in zip(pair, (_on_begin, _on_begin_read), strict=True):
            event.listen(made, "connect", _on_connect)
            event.listen(made, "begin", begin)
        _engines[db] = pair
    return pair[1] if read else pair[0]


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own BEGIN is deferred).
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("pragma busy_timeout = 10000")
    dbapi_connection.execute("pragma foreign_keys = on")


def _on_begin(conn: Any) -> None:
    # IMMEDIATE: take the write lock up front, so check-then-write (last admin) cannot race.
    conn.exec_driver_sql("begin immediate")


def _on_begin_read(conn: Any) -> None:
    conn.exec_driver_sql("begin")


_commits = 0  # write transactions committed by this process (see `commits`)
_commits_lock = threading.Lock()


@contextmanager
def transaction() -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back on any error."""
    global _commits
    with Session(engine(), expire_on_commit=False) as session, session.begin():
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
    with Session(engine(read=True), expire_on_commit=False) as session, session.begin():
        yield session


def initialised() -> bool:
    """True once `init` has created users (never creates auth.db itself)."""
    if not path().exists():
        return False
    with snapshot() as s:
        return s.exec(select(func.count()).select_from(User)).one() > 0
