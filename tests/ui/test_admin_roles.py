"""Admin → Roles driven with AppTest on a real PostgreSQL: the table, create, change, grant,
revoke and drop (typing the name) with hostile and unicode names; a drop refused while the
role owns a table; a Data Engineer sees roles but cannot change them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql
from streamlit.testing.v1 import AppTest

from tests.admin.conftest import HOSTILE, SERVER, UNICODE, server_connection
from tests.conftest import pg_spec
from tests.ui.conftest import admin_tab, open_admin
from tusk import connections
from tusk.ui.admin import roles as admin_roles
from tusk.ui.admin.page import TAB_KEY

pytestmark = pytest.mark.postgres


@pytest.fixture
def role_name(pg_database: str) -> Iterator[Callable[[str], str]]:
    """Unique role names; all dropped afterwards with what they own, pass or fail."""
    made: list[str] = []

    def make(base: str = "r_ui") -> str:
        name = f"{base} {uuid.uuid4().hex[:8]}"
        made.append(name)
        return name

    yield make
    with server_connection(pg_database) as c:
        for name in made:
            if c.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone():
                c.execute(sql.SQL("drop owned by {}").format(sql.Identifier(name)))
                c.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))


def _roles_tab(pg_database: str) -> AppTest:
    """The Admin page on the Roles tab, on a saved connection to the test database."""
    connections.add(pg_spec(pg_database))
    return open_admin("tusk.ui.admin.roles")


def _pg(name: str) -> tuple | None:
    """(login, createdb, connection limit, expires) straight from pg_roles."""
    with server_connection() as c:
        return c.execute(
            "select rolcanlogin, rolcreatedb, rolconnlimit, rolvaliduntil is not null "
            "from pg_roles where rolname = %s",
            (name,),
        ).fetchone()


def _members(group: str) -> set[str]:
    with server_connection() as c:
        rows = c.execute(
            "select u.rolname from pg_auth_members m join pg_roles g on g.oid = m.roleid "
            "join pg_roles u on u.oid = m.member where g.rolname = %s",
            (group,),
        ).fetchall()
    return {r[0] for r in rows}


def _listed(at: AppTest) -> dict[str, dict]:
    """The roles table's rows by role name."""
    return {row["Role"]: row for row in at.dataframe[0].value.to_dict("records")}


def _toasts(at: AppTest) -> list[str]:
    return [t.value for t in at.toast]


def _drop(at: AppTest, name: str) -> AppTest:
    """Pick the role, ask to drop it, type its name in the dialog and confirm."""
    at.selectbox(key="admin_roles_drop_role").set_value(name)
    at.button(key="admin_roles_drop").click().run()
    assert at.code[0].value == name  # the dialog names the role exactly as it is typed
    assert at.button(key="admin_roles_drop_confirm_button").disabled  # nothing typed yet
    at.text_input(key="admin_roles_drop_confirm").set_value(name[:-1]).run()
    assert at.button(key="admin_roles_drop_confirm_button").disabled  # almost is not enough
    at.text_input(key="admin_roles_drop_confirm").set_value(name).run()
    assert not at.button(key="admin_roles_drop_confirm_button").disabled
    return at.button(key="admin_roles_drop_confirm_button").click().run()


@pytest.mark.parametrize("base", [HOSTILE, UNICODE], ids=["hostile", "unicode"])
def test_every_action_from_the_page(
    pg_database: str, role_name: Callable[[str], str], base: str
) -> None:
    """Create (with password and limit), change, grant, revoke and drop a role from the page;
    each step checked in pg_roles / pg_auth_members and by a real login."""
    group = role_name(base + " g")
    name = role_name(base)
    with server_connection() as c:
        c.execute(sql.SQL("create role {}").format(sql.Identifier(group)))
    at = _roles_tab(pg_database)

    at.text_input(key="admin_roles_create_name").set_value(name)
    at.text_input(key="admin_roles_create_password").set_value("pw " + base)
    at.number_input(key="admin_roles_create_limit").set_value(5)
    at.button(key="admin_roles_create_submit").click().run()
    assert not at.error, at.error[0].value
    assert _toasts(at) == [f"Role {admin_roles.literal(name)} created."]
    assert _pg(name) == (True, False, 5, False)
    assert _listed(at)[name]["Login"] and _listed(at)[name]["Connection limit"] == "5"
    assert at.text_input(key="admin_roles_create_name").value == ""  # form cleared
    assert at.text_input(key="admin_roles_create_password").value == ""
    params = {**SERVER, "user": name, "password": "pw " + base}
    with psycopg.connect(**params, dbname=pg_database, connect_timeout=5) as login:
        assert login.execute("select current_user").fetchone() == (name,)

    at.selectbox(key="admin_roles_alter_role").set_value(name).run()
    assert at.number_input(key="admin_roles_alter_limit").value == 5  # loaded from the server
    assert at.checkbox(key="admin_roles_alter_login").value is True
    at.checkbox(key="admin_roles_alter_createdb").check()
    at.number_input(key="admin_roles_alter_limit").set_value(-1)
    at.checkbox(key="admin_roles_alter_expires").check()
    at.button(key="admin_roles_alter_submit").click().run()
    assert not at.error, at.error[0].value
    assert _toasts(at) == [f"Role {admin_roles.literal(name)} changed."]
    assert _pg(name) == (True, True, -1, True)
    assert _listed(at)[name]["Connection limit"] == "no limit"

    at.selectbox(key="admin_roles_member_role").set_value(group)
    at.selectbox(key="admin_roles_member_member").set_value(name)
    at.button(key="admin_roles_grant").click().run()
    assert _members(group) == {name}
    assert list(_listed(at)[name]["Member of"]) == [group]
    at.button(key="admin_roles_revoke").click().run()
    assert _members(group) == set()
    assert not at.error

    _drop(at, name)
    assert not at.error, at.error[0].value
    assert _toasts(at) == [f"Role {admin_roles.literal(name)} dropped."]
    assert _pg(name) is None
    assert name not in _listed(at)
    with pytest.raises(KeyError):
        at.button(key="admin_roles_drop_confirm_button")  # the dialog closed


