"""The tables of history.db and saved.db: the SQL migrations that make them and the sqlmodel
classes that map them (history; folder and query)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel, Text, TypeDecorator

# Migrations are plain SQL applied past PRAGMA user_version (tusk.store.database); the models
# below only map these tables. Add a new script at the end, never edit an applied one.
HISTORY_MIGRATIONS = (
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

# ifnull(…, 0) makes the top level (NULL) one more folder for the unique indexes:
# plain NULLs never collide in a unique index. Ids start at 1, so 0 is free.
SAVED_MIGRATIONS = (
    """
    create table folder (
        id integer primary key,
        name text not null,
        parent_id integer references folder (id) on delete cascade,
        created_at text not null
    );
    create unique index folder_name on folder (ifnull(parent_id, 0), name);
    create index folder_parent on folder (parent_id);
    create table query (
        id integer primary key,
        name text not null,
        sql text not null,
        folder_id integer references folder (id) on delete cascade,
        connection text,
        created_at text not null,
        updated_at text not null
    );
    create unique index query_name on query (ifnull(folder_id, 0), name);
    create index query_folder on query (folder_id)
    """,
    # 2: owners. Each user has their own tree; names are unique per owner and folder.
    """
    alter table folder add column owner text not null default '';
    alter table query add column owner text not null default '';
    drop index folder_name;
    create unique index folder_name on folder (owner, ifnull(parent_id, 0), name);
    drop index query_name;
    create unique index query_name on query (owner, ifnull(folder_id, 0), name)
    """,
)


class IsoTime(TypeDecorator[datetime]):
    """A datetime stored as its ISO 8601 text, as these files always held it (SQLAlchemy's own
    SQLite DateTime writes another format: "2024-05-01 10:00:00.000000", no offset)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> str | None:
        """The text stored for `value`."""
        return None if value is None else value.isoformat()

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        """The datetime read back from the stored text."""
        return None if value is None else datetime.fromisoformat(value)


# Rows are only ever read through these classes: inserts go through insert(...).values(...),
# so `id` is always the file's own and never None.


class HistoryRow(SQLModel, table=True):
    """One executed statement in history.db."""

    __tablename__ = "history"
    id: int = Field(primary_key=True)
    ts: datetime = Field(sa_type=IsoTime)
    connection: str
    engine: str
    statement: str
    duration_s: float | None = None
    row_count: int | None = None
    error: str | None = None
    username: str | None = None  # None in single-user mode
    params: str | None = None  # the :name values as a JSON object; None when none


class FolderRow(SQLModel, table=True):
    """A folder in saved.db; `parent_id` None is the top level."""

    __tablename__ = "folder"
    id: int = Field(primary_key=True)
    name: str
    parent_id: int | None = Field(default=None, foreign_key="folder.id", ondelete="CASCADE")
    created_at: datetime = Field(sa_type=IsoTime)
    owner: str = ""


class QueryRow(SQLModel, table=True):
    """A saved query in saved.db; `folder_id` None is the top level."""

    __tablename__ = "query"
    id: int = Field(primary_key=True)
    name: str
    sql: str
    folder_id: int | None = Field(default=None, foreign_key="folder.id", ondelete="CASCADE")
    connection: str | None = None
    created_at: datetime = Field(sa_type=IsoTime)
    updated_at: datetime = Field(sa_type=IsoTime)
    owner: str = ""
