"""Extensions on a real PostgreSQL (each test in its own fresh database): list, install into a
chosen schema, update, uninstall, CASCADE only with confirmation, hostile names, permissions
and the audit trail."""

from __future__ import annotations

import pytest
from psycopg import sql

from tests.admin.conftest import HOSTILE, UNICODE, server_connection
from tusk.admin import AdminConnection, extensions
from tusk.auth.audit import audit_log
from tusk.errors import BadInput, PermissionDenied, QueryFailed

pytestmark = pytest.mark.postgres


def _installed(db: str) -> dict[str, tuple[str, str]]:
    """Extensions in the database straight from pg_extension: name → (version, schema)."""
    with server_connection(db) as c:
        rows = c.execute(
            "select e.extname, e.extversion, n.nspname from pg_extension e "
            "join pg_namespace n on n.oid = e.extnamespace"
        ).fetchall()
    return {name: (version, schema) for name, version, schema in rows}


def test_list_shows_available_and_installed(conn: AdminConnection) -> None:
    """The list has the contrib extensions with versions and comments, installed ones first."""
    rows = extensions.extensions(conn)
    names = [r["name"] for r in rows]
    assert {"pg_trgm", "hstore", "pg_stat_statements"} <= set(names)
    assert rows[0]["name"] == "plpgsql" and rows[0]["installed_version"]  # every db has it
    trgm = extensions.get(conn, "pg_trgm")
    assert trgm is not None
    assert trgm["installed_version"] is None
    assert trgm["default_version"]
    assert "trigram" in trgm["comment"]
    assert extensions.get(conn, "no_such_extension") is None
    trgm_versions = [v["version"] for v in extensions.versions(conn, "pg_trgm")]
    assert trgm_versions[0] == "1.3" and trgm_versions[-1] == trgm["default_version"]
    (earth,) = [v for v in extensions.versions(conn, "earthdistance") if v["version"] == "1.1"]
    assert earth["requires"] == ["cube"]
    assert extensions.schemas(conn)[0] == "public"


def test_install_uninstall_round_trip(db: str, conn: AdminConnection) -> None:
    """pg_trgm and hstore install into the chosen schema and uninstall again."""
    with server_connection(db) as c:
        c.execute("create schema ext")
    assert "ext" in extensions.schemas(conn)

    change = extensions.install(conn, None, "pg_trgm", schema="ext")
    assert change.statement == 'CREATE EXTENSION "pg_trgm" SCHEMA "ext"'
    assert change.status == "CREATE EXTENSION"
    assert change.schema == "ext"
    assert change.version_after == extensions.get(conn, "pg_trgm")["default_version"]
    assert change.elapsed_s >= 0
    hstore = extensions.install(conn, None, "hstore")
    assert hstore.schema == "public"
    assert _installed(db)["pg_trgm"][1] == "ext"
    assert _installed(db)["hstore"][1] == "public"
    listed = extensions.get(conn, "pg_trgm")
    assert listed is not None and listed["schema"] == "ext"
    with server_connection(db) as c:  # the extension really works from its schema
        assert c.execute("select ext.similarity('tusk', 'tusks') > 0").fetchone() == (True,)

    with pytest.raises(QueryFailed, match="already exists"):
        extensions.install(conn, None, "pg_trgm")

    gone = extensions.uninstall(conn, None, "pg_trgm")
    assert (gone.version_before, gone.version_after, gone.schema) == (
        change.version_after,
        None,
        "ext",
    )
    extensions.uninstall(conn, None, "hstore")
    assert "pg_trgm" not in _installed(db) and "hstore" not in _installed(db)
    with pytest.raises(BadInput, match="not installed"):
        extensions.uninstall(conn, None, "hstore")


def test_install_old_version_then_update(db: str, conn: AdminConnection) -> None:
    """Install pg_trgm 1.3, update one step to 1.4, then to the default version."""
    extensions.install(conn, None, "pg_trgm", version="1.3")
    assert _installed(db)["pg_trgm"][0] == "1.3"
    row = extensions.get(conn, "pg_trgm")
    assert row is not None and row["update_available"]

    step = extensions.update(conn, None, "pg_trgm", "1.4")
    assert step.statement == "ALTER EXTENSION \"pg_trgm\" UPDATE TO '1.4'"
    assert (step.version_before, step.version_after) == ("1.3", "1.4")
    latest = extensions.update(conn, None, "pg_trgm")
    assert latest.version_after == row["default_version"]
    assert _installed(db)["pg_trgm"][0] == row["default_version"]
    again = extensions.get(conn, "pg_trgm")
    assert again is not None and not again["update_available"]

    with pytest.raises(QueryFailed):
        extensions.update(conn, None, "pg_trgm", "99.0")


