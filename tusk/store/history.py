"""Query history: every executed statement as typed, with its parameter values, connection,
engine, duration, rows and error."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tusk import config
from tusk.errors import TuskError
from tusk.store.database import shared_store

log = logging.getLogger(__name__)

MIGRATIONS = (
    """
    create table history (
        id integer primary key,
        ts text not null,
        connection text not null,
        engine text not null,
        statement text not null,
        duration_s real,
        row_count integer,
        error text
    );
    create index history_ts on history (ts desc);
    create index history_connection on history (connection, ts desc)
    """,
    # 2: who ran it (multi-user mode); NULL in single-user mode
    """
    alter table history add column username text;
    create index history_username on history (username, ts desc)
    """,
    # 3: the values of the statement's :name parameters (a JSON object); NULL when none
    """
    alter table history add column params text
    """,
)


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


def _open() -> AbstractContextManager[sqlite3.Connection]:
    return shared_store(config.home() / config.HISTORY_DB, MIGRATIONS)


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
    with _open() as con:
        cur = con.execute(
            "insert into history (ts, connection, engine, statement, duration_s, row_count,"
            " error, username, params) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                datetime.now(UTC).isoformat(),
                connection,
                engine,
                statement,
                duration_s,
                row_count,
                error,
                username,
                values,
            ),
        )
        return int(cur.lastrowid or 0)


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
    where = ["1 = 1"]
    params: list[object] = []
    if text:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append("statement like ? escape '\\'")
        params.append(f"%{escaped}%")
    if connection is not None:
        where.append("connection = ?")
        params.append(connection)
    if errors_only:
        where.append("error is not null")
    if username is not None:
        where.append("username = ?")
        params.append(username)
    params.append(int(limit))
    with _open() as con:
        # `where` holds only the fixed fragments above; every value is a parameter.
        columns = "id, ts, connection, engine, statement, duration_s, row_count, error, params"
        clause = " and ".join(where)
        query = f"select {columns} from history where {clause} order by id desc limit ?"  # noqa: S608
        rows = con.execute(query, params).fetchall()
    return [
        HistoryEntry(
            r[0], datetime.fromisoformat(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], _values(r[8])
        )
        for r in rows
    ]


def clear(connection: str | None = None, *, username: str | None = None) -> int:
    """Delete history (of one connection, or all; only `username`'s when given)."""
    where, params = ["1 = 1"], []
    if connection is not None:
        where.append("connection = ?")
        params.append(connection)
    if username is not None:
        where.append("username = ?")
        params.append(username)
    with _open() as con:
        # `where` holds only the fixed fragments above; every value is a parameter.
        cur = con.execute(
            "delete from history where " + " and ".join(where),  # noqa: S608 - fixed fragments
            params,
        )
        return cur.rowcount
