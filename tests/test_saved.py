"""The saved-queries store: folders, unique names, overwrite, search, tree, persistence."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import ADMIN_PASSWORD, PASSWORD
from tusk.errors import BadInput, PermissionDenied
from tusk.store import saved
from tusk.store.saved import Folder, FolderNode, SavedQuery

HOSTILE = 'x"; drop table y; --'


def test_save_get_and_list(tusk_home: Path) -> None:
    """A saved query comes back whole, and lists are sorted by name."""
    q = saved.save_query("  Orders  ", "select * from orders", connection="pg")
    assert q.name == "Orders" and q.folder_id is None and q.connection == "pg"
    assert q.created_at == q.updated_at and q.created_at.tzinfo is not None
    assert saved.get_query(q.id) == q
    saved.save_query("alpha", "select 1")
    assert [x.name for x in saved.list_queries()] == ["alpha", "Orders"]
    assert (tusk_home / "saved.db").exists()


def test_names_unique_within_a_folder(tusk_home: Path) -> None:
    """The same name may live in two folders, never twice in one (the top level included)."""
    reports = saved.create_folder("Reports")
    saved.save_query("daily", "select 1")
    saved.save_query("daily", "select 2", reports.id)
    with pytest.raises(BadInput, match="A query called 'daily' already exists in Reports"):
        saved.save_query("daily", "select 3", reports.id)
    with pytest.raises(BadInput, match="already exists in the top level"):
        saved.save_query(" daily ", "select 3")
    assert sorted(q.sql for q in saved.list_queries()) == ["select 1", "select 2"]


def test_name_taken_message_names_the_folder_path(tusk_home: Path) -> None:
    """Nested folders show as a path in the message."""
    top = saved.create_folder("Reports")
    sub = saved.create_folder("2024", top.id)
    saved.save_query("q", "select 1", sub.id)
    with pytest.raises(BadInput, match="already exists in Reports / 2024") as err:
        saved.save_query("q", "select 2", sub.id)
    assert err.value.title == "Name taken"


def test_overwrite_updates_sql_connection_and_time(tusk_home: Path) -> None:
    """overwrite keeps the id and created_at, replaces sql and connection, moves updated_at."""
    first = saved.save_query("q", "select 1", connection="a")
    again = saved.save_query("q", "select 2", connection="b", overwrite=True)
    assert again.id == first.id and again.created_at == first.created_at
    assert again.sql == "select 2" and again.connection == "b"
    assert again.updated_at > first.updated_at
    assert len(saved.list_queries()) == 1


def test_overwrite_of_a_new_name_just_saves(tusk_home: Path) -> None:
    """overwrite=True on a fresh name creates it."""
    q = saved.save_query("new", "select 1", overwrite=True)
    assert saved.get_query(q.id).sql == "select 1"


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_bad_names_are_refused(tusk_home: Path, name: str) -> None:
    """Names are stripped, non-empty and at most 200 characters."""
    with pytest.raises(BadInput):
        saved.save_query(name, "select 1")
    with pytest.raises(BadInput):
        saved.create_folder(name)


def test_longest_name_is_allowed(tusk_home: Path) -> None:
    """200 characters (after stripping) is fine."""
    assert saved.save_query(" " + "é" * 200 + " ", "select 1").name == "é" * 200


def test_empty_sql_is_refused(tusk_home: Path) -> None:
    """There is nothing to save in blank SQL."""
    with pytest.raises(BadInput, match="no SQL"):
        saved.save_query("q", "  \n ")


@pytest.mark.parametrize(
    "name", [HOSTILE, "🐘 elephants 🦣", "it's", "100% _done_", "a\\b", "Ünïcødé / 名前"]
)
def test_hostile_and_unicode_names_round_trip(tusk_home: Path, name: str) -> None:
    """Any characters survive in folder names, query names, SQL and connection names."""
    folder = saved.create_folder(name)
    q = saved.save_query(name, f"select '{name}'", folder.id, connection=name)
    got = saved.get_query(q.id)
    assert (got.name, got.sql, got.connection) == (name, f"select '{name}'", name)
    assert saved.list_folders() == [Folder(folder.id, name, None)]
    assert saved.list_queries(search=name) == [got]


def test_hostile_name_did_not_touch_the_schema(tusk_home: Path) -> None:
    """The store's tables are still there after saving a SQL-injection-shaped name."""
    saved.save_query(HOSTILE, HOSTILE)
    con = sqlite3.connect(tusk_home / "saved.db")
    try:
        tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
    finally:
        con.close()
    assert {"folder", "query"} <= tables
    assert [q.name for q in saved.list_queries()] == [HOSTILE]


