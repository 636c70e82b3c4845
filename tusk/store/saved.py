"""Saved queries in nested folders; names are unique within their folder (or the top level).

In multi-user mode every folder and query has an owner (the username of the `actor` passed to
each function) and nobody sees, changes or collides with another user's; in single mode the
owner is "" for all.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import EllipsisType
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, literal_column
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col, delete, func, insert, or_, select

from tusk import auth, config
from tusk.errors import BadInput
from tusk.store.database import SqliteFile, open_store
from tusk.store.schema import SAVED_MIGRATIONS as MIGRATIONS
from tusk.store.schema import FolderRow, QueryRow

if TYPE_CHECKING:
    from tusk.auth.schema import User

SAVED_DB = "saved.db"
MAX_NAME = 200


@dataclass(frozen=True)
class Folder:
    """A folder of saved queries; `parent_id` None means the top level."""

    id: int
    name: str
    parent_id: int | None


@dataclass(frozen=True)
class SavedQuery:
    """One saved query; `folder_id` None means the top level."""

    id: int
    name: str
    sql: str
    folder_id: int | None
    connection: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class FolderNode:
    """A folder in `tree()`: its sub-folders first, then its queries, each sorted by name."""

    folder: Folder
    children: list[FolderNode | SavedQuery] = field(default_factory=list)

    @property
    def folders(self) -> list[FolderNode]:
        """The sub-folders."""
        return [c for c in self.children if isinstance(c, FolderNode)]

    @property
    def queries(self) -> list[SavedQuery]:
        """The queries directly in this folder."""
        return [c for c in self.children if isinstance(c, SavedQuery)]


def _file() -> Path:
    return config.home() / SAVED_DB


def _open() -> sqlite3.Connection:
    """A plain connection to saved.db, migrated (for tests that bypass the checks)."""
    return open_store(_file(), MIGRATIONS)


_db = SqliteFile(_file, MIGRATIONS)
# Writes take the write lock up front, so check-then-change steps cannot interleave (other
# threads wait for the writer connection, other processes up to the busy timeout); a full disk
# or a damaged file is a clear TuskError and the transaction is rolled back. Reads run on kept
# connections, which keep SQLite's -shm index: reading works on a full disk.
_write = _db.write
_read = _db.read


def _owner(actor: User | None) -> str:
    """Whose tree: the user's name in multi-user mode, "" in single mode."""
    if actor is None or auth.mode() == "single":
        return ""
    return actor.username


def _now() -> datetime:
    return datetime.now(UTC)


def _name(name: str, what: str) -> str:
    """A stripped, non-empty name of at most MAX_NAME characters."""
    if not isinstance(name, str):
        raise BadInput(f"A {what} name must be text.", "Bad name")
    clean = name.strip()
    if not clean:
        raise BadInput(f"Give the {what} a name.", "Name missing")
    if len(clean) > MAX_NAME:
        raise BadInput(
            f"A {what} name can be at most {MAX_NAME} characters (this one has {len(clean)}).",
            "Name too long",
        )
    _encodable(clean, f"The {what} name")
    return clean


