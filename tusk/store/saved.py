"""Saved queries in nested folders; names are unique within their folder (or the top level).

In multi-user mode every folder and query has an owner (the username of the `actor` passed to
each function) and nobody sees, changes or collides with another user's; in single mode the
owner is "" for all.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import EllipsisType
from typing import TYPE_CHECKING

from tusk import auth, config
from tusk.errors import BadInput
from tusk.store.database import open_store, shared_store

SAVED_DB = "saved.db"
MAX_NAME = 200

# ifnull(…, 0) makes the top level (NULL) one more folder for the unique indexes:
# plain NULLs never collide in a unique index. Ids start at 1, so 0 is free.
if TYPE_CHECKING:
    from tusk.auth.schema import User

MIGRATIONS = (
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


_QUERY_COLUMNS = "id, name, sql, folder_id, connection, created_at, updated_at"


def _file() -> Path:
    return config.home() / SAVED_DB


def _open() -> sqlite3.Connection:
    return open_store(_file(), MIGRATIONS)


@contextmanager
def _write() -> Iterator[sqlite3.Connection]:
    """One write transaction, taken up front so check-then-change steps cannot interleave
    (other threads wait for the kept connection, other processes up to the busy timeout);
    a full disk or a damaged file is a clear TuskError and the transaction is rolled back."""
    with shared_store(_file(), MIGRATIONS) as con:
        con.execute("begin immediate")
        try:
            yield con
            con.execute("commit")
        except BaseException:
            if con.in_transaction:
                con.execute("rollback")
            raise


@contextmanager
def _read() -> Iterator[sqlite3.Connection]:
    """The kept connection: it keeps SQLite's -shm index, so reading works on a full disk."""
    with shared_store(_file(), MIGRATIONS) as con:
        yield con


def _owner(actor: User | None) -> str:
    """Whose tree: the user's name in multi-user mode, "" in single mode."""
    if actor is None or auth.mode() == "single":
        return ""
    return actor.username


def _now() -> str:
    return datetime.now(UTC).isoformat()


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


def _query(row: tuple) -> SavedQuery:
    return SavedQuery(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        datetime.fromisoformat(row[5]),
        datetime.fromisoformat(row[6]),
    )


def _folder_row(con: sqlite3.Connection, folder_id: int, owner: str) -> Folder:
    row = con.execute(
        "select id, name, parent_id from folder where id = ? and owner = ?", (folder_id, owner)
    ).fetchone()
    if row is None:
        raise BadInput(f"There is no folder with id {folder_id}.", "Folder not found")
    return Folder(*row)


def _query_row(con: sqlite3.Connection, query_id: int, owner: str) -> SavedQuery:
    row = con.execute(
        f"select {_QUERY_COLUMNS} from query where id = ? and owner = ?",  # noqa: S608 - fixed columns
        (query_id, owner),
    ).fetchone()
    if row is None:
        raise BadInput(f"There is no saved query with id {query_id}.", "Query not found")
    return _query(row)


def _path(con: sqlite3.Connection, folder_id: int | None, owner: str) -> str:
    """A folder's place for messages: "the top level" or "Reports / 2024"."""
    if folder_id is None:
        return "the top level"
    names: list[str] = []
    current: int | None = folder_id
    while current is not None and len(names) <= 1000:  # the bound only guards a corrupt file
        folder = _folder_row(con, current, owner)
        names.append(folder.name)
        current = folder.parent_id
    return " / ".join(reversed(names))


def _check_folder(con: sqlite3.Connection, folder_id: int | None, owner: str) -> None:
    if folder_id is not None:
        _folder_row(con, folder_id, owner)


def _query_name_free(
    con: sqlite3.Connection, name: str, folder_id: int | None, owner: str, but: int | None = None
) -> None:
    row = _same_name_query(con, name, folder_id, owner)
    if row is not None and row[0] != but:
        raise _name_taken(con, "query", name, folder_id, owner)