def test_search_name_and_sql_with_literal_wildcards(tusk_home: Path) -> None:
    """search looks in name and SQL, case-insensitively; % and _ match only themselves."""
    saved.save_query("Growth", "select 100 * x / y")
    saved.save_query("percent", "select '100%' as pct")
    saved.save_query("under_score", "select 1")
    saved.save_query("plain", "select 2")
    assert [q.name for q in saved.list_queries(search="growth")] == ["Growth"]
    assert [q.name for q in saved.list_queries(search="%")] == ["percent"]
    assert [q.name for q in saved.list_queries(search="_")] == ["under_score"]
    assert [q.name for q in saved.list_queries(search="100")] == ["Growth", "percent"]
    assert saved.list_queries(search="nothing like it") == []


def test_list_queries_by_folder(tusk_home: Path) -> None:
    """folder_id picks one folder, None the top level, and the default everything."""
    f = saved.create_folder("F")
    saved.save_query("in folder", "select 1", f.id)
    saved.save_query("at top", "select 2")
    assert [q.name for q in saved.list_queries(f.id)] == ["in folder"]
    assert [q.name for q in saved.list_queries(None)] == ["at top"]
    assert [q.name for q in saved.list_queries()] == ["at top", "in folder"]
    assert [q.name for q in saved.list_queries(f.id, search="2")] == []


def test_rename_and_move_query(tusk_home: Path) -> None:
    """Renames and moves respect the unique-in-folder rule."""
    f = saved.create_folder("F")
    a = saved.save_query("a", "select 1")
    saved.save_query("b", "select 2")
    saved.save_query("a", "select 3", f.id)
    with pytest.raises(BadInput, match="'b' already exists"):
        saved.rename_query(a.id, "b")
    renamed = saved.rename_query(a.id, "  c ")
    assert renamed.name == "c" and renamed.sql == "select 1"
    assert saved.rename_query(a.id, "c").name == "c"  # same name is fine
    moved = saved.move_query(a.id, f.id)
    assert moved.folder_id == f.id
    assert saved.move_query(a.id, None).folder_id is None
    other = saved.save_query("a", "select 4")
    with pytest.raises(BadInput, match="'a' already exists in F"):
        saved.move_query(other.id, f.id)
    assert saved.get_query(other.id).folder_id is None


def test_delete_query(tusk_home: Path) -> None:
    """A deleted query is gone; unknown ids are a clear BadInput."""
    q = saved.save_query("q", "select 1")
    saved.delete_query(q.id)
    assert saved.list_queries() == []
    with pytest.raises(BadInput, match="no saved query with id") as err:
        saved.get_query(q.id)
    assert err.value.title == "Query not found"
    with pytest.raises(BadInput):
        saved.delete_query(q.id)
    with pytest.raises(BadInput):
        saved.rename_query(q.id, "x")


def test_folders_create_rename_list(tusk_home: Path) -> None:
    """Folders nest; sibling names are unique; renames keep the place."""
    a = saved.create_folder("A")
    b = saved.create_folder("B", a.id)
    assert b == Folder(b.id, "B", a.id)
    saved.create_folder("B")  # same name, different parent
    with pytest.raises(BadInput, match="folder called 'B' already exists in A"):
        saved.create_folder("B", a.id)
    assert saved.rename_folder(b.id, " C ") == Folder(b.id, "C", a.id)
    with pytest.raises(BadInput, match="already exists in the top level"):
        saved.rename_folder(a.id, "B")
    assert [(f.name, f.parent_id) for f in saved.list_folders()] == [
        ("A", None),
        ("B", None),
        ("C", a.id),
    ]
    assert saved.get_folder(b.id).name == "C"


def test_unknown_folder_is_refused(tusk_home: Path) -> None:
    """Foreign keys: nothing can point at a folder that does not exist."""
    with pytest.raises(BadInput, match="no folder with id 42") as err:
        saved.save_query("q", "select 1", 42)
    assert err.value.title == "Folder not found"
    with pytest.raises(BadInput, match="no folder with id 42"):
        saved.create_folder("f", 42)
    q = saved.save_query("q", "select 1")
    with pytest.raises(BadInput, match="no folder with id 42"):
        saved.move_query(q.id, 42)