def test_drop_of_an_owner_shows_the_servers_message(
    pg_database: str, role_name: Callable[[str], str]
) -> None:
    """The drop is refused, the server's reason is shown, the role and its table stay."""
    name = role_name("r_owner")
    table = f"owned_{uuid.uuid4().hex[:8]}"
    with server_connection(pg_database) as c:
        c.execute(sql.SQL("create role {}").format(sql.Identifier(name)))
        c.execute(sql.SQL("create table {} (i int)").format(sql.Identifier(table)))
        c.execute(
            sql.SQL("alter table {} owner to {}").format(
                sql.Identifier(table), sql.Identifier(name)
            )
        )
    at = _drop(_roles_tab(pg_database), name)
    assert len(at.error) == 1
    message = at.error[0].value.replace("\\", "")  # the message is Markdown-escaped
    assert "Role not dropped" in message
    assert "cannot be dropped because some objects depend on it" in message
    assert f"owner of table {table}" in message
    assert _pg(name) is not None
    assert name in _listed(at)
    with server_connection(pg_database) as c:
        assert c.execute("select to_regclass(%s) is not null", (table,)).fetchone() == (True,)


def test_create_failure_keeps_the_form(pg_database: str, role_name: Callable[[str], str]) -> None:
    """A role that already exists: the server's message, and the name stays in the form."""
    name = role_name("r_dup")
    with server_connection() as c:
        c.execute(sql.SQL("create role {}").format(sql.Identifier(name)))
    at = _roles_tab(pg_database)
    at.text_input(key="admin_roles_create_name").set_value(name)
    at.checkbox(key="admin_roles_create_createdb").check()
    at.button(key="admin_roles_create_submit").click().run()
    assert "Role not created" in at.error[0].value
    assert "already exists" in at.error[0].value
    assert at.text_input(key="admin_roles_create_name").value == name
    assert at.checkbox(key="admin_roles_create_createdb").value is True
    assert _pg(name) == (False, False, -1, False)  # the existing role untouched


def test_engineer_sees_roles_but_cannot_change_them(
    pg_database: str, multi_user: Callable[..., None]
) -> None:
    """admin.view shows the table; without admin.maintenance no form is offered."""
    connections.add(pg_spec(pg_database))  # saved while still in single-user mode
    multi_user({"eng": "Data Engineers"})
    at = open_admin("tusk.ui.admin.roles", user="eng")
    assert "postgres" in _listed(at)
    assert any("admin.maintenance" in c.value for c in at.caption)
    for key in ("admin_roles_create_name", "admin_roles_drop_confirm"):
        with pytest.raises(KeyError):
            at.text_input(key=key)
    with pytest.raises(KeyError):
        at.button(key="admin_roles_drop")


def test_change_form_is_filled_again_after_another_tab(
    pg_database: str, role_name: Callable[[str], str]
) -> None:
    """Streamlit forgets a hidden tab's widgets: coming back, the form shows the role again."""
    name = role_name("r_back")
    with server_connection() as c:
        c.execute(sql.SQL("create role {} connection limit 9").format(sql.Identifier(name)))
    at = _roles_tab(pg_database)
    at.selectbox(key="admin_roles_alter_role").set_value(name).run()
    assert at.number_input(key="admin_roles_alter_limit").value == 9
    at.session_state[TAB_KEY] = admin_tab("tusk.ui.admin.settings")
    at.run()
    at.session_state[TAB_KEY] = admin_tab("tusk.ui.admin.roles")
    at.run()
    assert at.selectbox(key="admin_roles_alter_role").value == name
    assert at.number_input(key="admin_roles_alter_limit").value == 9


def test_cancel_in_the_drop_dialog_keeps_the_role(
    pg_database: str, role_name: Callable[[str], str]
) -> None:
    """Cancel closes the dialog and drops nothing."""
    name = role_name("r_keep")
    with server_connection() as c:
        c.execute(sql.SQL("create role {}").format(sql.Identifier(name)))
    at = _roles_tab(pg_database)
    at.selectbox(key="admin_roles_drop_role").set_value(name)
    at.button(key="admin_roles_drop").click().run()
    at.text_input(key="admin_roles_drop_confirm").set_value(name).run()
    at.button(key="admin_roles_drop_cancel").click().run()
    with pytest.raises(KeyError):
        at.button(key="admin_roles_drop_confirm_button")
    assert _pg(name) is not None
    assert not at.toast and not at.error