def _encodable(text: str, what: str) -> None:
    """BadInput for a lone surrogate, which SQLite cannot store (a raw UnicodeEncodeError)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadInput(
            f"{what} contains {text[exc.start]!r}, a character with no UTF-8 form (half of a "
            "surrogate pair): retype or remove it.",
            "Character cannot be encoded",
        ) from None


# Sorted by name as people read it (case-insensitively), then exactly, then by age.
_FOLDER_ORDER = (col(FolderRow.name).collate("nocase"), col(FolderRow.name), col(FolderRow.id))
_QUERY_ORDER = (col(QueryRow.name).collate("nocase"), col(QueryRow.name), col(QueryRow.id))


def _folder(row: FolderRow) -> Folder:
    return Folder(row.id, row.name, row.parent_id)


def _query(row: QueryRow) -> SavedQuery:
    return SavedQuery(
        row.id, row.name, row.sql, row.folder_id, row.connection, row.created_at, row.updated_at
    )


def _folder_row(s: Session, folder_id: int, owner: str) -> FolderRow:
    row = s.exec(
        select(FolderRow).where(col(FolderRow.id) == folder_id, col(FolderRow.owner) == owner)
    ).first()
    if row is None:
        raise BadInput(f"There is no folder with id {folder_id}.", "Folder not found")
    return row


def _query_row(s: Session, query_id: int, owner: str) -> QueryRow:
    row = s.exec(
        select(QueryRow).where(col(QueryRow.id) == query_id, col(QueryRow.owner) == owner)
    ).first()
    if row is None:
        raise BadInput(f"There is no saved query with id {query_id}.", "Query not found")
    return row


def _path(s: Session, folder_id: int | None, owner: str) -> str:
    """A folder's place for messages: "the top level" or "Reports / 2024"."""
    if folder_id is None:
        return "the top level"
    names: list[str] = []
    current: int | None = folder_id
    while current is not None and len(names) <= 1000:  # the bound only guards a corrupt file
        folder = _folder_row(s, current, owner)
        names.append(folder.name)
        current = folder.parent_id
    return " / ".join(reversed(names))


def _check_folder(s: Session, folder_id: int | None, owner: str) -> None:
    if folder_id is not None:
        _folder_row(s, folder_id, owner)


def _query_name_free(
    s: Session, name: str, folder_id: int | None, owner: str, but: int | None = None
) -> None:
    row = _same_name_query(s, name, folder_id, owner)
    if row is not None and row.id != but:
        raise _name_taken(s, "query", name, folder_id, owner)


def _in(column: Mapped[int | None], place: int | None) -> ColumnElement[bool]:
    """`column` (a folder id) is `place`, the top level (NULL) being 0 as the unique indexes
    see it: ifnull(column, 0) = ifnull(?, 0). The 0 is written out, not bound: SQLite uses an
    index on an expression only for the very same expression."""
    return func.ifnull(column, literal_column("0")) == func.ifnull(place, 0)


def _same_name_query(s: Session, name: str, folder_id: int | None, owner: str) -> QueryRow | None:
    return s.exec(
        select(QueryRow).where(
            col(QueryRow.owner) == owner,
            _in(col(QueryRow.folder_id), folder_id),
            col(QueryRow.name) == name,
        )
    ).first()


def _folder_name_free(
    s: Session, name: str, parent_id: int | None, owner: str, but: int | None = None
) -> None:
    row = s.exec(
        select(col(FolderRow.id)).where(
            col(FolderRow.owner) == owner,
            _in(col(FolderRow.parent_id), parent_id),
            col(FolderRow.name) == name,
        )
    ).first()
    if row is not None and row != but:
        raise _name_taken(s, "folder", name, parent_id, owner)


def _name_taken(s: Session, what: str, name: str, folder_id: int | None, owner: str) -> BadInput:
    return BadInput(
        f"A {what} called {name!r} already exists in {_path(s, folder_id, owner)}.",
        "Name taken",
    )


# --- folders -----------------------------------------------------------------------------------


def create_folder(name: str, parent_id: int | None = None, *, actor: User | None = None) -> Folder:
    """Create a folder at the top level or inside `parent_id`."""
    auth.require(actor, "queries.save")
    owner = _owner(actor)
    clean = _name(name, "folder")
    with _write() as s:
        _check_folder(s, parent_id, owner)
        _folder_name_free(s, clean, parent_id, owner)
        added = s.exec(
            insert(FolderRow).values(
                name=clean, parent_id=parent_id, created_at=_now(), owner=owner
            )
        )
        return Folder(int(added.lastrowid or 0), clean, parent_id)