def test_foreign_keys_are_enforced_in_the_file(tusk_home: Path) -> None:
    """Even bypassing the checks, the database refuses a dangling folder id."""
    saved.list_folders()  # creates the file
    con = saved._open()
    try:
        with pytest.raises(sqlite3.IntegrityError):
            con.execute(
                "insert into query (name, sql, folder_id, created_at, updated_at)"
                " values ('q', 'select 1', 99, '', '')"
            )
    finally:
        con.close()


def test_delete_folder_refuses_when_not_empty(tusk_home: Path) -> None:
    """A folder with a query or a sub-folder needs recursive=True."""
    a = saved.create_folder("A")
    b = saved.create_folder("B", a.id)
    q = saved.save_query("q", "select 1", b.id)
    with pytest.raises(BadInput, match="'A' is not empty") as err:
        saved.delete_folder(a.id)
    assert err.value.title == "Folder not empty"
    with pytest.raises(BadInput, match="'B' is not empty"):
        saved.delete_folder(b.id)
    saved.delete_query(q.id)
    saved.delete_folder(b.id)
    saved.delete_folder(a.id)
    assert saved.list_folders() == []
    with pytest.raises(BadInput, match="no folder"):
        saved.delete_folder(a.id)


def test_delete_folder_recursive_takes_everything_below(tusk_home: Path) -> None:
    """recursive deletes nested folders and their queries, and nothing else."""
    a = saved.create_folder("A")
    b = saved.create_folder("B", a.id)
    c = saved.create_folder("C", b.id)
    saved.save_query("in a", "select 1", a.id)
    saved.save_query("in c", "select 2", c.id)
    keep_folder = saved.create_folder("Keep")
    keep = saved.save_query("keep", "select 3", keep_folder.id)
    top = saved.save_query("top", "select 4")
    saved.delete_folder(a.id, recursive=True)
    assert saved.list_folders() == [keep_folder]
    assert saved.list_queries() == [keep, top]


def test_move_folder_and_no_cycles(tusk_home: Path) -> None:
    """A folder moves with its contents, but never inside itself."""
    a = saved.create_folder("A")
    b = saved.create_folder("B", a.id)
    c = saved.create_folder("C", b.id)
    with pytest.raises(BadInput, match="inside itself"):
        saved.move_folder(a.id, c.id)
    with pytest.raises(BadInput, match="inside itself"):
        saved.move_folder(a.id, a.id)
    assert saved.move_folder(c.id, None) == Folder(c.id, "C", None)
    saved.create_folder("C", a.id)
    with pytest.raises(BadInput, match="already exists in A"):
        saved.move_folder(c.id, a.id)


def test_tree(tusk_home: Path) -> None:
    """tree(): folders first then queries at each level, nested, sorted by name."""
    a = saved.create_folder("a")
    z = saved.create_folder("z")
    sub = saved.create_folder("sub", a.id)
    q_sub = saved.save_query("deep", "select 1", sub.id)
    q_a = saved.save_query("in a", "select 2", a.id)
    q_top = saved.save_query("Top", "select 3")
    nodes = saved.tree()
    assert [type(n) for n in nodes] == [FolderNode, FolderNode, SavedQuery]
    node_a, node_z, top = nodes
    assert node_a.folder == a and node_z.folder == z and node_z.children == []
    assert top == q_top
    assert [n.folder for n in node_a.folders] == [sub]
    assert node_a.queries == [q_a]
    assert node_a.folders[0].queries == [q_sub]


def test_tree_search_keeps_only_paths_to_matches(tusk_home: Path) -> None:
    """With search, empty branches disappear."""
    a = saved.create_folder("a")
    sub = saved.create_folder("sub", a.id)
    saved.create_folder("empty")
    hit = saved.save_query("needle", "select 1", sub.id)
    saved.save_query("other", "select 2", a.id)
    saved.save_query("top", "select 3")
    nodes = saved.tree("NEEDLE")
    assert len(nodes) == 1 and isinstance(nodes[0], FolderNode)
    assert nodes[0].folder == a and nodes[0].queries == []
    assert nodes[0].folders[0].queries == [hit]
    assert saved.tree("no such thing") == []