def _same_name_query(
    con: sqlite3.Connection, name: str, folder_id: int | None, owner: str
) -> tuple | None:
    return con.execute(
        "select id from query where owner = ? and ifnull(folder_id, 0) = ifnull(?, 0) and name = ?",
        (owner, folder_id, name),
    ).fetchone()


def _folder_name_free(
    con: sqlite3.Connection, name: str, parent_id: int | None, owner: str, but: int | None = None
) -> None:
    row = con.execute(
        "select id from folder where owner = ? and ifnull(parent_id, 0) = ifnull(?, 0)"
        " and name = ?",
        (owner, parent_id, name),
    ).fetchone()
    if row is not None and row[0] != but:
        raise _name_taken(con, "folder", name, parent_id, owner)


def _name_taken(
    con: sqlite3.Connection, what: str, name: str, folder_id: int | None, owner: str
) -> BadInput:
    return BadInput(
        f"A {what} called {name!r} already exists in {_path(con, folder_id, owner)}.",
        "Name taken",
    )


# --- folders -----------------------------------------------------------------------------------


def create_folder(name: str, parent_id: int | None = None, *, actor: User | None = None) -> Folder:
    """Create a folder at the top level or inside `parent_id`."""
    auth.require(actor, "queries.save")
    owner = _owner(actor)
    clean = _name(name, "folder")
    with _write() as con:
        _check_folder(con, parent_id, owner)
        _folder_name_free(con, clean, parent_id, owner)
        cur = con.execute(
            "insert into folder (name, parent_id, created_at, owner) values (?, ?, ?, ?)",
            (clean, parent_id, _now(), owner),
        )
        return Folder(int(cur.lastrowid or 0), clean, parent_id)


def rename_folder(folder_id: int, name: str, *, actor: User | None = None) -> Folder:
    """Give a folder a new name (unique among its siblings)."""
    auth.require(actor, "queries.save")
    owner = _owner(actor)
    clean = _name(name, "folder")
    with _write() as con:
        folder = _folder_row(con, folder_id, owner)
        _folder_name_free(con, clean, folder.parent_id, owner, but=folder_id)
        con.execute("update folder set name = ? where id = ?", (clean, folder_id))
        return Folder(folder_id, clean, folder.parent_id)


def move_folder(folder_id: int, parent_id: int | None, *, actor: User | None = None) -> Folder:
    """Move a folder (with everything in it) under `parent_id`, or to the top level."""
    auth.require(actor, "queries.save")
    owner = _owner(actor)
    with _write() as con:
        folder = _folder_row(con, folder_id, owner)
        _check_folder(con, parent_id, owner)
        current = parent_id
        while current is not None:  # walking up from the target must never meet the folder
            if current == folder_id:
                raise BadInput(
                    f"{folder.name!r} cannot go inside itself or one of its sub-folders.",
                    "Cannot move folder",
                )
            current = _folder_row(con, current, owner).parent_id
        _folder_name_free(con, folder.name, parent_id, owner, but=folder_id)
        con.execute("update folder set parent_id = ? where id = ?", (parent_id, folder_id))
        return Folder(folder_id, folder.name, parent_id)


def delete_folder(folder_id: int, *, recursive: bool = False, actor: User | None = None) -> None:
    """Delete a folder; one with sub-folders or queries only when `recursive`."""
    auth.require(actor, "queries.save")
    owner = _owner(actor)
    with _write() as con:
        folder = _folder_row(con, folder_id, owner)
        if not recursive:
            folders = con.execute(
                "select count(*) from folder where parent_id = ?", (folder_id,)
            ).fetchone()[0]
            queries = con.execute(
                "select count(*) from query where folder_id = ?", (folder_id,)
            ).fetchone()[0]
            if folders or queries:
                raise BadInput(
                    f"The folder {folder.name!r} is not empty ({folders} folder(s), "
                    f"{queries} quer{'y' if queries == 1 else 'ies'}): empty it first or "
                    "delete it with everything in it.",
                    "Folder not empty",
                )
        # on delete cascade takes the sub-folders and queries with it.
        con.execute("delete from folder where id = ?", (folder_id,))