def rename_folder(folder_id: int, name: str, *, actor: User | None = None) -> Folder:
    """Give a folder a new name (unique among its siblings)."""
    auth.require(actor, "queries.save")
    owner = _owner(actor)
    clean = _name(name, "folder")
    with _write() as s:
        folder = _folder_row(s, folder_id, owner)
        _folder_name_free(s, clean, folder.parent_id, owner, but=folder_id)
        folder.name = clean
        return _folder(folder)


def move_folder(folder_id: int, parent_id: int | None, *, actor: User | None = None) -> Folder:
    """Move a folder (with everything in it) under `parent_id`, or to the top level."""
    auth.require(actor, "queries.save")
    owner = _owner(actor)
    with _write() as s:
        folder = _folder_row(s, folder_id, owner)
        _check_folder(s, parent_id, owner)
        current = parent_id
        while current is not None:  # walking up from the target must never meet the folder
            if current == folder_id:
                raise BadInput(
                    f"{folder.name!r} cannot go inside itself or one of its sub-folders.",
                    "Cannot move folder",
                )
            current = _folder_row(s, current, owner).parent_id
        _folder_name_free(s, folder.name, parent_id, owner, but=folder_id)
        folder.parent_id = parent_id
        return _folder(folder)


def delete_folder(folder_id: int, *, recursive: bool = False, actor: User | None = None) -> None:
    """Delete a folder; one with sub-folders or queries only when `recursive`."""
    auth.require(actor, "queries.save")
    owner = _owner(actor)
    with _write() as s:
        folder = _folder_row(s, folder_id, owner)
        if not recursive:
            folders = s.exec(
                select(func.count()).where(col(FolderRow.parent_id) == folder_id)
            ).one()
            queries = s.exec(select(func.count()).where(col(QueryRow.folder_id) == folder_id)).one()
            if folders or queries:
                raise BadInput(
                    f"The folder {folder.name!r} is not empty ({folders} folder(s), "
                    f"{queries} quer{'y' if queries == 1 else 'ies'}): empty it first or "
                    "delete it with everything in it.",
                    "Folder not empty",
                )
        # on delete cascade takes the sub-folders and queries with it.
        s.exec(delete(FolderRow).where(col(FolderRow.id) == folder_id))


def get_folder(folder_id: int, *, actor: User | None = None) -> Folder:
    """One folder by id."""
    with _read() as s:
        return _folder(_folder_row(s, folder_id, _owner(actor)))


def list_folders(*, actor: User | None = None) -> list[Folder]:
    """Every folder, sorted by name (use parent_id to nest them)."""
    with _read() as s:
        rows = s.exec(
            select(FolderRow).where(col(FolderRow.owner) == _owner(actor)).order_by(*_FOLDER_ORDER)
        ).all()
        return [_folder(r) for r in rows]


# --- queries -----------------------------------------------------------------------------------


def save_query(
    name: str,
    sql: str,
    folder_id: int | None = None,
    connection: str | None = None,
    *,
    overwrite: bool = False,
    actor: User | None = None,
) -> SavedQuery:
    """Save SQL under a name in a folder; `overwrite` replaces the SQL of a same-named query."""
    auth.require(actor, "queries.save")
    owner = _owner(actor)
    clean = _name(name, "query")
    if not sql.strip():
        raise BadInput("There is no SQL to save.", "Empty query")
    _encodable(sql, "The SQL")
    now = _now()
    with _write() as s:
        _check_folder(s, folder_id, owner)
        row = _same_name_query(s, clean, folder_id, owner)
        if row is not None:
            if not overwrite:
                raise _name_taken(s, "query", clean, folder_id, owner)
            row.sql, row.connection, row.updated_at = sql, connection, now
            return _query(row)
        added = s.exec(
            insert(QueryRow).values(
                name=clean,
                sql=sql,
                folder_id=folder_id,
                connection=connection,
                created_at=now,
                updated_at=now,
                owner=owner,
            )
        )
        return _query(_query_row(s, int(added.lastrowid or 0), owner))


def get_query(query_id: int, *, actor: User | None = None) -> SavedQuery:
    """One saved query by id."""
    with _read() as s:
        return _query(_query_row(s, query_id, _owner(actor)))