def test_empty_store(tusk_home: Path) -> None:
    """A fresh home lists nothing."""
    assert saved.list_folders() == []
    assert saved.list_queries() == []
    assert saved.tree() == []


def test_data_survives_reopening(tusk_home: Path) -> None:
    """Each call opens the file afresh, so everything saved is read back from disk."""
    f = saved.create_folder("Persisted 🐘")
    q = saved.save_query(HOSTILE, "select 42", f.id, connection="pg")
    # A brand-new connection to the file sees the same rows.
    con = sqlite3.connect(tusk_home / "saved.db")
    try:
        assert con.execute("select name, sql from query").fetchall() == [(HOSTILE, "select 42")]
        assert con.execute("pragma user_version").fetchone()[0] == len(saved.MIGRATIONS)
        assert con.execute("pragma journal_mode").fetchone()[0] == "wal"
    finally:
        con.close()
    assert saved.get_query(q.id) == q
    assert saved.list_folders() == [f]
    assert saved.tree()[0].queries == [q]  # type: ignore[union-attr]


# --- owners (multi-user mode) -------------------------------------------------------------------


@pytest.fixture
def two_users(monkeypatch: pytest.MonkeyPatch) -> tuple:
    """Multi-user mode with two Analysts (who may save) and a Viewer (who may not)."""
    from tusk import config
    from tusk.auth import passwords
    from tusk.auth.bootstrap import init
    from tusk.auth.users import create_user, get_user

    monkeypatch.setattr(passwords, "BCRYPT_ROUNDS", 4)
    init(ADMIN_PASSWORD)
    for name, group in (("ana", "Analysts"), ("bob", "Analysts"), ("vera", "Viewers")):
        create_user(name, PASSWORD, groups=[group])
    config.set_value("auth_mode", "multi")
    return get_user("ana"), get_user("bob"), get_user("vera")


def test_each_user_has_their_own_tree(two_users: tuple) -> None:
    """Same names do not collide across users; nobody reads or changes another's queries."""
    ana, bob, vera = two_users
    folder = saved.create_folder("Reports", actor=ana)
    mine = saved.save_query("daily", "select 'ana'", folder.id, actor=ana)
    saved.create_folder("Reports", actor=bob)  # no clash with ana's folder
    theirs = saved.save_query("daily", "select 'bob'", actor=bob)
    assert [q.sql for q in saved.list_queries(actor=ana)] == ["select 'ana'"]
    assert [q.sql for q in saved.list_queries(actor=bob)] == ["select 'bob'"]
    assert [f.name for f in saved.list_folders(actor=bob)] == ["Reports"]
    assert saved.tree(actor=bob)[0].folder.id != folder.id
    for call in (
        lambda: saved.get_query(mine.id, actor=bob),
        lambda: saved.rename_query(mine.id, "x", actor=bob),
        lambda: saved.delete_query(mine.id, actor=bob),
        lambda: saved.move_query(theirs.id, folder.id, actor=bob),  # ana's folder
        lambda: saved.save_query("q", "select 1", folder.id, actor=bob),
        lambda: saved.delete_folder(folder.id, recursive=True, actor=bob),
    ):
        with pytest.raises(BadInput, match="no (saved query|folder)"):
            call()
    assert saved.get_query(mine.id, actor=ana).name == "daily"
    with pytest.raises(PermissionDenied, match="queries.save"):
        saved.create_folder("Mine", actor=vera)
    with pytest.raises(PermissionDenied, match="queries.save"):
        saved.delete_query(mine.id, actor=vera)
    assert saved.list_queries(actor=vera) == []  # reading one's own (empty) tree is fine


def test_version_1_file_migrates_with_queries_kept(tusk_home: Path) -> None:
    """A saved.db written before owners existed keeps its queries (owner "": single mode)."""
    tusk_home.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(tusk_home / "saved.db")
    con.executescript(saved.MIGRATIONS[0])
    con.execute(
        "insert into query (name, sql, created_at, updated_at) values ('old', 'select 1',"
        " '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')"
    )
    con.execute("pragma user_version = 1")
    con.commit()
    con.close()
    assert [q.name for q in saved.list_queries()] == ["old"]
    saved.save_query("new", "select 2")
    assert [q.name for q in saved.list_queries()] == ["new", "old"]