def test_cascade_needs_confirmation(db: str, conn: AdminConnection) -> None:
    """hstore used by a column: a plain uninstall is refused by the server naming the column;
    CASCADE without (or with a wrong) typed name is refused by Tusk; with it, the column goes."""
    extensions.install(conn, None, "hstore")
    with server_connection(db) as c:
        c.execute("create table kv (id int, h hstore)")

    with pytest.raises(QueryFailed, match="column h of table kv depends on type hstore"):
        extensions.uninstall(conn, None, "hstore")
    with pytest.raises(BadInput, match="type the extension's name"):
        extensions.uninstall(conn, None, "hstore", cascade=True)
    with pytest.raises(BadInput):
        extensions.uninstall(conn, None, "hstore", cascade=True, confirm="HSTORE")
    assert "hstore" in _installed(db)

    change = extensions.uninstall(conn, None, "hstore", cascade=True, confirm="hstore")
    assert change.cascade
    assert change.statement == 'DROP EXTENSION "hstore" CASCADE'
    assert "hstore" not in _installed(db)
    with server_connection(db) as c:
        cols = c.execute(
            "select column_name from information_schema.columns where table_name = 'kv'"
        ).fetchall()
    assert cols == [("id",)]


@pytest.mark.parametrize("schema", [HOSTILE, UNICODE], ids=["hostile", "unicode"])
def test_hostile_schema(db: str, conn: AdminConnection, schema: str) -> None:
    """Install into a schema named `x"; DROP TABLE t; --` (or with emoji), update, uninstall."""
    with server_connection(db) as c:
        c.execute("create table t (id int)")
        c.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
    change = extensions.install(conn, None, "hstore", schema=schema, version="1.7")
    assert change.schema == schema
    assert _installed(db)["hstore"] == ("1.7", schema)
    assert extensions.update(conn, None, "hstore").version_after != "1.7"
    with server_connection(db) as c:
        c.execute(sql.SQL("create table {}.kv (h {}.hstore)").format(*[sql.Identifier(schema)] * 2))
    extensions.uninstall(conn, None, "hstore", cascade=True, confirm="hstore")
    assert "hstore" not in _installed(db)
    with server_connection(db) as c:
        assert c.execute("select count(*) from public.t").fetchone() == (0,)


def test_hostile_extension_name_is_only_a_name(db: str, conn: AdminConnection) -> None:
    """A hostile or unknown extension name is quoted: the server says it is not available."""
    with server_connection(db) as c:
        c.execute("create table t (id int)")
    for name in (HOSTILE, UNICODE):
        # the server checks the name itself ("--" is not allowed) or finds no such extension
        with pytest.raises(QueryFailed, match="invalid extension name|not available"):
            extensions.install(conn, None, name)
        with pytest.raises(BadInput):
            extensions.uninstall(conn, None, name)
    with pytest.raises(QueryFailed):
        extensions.install(conn, None, "hstore", version=HOSTILE)
    with pytest.raises(BadInput):
        extensions.install(conn, None, " ")
    with server_connection(db) as c:
        assert c.execute("select count(*) from public.t").fetchone() == (0,)
    assert "hstore" not in _installed(db)


def test_permissions_and_audit(db: str, conn: AdminConnection, users: dict) -> None:
    """Viewer, Analyst and Data Engineer cannot install, update or uninstall (the library
    refuses); an admin can, and each change is audited after it succeeded."""
    for who in ("viewer", "analyst", "engineer"):
        actor = users[who]
        with pytest.raises(PermissionDenied):
            extensions.install(conn, actor, "pg_trgm")
    assert "pg_trgm" not in _installed(db)

    admin = users["admin"]
    extensions.install(conn, admin, "pg_trgm", version="1.5")
    for who in ("viewer", "analyst", "engineer"):
        with pytest.raises(PermissionDenied):
            extensions.update(conn, users[who], "pg_trgm")
        with pytest.raises(PermissionDenied):
            extensions.uninstall(conn, users[who], "pg_trgm", cascade=True, confirm="pg_trgm")
    assert _installed(db)["pg_trgm"][0] == "1.5"

    extensions.update(conn, admin, "pg_trgm")
    extensions.uninstall(conn, admin, "pg_trgm")
    (installed,) = audit_log(action="extension.install")
    assert (installed.actor, installed.target) == ("admin", "pg_trgm")
    assert "1.5" in installed.detail and db in installed.detail
    (updated,) = audit_log(action="extension.update")
    assert "1.5 →" in updated.detail
    assert len(audit_log(action="extension.uninstall")) == 1

    with pytest.raises(QueryFailed):
        extensions.install(conn, admin, "no_such_extension")
    assert len(audit_log(action="extension.install")) == 1  # failures are not audited