def rename_query(query_id: int, name: str, *, actor: User | None = None) -> SavedQuery:
    """Give a saved query a new name (unique in its folder)."""
    auth.require(actor, "queries.save")
    owner = _owner(actor)
    clean = _name(name, "query")
    with _write() as s:
        query = _query_row(s, query_id, owner)
        _query_name_free(s, clean, query.folder_id, owner, but=query_id)
        query.name, query.updated_at = clean, _now()
        return _query(query)


def move_query(query_id: int, folder_id: int | None, *, actor: User | None = None) -> SavedQuery:
    """Move a saved query into another folder, or to the top level with None."""
    auth.require(actor, "queries.save")
    owner = _owner(actor)
    with _write() as s:
        query = _query_row(s, query_id, owner)
        _check_folder(s, folder_id, owner)
        _query_name_free(s, query.name, folder_id, owner, but=query_id)
        query.folder_id, query.updated_at = folder_id, _now()
        return _query(query)


def delete_query(query_id: int, *, actor: User | None = None) -> None:
    """Delete a saved query."""
    auth.require(actor, "queries.save")
    owner = _owner(actor)
    with _write() as s:
        _query_row(s, query_id, owner)
        s.exec(delete(QueryRow).where(col(QueryRow.id) == query_id))


def list_queries(
    folder_id: int | None | EllipsisType = ...,
    search: str = "",
    *,
    actor: User | None = None,
) -> list[SavedQuery]:
    """Saved queries sorted by name: in one folder (None: the top level) or, by default, all;
    `search` matches anywhere in the name or SQL, case-insensitively, % and _ literally."""
    query = select(QueryRow).where(col(QueryRow.owner) == _owner(actor))
    if not isinstance(folder_id, EllipsisType):
        query = query.where(_in(col(QueryRow.folder_id), folder_id))
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        query = query.where(
            or_(
                col(QueryRow.name).like(pattern, escape="\\"),
                col(QueryRow.sql).like(pattern, escape="\\"),
            )
        )
    with _read() as s:
        rows = s.exec(query.order_by(*_QUERY_ORDER)).all()
        return [_query(r) for r in rows]


def tree(search: str = "", *, actor: User | None = None) -> list[FolderNode | SavedQuery]:
    """The top level for a UI tree: folders (recursively) first, then top-level queries.

    With `search`, only matching queries are kept, and only folders that lead to one.
    """
    folders = list_folders(actor=actor)
    queries = list_queries(search=search, actor=actor)
    nodes = {f.id: FolderNode(f) for f in folders}
    top: list[FolderNode | SavedQuery] = []
    # list_folders and list_queries are sorted by name, so appending keeps each level sorted.
    for f in folders:
        parent = nodes.get(f.parent_id) if f.parent_id is not None else None
        (parent.children if parent else top).append(nodes[f.id])
    for q in queries:
        parent = nodes.get(q.folder_id) if q.folder_id is not None else None
        (parent.children if parent else top).append(q)
    if search:
        top = _prune(top)
    return top


def _prune(items: list[FolderNode | SavedQuery]) -> list[FolderNode | SavedQuery]:
    """Drop folders with no query anywhere below them."""
    kept: list[FolderNode | SavedQuery] = []
    for item in items:
        if isinstance(item, SavedQuery):
            kept.append(item)
            continue
        children = _prune(item.children)
        if children:
            kept.append(FolderNode(item.folder, children))
    return kept


def delete_owner(owner: str) -> int:
    """Delete every folder and query of one owner (their user was deleted: a later user of the
    same name must not inherit them); returns how many queries went. Not for single mode's ""."""
    if not owner or not (config.home() / SAVED_DB).exists():
        return 0
    with _write() as s:
        gone = s.exec(delete(QueryRow).where(col(QueryRow.owner) == owner)).rowcount
        s.exec(delete(FolderRow).where(col(FolderRow.owner) == owner))
        return gone
