"""Issue 13, cases 1 and 2: no signed-in user reaches Tusk's own state (auth.db, history.db,
the secret key) through SQL or through a connection, whatever the spelling — so nobody makes
themselves an administrator."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tusk import config, connections
from tusk.auth.grants import permissions_of
from tusk.auth.users import get_user
from tusk.engines import isolation
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput, QueryFailed, TuskError

DEMO = connections.DEMO_NAME


@pytest.fixture(params=["in-process", "worker"])
def where(request: pytest.FixtureRequest) -> str:
    """Run each case with the engine in the server process and in a worker (the app)."""
    if request.param == "worker":
        isolation.enable()
    return str(request.param)


def _analyst_session(users: dict[str, Any]) -> Any:
    return connections.open_for(connections.ensure_demo(), users["analyst"])


def test_analyst_cannot_attach_auth_db_and_become_admin(users: dict[str, Any], where: str) -> None:
    auth_db = config.home() / "auth.db"
    conn = _analyst_session(users)
    try:
        for sql in (
            f"attach '{auth_db}' as a (type sqlite); "
            "update a.users set is_admin = 1 where username = 'analyst'",
            f"attach '{auth_db}' as a",
            f"select * from sqlite_scan('{auth_db}', 'users')",
            f"select * from sqlite_scan('{config.home() / 'history.db'}', 'history')",
            f"select * from read_blob('{config.home() / 'secret.key'}')",
            f"select * from st_read('{auth_db}', layer => 'users')",
            f"select * from read_text('{config.home()}/../{config.home().name}/auth.db')",
        ):
            with pytest.raises(QueryFailed):
                conn.execute(sql)
        # The session still works, and nobody became an administrator.
        assert conn.execute("select count(*) as n from cities").table.to_pylist() == [{"n": 12}]
    finally:
        conn.close()
    assert not get_user("analyst").is_admin  # type: ignore[union-attr]
    assert "system.users" not in permissions_of(users["analyst"])


def _planted(name: str, path: str, engine: str = "sqlite") -> ConnectionSpec:
    """A connection record written straight into connections.toml (as an old file might
    hold, or an admin typed by hand): opening it must still be refused."""
    spec = ConnectionSpec(name, engine, path=path)
    records = config.read_toml(config.home() / config.CONNECTIONS_FILE).get("connections", [])
    records.append({"name": name, "engine": engine, "path": path})
    config.write_toml(config.home() / config.CONNECTIONS_FILE, {"connections": records})
    return spec


def test_no_connection_reaches_tusks_own_files(
    users: dict[str, Any], tmp_path: Path, where: str
) -> None:
    from tusk import files

    home = config.home()
    root = files.roots()[0].path  # the default data root, home/data
    auth_db = home / "auth.db"
    (root / "via-link").symlink_to(auth_db)
    os.link(auth_db, tmp_path / "hard.db")  # a hard link elsewhere (made outside Tusk)
    spellings = [
        str(auth_db),
        str(root / ".." / "auth.db"),
        str(root / "via-link"),
        str(tmp_path / "hard.db"),
        f"file:{auth_db}",
        f"file:{auth_db}?mode=rw",
        str(home / "history.db"),
        str(home / "connections.toml"),
        str(home / "secret.key"),
        str(home / "saved.db"),
        str(home / "drafts" / "mine.json"),
    ]
    engineer = users["engineer"]  # holds connections.create and connections.use
    for i, path in enumerate(spellings):
        for engine in ("sqlite", "duckdb"):
            with pytest.raises(BadInput, match="cannot be"):
                connections.add(ConnectionSpec(f"c{i}{engine}", engine, path=path), actor=engineer)
    with pytest.raises(BadInput, match="Tusk's own home"):
        connections.add(ConnectionSpec("df", "datafusion", path=str(home)), actor=engineer)
    # A record already in the file (hand-written) is refused when opened, for any user.
    for i, path in enumerate(spellings[:5]):
        spec = _planted(f"planted{i}", path)
        for actor in (engineer, users["admin"], None):
            with pytest.raises(BadInput, match="cannot be"):
                connections.open_for(spec, actor)
        outcome = connections.test(spec)
        assert not outcome.ok and "cannot be used" in outcome.message
    # auth.db is untouched: still only the admin is an administrator.
    with sqlite3.connect(auth_db) as db:
        admins = db.execute("select username from users where is_admin").fetchall()
    assert admins == [("admin",)]


def test_a_data_root_never_holds_tusks_home(users: dict[str, Any], tmp_path: Path) -> None:
    """A misconfigured root that holds the home (/, or its parent) is dropped: SQL confined
    to the roots could otherwise read the secret key."""
    from tusk import files

    home = config.home()
    lake = tmp_path / "lake"
    lake.mkdir()
    config.set_value("data_roots", f"{home.parent},{lake}")
    shown = [r.path for r in files.roots()]
    assert home.parent.resolve() not in shown and lake.resolve() in shown
    conn = _analyst_session(users)
    try:
        with pytest.raises(TuskError):
            conn.execute(f"select * from read_blob('{home / 'secret.key'}')")
    finally:
        conn.close()


def test_a_signed_in_user_keeps_connection_files_in_the_data_roots(
    users: dict[str, Any], tmp_path: Path
) -> None:
    """On a shared Tusk a Data Engineer's new SQLite/DuckDB file lives in a data root (not in
    /etc, not someone's home); an admin (system.settings) decides otherwise."""
    outside = tmp_path / "elsewhere.sqlite"
    with pytest.raises(BadInput, match="outside the data roots"):
        connections.add(ConnectionSpec("x", "sqlite", path=str(outside)), actor=users["engineer"])
    inside = config.home() / "data" / "mine.sqlite"
    connections.add(ConnectionSpec("mine", "sqlite", path=str(inside)), actor=users["engineer"])
    connections.add(ConnectionSpec("adm", "sqlite", path=str(outside)), actor=users["admin"])


def test_a_confined_user_still_queries_sqlite_files_in_a_root(users: dict[str, Any]) -> None:
    """The Files panel's query for a SQLite file uses st_read for a confined user (the SQLite
    scanner is not there), and it reads the table."""
    from tusk import files

    root = files.roots()[0]
    with sqlite3.connect(root.path / "shop.sqlite") as db:
        db.execute("create table items (id integer primary key, name text)")
        db.execute("insert into items values (7, 'tea')")
    scan = files.scan_sql(root.name, "shop.sqlite", actor=users["analyst"])
    assert scan.startswith("st_read(")
    conn = _analyst_session(users)
    try:
        got = conn.execute(f"select id, name from {scan}").table.to_pylist()  # noqa: S608
    finally:
        conn.close()
    assert got == [{"id": 7, "name": "tea"}]
