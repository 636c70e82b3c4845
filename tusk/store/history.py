"""Query history: every executed statement as typed, with its parameter values, connection,
engine, duration, rows and error."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlmodel import SQLModel, col, delete, insert, select

from tusk import config
from tusk.errors import TuskError
from tusk.store.database import SqliteFile
from tusk.store.schema import HISTORY_MIGRATIONS as MIGRATIONS
from tusk.store.schema import HistoryRow

log = logging.getLogger(__name__)

_file = SqliteFile(lambda: config.home() / config.HISTORY_DB, MIGRATIONS)
# Every query run inserts a row: a Core insert of the table, built once. Built per call with
# insert(HistoryRow).values(...) it cost ~0.7 ms more (the values coerced and cache-keyed
# each time; bench/store.py).
_INSERT = insert(SQLModel.metadata.tables[HistoryRow.__tablename__])


@dataclass(frozen=True)
class HistoryEntry:
    """One executed statement."""

    id: int
    ts: datetime
    connection: str
    engine: str
    statement: str
    duration_s: float | None
    row_count: int | None
    error: str | None
    values: Mapping[str, Any] = field(default_factory=dict)  # :name → value, as run

    @property
    def ok(self) -> bool:
        """True when the statement succeeded."""
        return self.error is None


def record(
    connection: str,
    engine: str,
    statement: str,
    *,
    duration_s: float | None = None,
    row_count: int | None = None,
    error: str | None = None,
    username: str | None = None,
    values: Mapping[str, Any] | None = None,
) -> int:
    """Store one executed statement as typed, with the values of its `:name` parameters (and
    who ran it, in multi-user mode); returns its id, or 0
    when history cannot be written (disk full, damaged history.db): the statement has run
    and its result must still reach the user, so this logs the reason instead of raising;
    `search` then reports it."""
    # A statement refused for a lone surrogate is still recorded: SQLite cannot store the
    # character itself (UnicodeEncodeError), so it is kept as its escape, e.g. \ud800.
    statement = statement.encode("utf-8", "backslashreplace").decode("utf-8")
    kept = _values_text(values)
    try:
        return _record(connection, engine, statement, duration_s, row_count, error, username, kept)
    except TuskError as exc:
        log.warning("History not recorded: %s", exc.message)
        return 0


def _record(
    connection: str,
    engine: str,
    statement: str,
    duration_s: float | None,
    row_count: int | None,
    error: str | None,
    username: str | None,
    values: str | None,
) -> int:
    with _file.write() as session:
        added = session.exec(
            _INSERT,
            params={
                "ts": datetime.now(UTC),
                "connection": connection,
                "engine": engine,
                "statement": statement,
                "duration_s": duration_s,
                "row_count": row_count,
                "error": error,
                "username": username,
                "params": values,
            },
        )
        return int(added.lastrowid or 0)


def _values_text(values: Mapping[str, Any] | None) -> str | None:
    """Parameter values as a JSON object (a value JSON cannot hold is kept as its text)."""
    if not values:
        return None
    return json.dumps(dict(values), default=str, ensure_ascii=True)


def _values(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        loaded = json.loads(text)
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def search(
    text: str = "",
    *,
    connection: str | None = None,
    errors_only: bool = False,
    limit: int = 200,
    username: str | None = None,
) -> list[HistoryEntry]:
    """Newest first; `text` matches anywhere in the statement, case-insensitively.
    With `username`, only that user's statements (multi-user mode keeps them apart)."""
    query = select(HistoryRow)
    if text:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(col(HistoryRow.statement).like(f"%{escaped}%", escape="\\"))
    if connection is not None:
        query = query.where(col(HistoryRow.connection) == connection)
    if errors_only:
        query = query.where(col(HistoryRow.error).is_not(None))
    if username is not None:
        query = query.where(col(HistoryRow.username) == username)
    with _file.read() as session:
        rows = session.exec(query.order_by(col(HistoryRow.id).desc()).limit(int(limit))).all()
    return [
        HistoryEntry(
            r.id,
            r.ts,
            r.connection,
            r.engine,
            r.statement,
            r.duration_s,
            r.row_count,
            r.error,
            _values(r.params),
        )
        for r in rows
    ]


def clear(connection: str | None = None, *, username: str | None = None) -> int:
    """Delete history (of one connection, or all; only `username`'s when given)."""
    gone = delete(HistoryRow)
    if connection is not None:
        gone = gone.where(col(HistoryRow.connection) == connection)
    if username is not None:
        gone = gone.where(col(HistoryRow.username) == username)
    with _file.write() as session:
        return session.exec(gone).rowcount
