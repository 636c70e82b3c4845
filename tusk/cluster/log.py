"""Tusk's own log of cluster queries (Ray's jobs are processes, not queries): cluster.db."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tusk.store.database import shared_store

LOG_DB = "cluster.db"
STATUSES = ("queued", "running", "done", "failed", "cancelled")
MIGRATIONS = [
    """
    create table query (
        id integer primary key,
        sql text not null,
        user text,
        address text,
        status text not null check (status in
            ('queued', 'running', 'done', 'failed', 'cancelled')),
        submitted text not null,
        started text,
        finished text,
        rows integer,
        error text
    );
    create index query_submitted on query (submitted)
    """,
]

INSERT = "insert into query (sql, user, address, status, submitted) values (?, ?, ?, 'queued', ?)"
START = "update query set status = 'running', started = ? where id = ?"
FINISH = "update query set status = ?, finished = ?, rows = ?, error = ? where id = ?"
SELECT = (
    "select id, sql, user, address, status, submitted, started, finished, rows, error from query"
)
LIST = SELECT + " order by id desc limit ?"
GET = SELECT + " where id = ?"


@dataclass(frozen=True)
class LoggedQuery:
    """One cluster query as logged."""

    id: int
    sql: str
    user: str | None
    address: str | None
    status: str
    submitted: datetime
    started: datetime | None
    finished: datetime | None
    rows: int | None
    error: str | None

    @property
    def elapsed_s(self) -> float | None:
        """Seconds from start to finish, once finished."""
        if self.started is None or self.finished is None:
            return None
        return (self.finished - self.started).total_seconds()


def path() -> Path:
    """Where the log lives: TUSK_HOME/cluster.db."""
    from tusk.config import home

    return home() / LOG_DB


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _row(row: sqlite3.Row | tuple) -> LoggedQuery:
    id_, sql, user, address, status, submitted, started, finished, rows, error = row
    return LoggedQuery(
        id_,
        sql,
        user,
        address,
        status,
        datetime.fromisoformat(submitted),
        _when(started),
        _when(finished),
        rows,
        error,
    )


def record_submitted(sql: str, user: str | None, address: str | None) -> int:
    """Log a new query as queued; returns its id."""
    with shared_store(path(), MIGRATIONS) as con:
        return int(con.execute(INSERT, (sql, user, address, _now())).lastrowid or 0)


def record_started(query_id: int) -> None:
    """Mark a query as running."""
    with shared_store(path(), MIGRATIONS) as con:
        con.execute(START, (_now(), query_id))


def record_finished(
    query_id: int, status: str, rows: int | None = None, error: str | None = None
) -> None:
    """Mark a query done, failed or cancelled, with its row count or error."""
    if status not in STATUSES[2:]:
        raise ValueError(f"not a final status: {status!r}")
    with shared_store(path(), MIGRATIONS) as con:
        con.execute(FINISH, (status, _now(), rows, error, query_id))


def get(query_id: int) -> LoggedQuery | None:
    """One logged query, or None."""
    with shared_store(path(), MIGRATIONS) as con:
        row = con.execute(GET, (query_id,)).fetchone()
    return _row(row) if row else None


def list_queries(limit: int = 100) -> list[LoggedQuery]:
    """The latest queries, newest first."""
    with shared_store(path(), MIGRATIONS) as con:
        rows = con.execute(LIST, (limit,)).fetchall()
    return [_row(row) for row in rows]
