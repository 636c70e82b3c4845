"""Tusk's own log of cluster queries (Ray's jobs are processes, not queries): cluster.db."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel, col, insert, select, update

from tusk.store.database import SqliteFile
from tusk.store.schema import IsoTime

LOG_DB = "cluster.db"
STATUSES = ("queued", "running", "done", "failed", "cancelled")
# Plain SQL applied past PRAGMA user_version (tusk.store.database); the model below only maps
# it. Add a new script at the end, never edit an applied one.
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


class ClusterModel(SQLModel, registry=registry()):
    """cluster.db's models: a registry (and MetaData) of their own, since saved.db's model of
    its own `query` table already holds that name in SQLModel's shared metadata."""


class ClusterQueryRow(ClusterModel, table=True):
    """One logged cluster query in cluster.db (inserted by Core, so `id` is never None)."""

    __tablename__ = "query"
    id: int = Field(primary_key=True)
    sql: str
    user: str | None = None
    address: str | None = None
    status: str
    submitted: datetime = Field(sa_type=IsoTime)
    started: datetime | None = Field(default=None, sa_type=IsoTime)
    finished: datetime | None = Field(default=None, sa_type=IsoTime)
    rows: int | None = None
    error: str | None = None


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


# Connections kept open (one writer per process, threads queue for it), as for history.db:
# opening and migrating cluster.db per statement cost 5 fsyncs a query.
_file = SqliteFile(path, MIGRATIONS)
_TABLE = ClusterQueryRow.metadata.tables[ClusterQueryRow.__tablename__]
_INSERT = insert(_TABLE)


def _now() -> datetime:
    return datetime.now(UTC)


def _logged(row: ClusterQueryRow) -> LoggedQuery:
    return LoggedQuery(
        row.id,
        row.sql,
        row.user,
        row.address,
        row.status,
        row.submitted,
        row.started,
        row.finished,
        row.rows,
        row.error,
    )


def record_submitted(sql: str, user: str | None, address: str | None) -> int:
    """Log a new query as queued; returns its id."""
    with _file.write() as session:
        added = session.exec(
            _INSERT,
            params={
                "sql": sql,
                "user": user,
                "address": address,
                "status": "queued",
                "submitted": _now(),
            },
        )
        return int(added.lastrowid or 0)


def record_started(query_id: int) -> None:
    """Mark a query as running."""
    started = (
        update(ClusterQueryRow)
        .where(col(ClusterQueryRow.id) == query_id)
        .values(status="running", started=_now())
    )
    with _file.write() as session:
        session.exec(started)


def record_finished(
    query_id: int, status: str, rows: int | None = None, error: str | None = None
) -> None:
    """Mark a query done, failed or cancelled, with its row count or error."""
    if status not in STATUSES[2:]:
        raise ValueError(f"not a final status: {status!r}")
    finished = (
        update(ClusterQueryRow)
        .where(col(ClusterQueryRow.id) == query_id)
        .values(status=status, finished=_now(), rows=rows, error=error)
    )
    with _file.write() as session:
        session.exec(finished)


def get(query_id: int) -> LoggedQuery | None:
    """One logged query, or None."""
    with _file.read() as session:
        row = session.get(ClusterQueryRow, query_id)
    return _logged(row) if row else None


def list_queries(limit: int = 100) -> list[LoggedQuery]:
    """The latest queries, newest first."""
    newest = select(ClusterQueryRow).order_by(col(ClusterQueryRow.id).desc()).limit(int(limit))
    with _file.read() as session:
        rows = session.exec(newest).all()
    return [_logged(row) for row in rows]