def get_folder(folder_id: int, *, actor: User | None = None) -> Folder:
    """One folder by id."""
    with _read() as con:
        return _folder_row(con, folder_id, _owner(actor))


def list_folders(*, actor: User | None = None) -> list[Folder]:
    """Every folder, sorted by name (use parent_id to nest them)."""
    with _read() as con:
        rows = con.execute(
            "select id, name, parent_id from folder where owner = ?"
            " order by name collate nocase, name, id",
            (_owner(actor),),
        ).fetchall()
    return [Folder(*r) for r in rows]


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
    with _write() as con:
        _check_folder(con, folder_id, owner)
        row = _same_name_query(con, clean, folder_id, owner)
        if row is not None:
            if not overwrite:
                raise _name_taken(con, "query", clean, folder_id, owner)
            con.execute(
                "update query set sql = ?, connection = ?, updated_at = ? where id = ?",
                (sql, connection, now, row[0]),
            )
            return _query_row(con, row[0], owner)
        cur = con.execute(
            "insert into query (name, sql, folder_id, connection, created_at, updated_at, owner)"
            " values (?, ?, ?, ?, ?, ?, ?)",
            (clean, sql, folder_id, connection, now, now, owner),
        )
        return _query_row(con, int(cur.lastrowid or 0), owner)


def get_query(query_id: int, *, actor: User | None = None) -> SavedQuery:
    """One saved query by id."""
    with _read() as con:
        return _query_row(con, query_id, _owner(actor))


def rename_query(query_id: int, name: str, *, actor: User | None = None) -> SavedQuery:
    """Give a saved query a new name (unique in its folder)."""
    auth.require(actor, "queries.save")
    owner = _owner(actor)
    clean = _name(name, "query")
    with _write() as con:
        query = _query_row(con, query_id, owner)
        _query_name_free(con, clean, query.folder_id, owner, but=query_id)
        con.execute(
            "update query set name = ?, updated_at = ? where id = ?", (clean, _now(), query_id)
        )
        return _query_row(con, query_id, owner)


def move_query(query_id: int, folder_id: int | None, *, actor: User | None = None) -> SavedQuery:
    """Move a saved query into another folder, or to the top level with None."""
    auth.require(actor, "queries.save")
    owner = _owner(actor)
    with _write() as con:
        query = _query_row(con, query_id, owner)
        _check_folder(con, folder_id, owner)
        _query_name_free(con, query.name, folder_id, owner, but=query_id)
        con.execute(
            "update query set folder_id = ?, updated_at = ? where id = ?",
            (folder_id, _now(), query_id),
        )
        return _query_row(con, query_id, owner)


def delete_query(query_id: int, *, actor: User | None = None) -> None:
    """Delete a saved query."""
    auth.require(actor, "queries.save")
    owner = _owner(actor)
    with _write() as con:
        _query_row(con, query_id, owner)
        con.execute("delete from query where id = ?", (query_id,))


def list_queries(
    folder_id: int | None | EllipsisType = ...,
    search: str = "",
    *,
    actor: User | None = None,
) -> list[SavedQuery]:
    """Saved queries sorted by name: in one folder (None: the top level) or, by default, all;
    `search` matches anywhere in the name or SQL, case-insensitively, % and _ literally."""
    where = ["owner = ?"]
    params: list[object] = [_owner(actor)]
    if folder_id is not ...:
        where.append("ifnull(folder_id, 0) = ifnull(?, 0)")
        params.append(folder_id)
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append("(name like ? escape '\\' or sql like ? escape '\\')")
        params += [f"%{escaped}%", f"%{escaped}%"]
    with _read() as con:
        # `where` holds only the fixed fragments above; every value is a parameter.
        rows = con.execute(
            f"select {_QUERY_COLUMNS} from query where "  # noqa: S608
            + " and ".join(where)
            + " order by name collate nocase, name, id",
            params,
        ).fetchall()
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
    with _write() as con:
        gone = con.execute("delete from query where owner = ?", (owner,)).rowcount
        con.execute("delete from folder where owner = ?", (owner,))
        return gone
