"""Admin → Extensions driven with AppTest on a fresh PostgreSQL database: install into a chosen
(hostile) schema, install with requirements, update, uninstall through the dialog with CASCADE
only after typing the name, and who may see the tab."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from psycopg import sql

from tests.admin.conftest import HOSTILE, UNICODE, server_connection
from tests.conftest import pg_spec
from tests.ui.conftest import open_admin
from tusk import admin
from tusk.admin import extensions
from tusk.auth.audit import audit_log

pytestmark = pytest.mark.postgres


def _installed(db: str) -> dict[str, tuple[str, str]]:
    """name → (version, schema), straight from pg_extension."""
    with server_connection(db) as c:
        rows = c.execute(
            "select e.extname, e.extversion, n.nspname from pg_extension e "
            "join pg_namespace n on n.oid = e.extnamespace"
        ).fetchall()
    return {name: (version, schema) for name, version, schema in rows}


@pytest.mark.parametrize("schema", [HOSTILE, UNICODE], ids=["hostile", "unicode"])
def test_install_into_chosen_schema(saved: str, schema: str) -> None:
    """Search finds pg_trgm; picking it and a schema named `x"; DROP TABLE t; --` (or with
    emoji) installs it there; the list and the message say so; table t survives."""
    db = saved
    with server_connection(db) as c:
        c.execute("create table t (id int)")
        c.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
    at = open_admin("tusk.ui.admin.extensions")
    at.text_input(key="admin_ext_search").set_value("trigram").run()
    assert list(at.dataframe[0].value["name"]) == ["pg_trgm"]

    at.selectbox(key="admin_ext_pick").set_value("pg_trgm").run()
    assert schema in at.selectbox(key="admin_ext_schema").options
    at.selectbox(key="admin_ext_schema").set_value(schema)
    at.button(key="admin_ext_install").click().run()
    assert not at.exception
    assert not at.error
    version, where = _installed(db)["pg_trgm"]
    assert where == schema
    assert "Installed pg\\_trgm" in at.success[0].value
    frame = at.dataframe[0].value
    row = frame[frame["name"] == "pg_trgm"].iloc[0]
    assert (row["installed_version"], row["schema"]) == (version, schema)
    with server_connection(db) as c:
        assert c.execute("select count(*) from public.t").fetchone() == (0,)


def test_install_with_requirements(saved: str) -> None:
    """earthdistance requires cube: the page offers CASCADE (ticked) and installs both."""
    db = saved
    at = open_admin("tusk.ui.admin.extensions")
    at.selectbox(key="admin_ext_pick").set_value("earthdistance").run()
    assert at.checkbox(key="admin_ext_install_cascade").value
    at.button(key="admin_ext_install").click().run()
    assert not at.error
    assert {"cube", "earthdistance"} <= set(_installed(db))


def test_install_old_version_and_update(saved: str) -> None:
    """Install hstore 1.4 from the version picker, update it to the default version, then
    uninstall it (nothing uses it, so no CASCADE is needed)."""
    db = saved
    at = open_admin("tusk.ui.admin.extensions")
    at.selectbox(key="admin_ext_pick").set_value("pg_trgm").run()
    at.selectbox(key="admin_ext_version").set_value("1.5").run()
    at.selectbox(key="admin_ext_pick").set_value("hstore").run()
    # hstore has a 1.5 too; picking it starts at its own default, not at pg_trgm's choice
    assert at.selectbox(key="admin_ext_version").value not in (None, "1.5")
    at.selectbox(key="admin_ext_version").set_value("1.4")
    at.button(key="admin_ext_install").click().run()
    assert _installed(db)["hstore"][0] == "1.4"

    default = at.selectbox(key="admin_ext_update_version").value
    assert default != "1.4"
    at.button(key="admin_ext_update").click().run()
    assert not at.error
    assert _installed(db)["hstore"][0] == default
    assert f"from 1.4 to {default}".replace(".", "\\.") in at.success[0].value
    assert at.button(key="admin_ext_update").disabled  # already there

    at.button(key="admin_ext_uninstall").click().run()
    at.button(key="admin_ext_uninstall_go").click().run()  # nothing uses it: no CASCADE needed
    assert not at.error
    assert "hstore" not in _installed(db)
    assert "Uninstalled hstore \\(" in at.success[0].value


def test_uninstall_dialog_cascade_needs_the_name(saved: str) -> None:
    """hstore used by a column: Uninstall is refused by the server, naming the column; CASCADE
    with a wrong name does nothing; with the name typed, hstore and the column are gone."""
    db = saved
    conn = admin.connect(pg_spec(db))
    try:
        extensions.install(conn, None, "hstore")
    finally:
        conn.close()
    with server_connection(db) as c:
        c.execute("create table kv (id int, h hstore)")
    at = open_admin("tusk.ui.admin.extensions")
    at.selectbox(key="admin_ext_pick").set_value("hstore").run()

    at.button(key="admin_ext_uninstall").click().run()
    assert any("Uninstall **hstore**" in m.value for m in at.markdown)
    at.button(key="admin_ext_uninstall_keep").click().run()
    assert "admin_ext_uninstall_for" not in at.session_state
    assert "hstore" in _installed(db)

    at.button(key="admin_ext_uninstall").click().run()
    at.button(key="admin_ext_uninstall_go").click().run()
    assert not at.exception
    assert any("column h of table kv depends on type hstore" in e.value for e in at.error)
    assert "hstore" in _installed(db)

    at.checkbox(key="admin_ext_cascade").check().run()
    at.text_input(key="admin_ext_confirm").set_value("HSTORE").run()
    assert at.button(key="admin_ext_uninstall_go").disabled  # the library refuses it too
    assert "hstore" in _installed(db)

    at.text_input(key="admin_ext_confirm").set_value("hstore").run()
    assert not at.button(key="admin_ext_uninstall_go").disabled
    at.button(key="admin_ext_uninstall_go").click().run()
    assert not at.exception
    assert "hstore" not in _installed(db)
    assert "Uninstalled hstore with CASCADE" in at.success[0].value
    with server_connection(db) as c:
        cols = c.execute(
            "select column_name from information_schema.columns where table_name = 'kv'"
        ).fetchall()
    assert cols == [("id",)]


def test_who_may_use_the_tab(saved: str, multi_user: Callable[..., None]) -> None:
    """Without admin.extensions (a Data Engineer, or a maintainer) the tab is a permission
    note; an administrator installs, and the install is audited."""
    db = saved
    multi_user(
        {"ed": "Data Engineers", "max": "Maintainers", "ada": "Administrators"},
        groups={"Maintainers": ["admin.view", "admin.maintenance"]},
    )
    for name in ("ed", "max"):
        at = open_admin("tusk.ui.admin.extensions", user=name)
        assert any("admin.extensions" in i.value for i in at.info)
        assert not any(b.key == "admin_ext_install" for b in at.button)
        assert not at.dataframe

    at = open_admin("tusk.ui.admin.extensions", user="ada")
    at.selectbox(key="admin_ext_pick").set_value("pg_trgm").run()
    at.button(key="admin_ext_install").click().run()
    assert "pg_trgm" in _installed(db)
    (entry,) = audit_log(action="extension.install")
    assert (entry.actor, entry.target) == ("ada", "pg_trgm")
