"""Roles on a real PostgreSQL: create/alter/grant/revoke/drop round trips checked in pg_roles
and pg_auth_members, logins with the password set, a drop refused while the role owns a table,
hostile and unicode names through every action, permissions and the audit trail."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from tests.admin.conftest import HOSTILE, SERVER, UNICODE, server_connection
from tusk.admin import AdminConnection, roles
from tusk.auth.audit import audit_log
from tusk.errors import BadInput, PermissionDenied, QueryFailed

pytestmark = pytest.mark.postgres


@pytest.fixture
def role_name(db: str) -> Iterator[Callable[[str], str]]:
    """Unique role names on demand; every one is dropped afterwards (with what it owns in the
    test database), pass or fail. Depends on `db` so it is torn down before the database."""
    made: list[str] = []

    def make(base: str = "r_role") -> str:
        name = f"{base} {uuid.uuid4().hex[:8]}"
        made.append(name)
        return name

    yield make
    with server_connection(db) as c:
        for name in made:
            if c.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone():
                c.execute(sql.SQL("drop owned by {}").format(sql.Identifier(name)))
                c.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))


def _pg_role(name: str) -> dict[str, object] | None:
    """The role straight from pg_roles."""
    with server_connection() as c:
        cur = c.execute(
            "select rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, "
            "rolbypassrls, rolconnlimit, rolvaliduntil::text as valid_until "
            "from pg_roles where rolname = %s",
            (name,),
        )
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d.name for d in cur.description], row, strict=True))


def _members_of(group: str) -> set[str]:
    """Members of `group` straight from pg_auth_members."""
    with server_connection() as c:
        rows = c.execute(
            "select u.rolname from pg_auth_members m join pg_roles g on g.oid = m.roleid "
            "join pg_roles u on u.oid = m.member where g.rolname = %s",
            (group,),
        ).fetchall()
    return {r[0] for r in rows}


def _login(user: str, password: str, db: str) -> str:
    """Connect as `user` with `password`; the server's current_user."""
    params = {**SERVER, "user": user, "password": password}
    with psycopg.connect(**params, dbname=db, connect_timeout=5) as c:
        row = c.execute("select current_user").fetchone()
    assert row is not None
    return str(row[0])


def test_round_trip(conn: AdminConnection, db: str, role_name: Callable[[str], str]) -> None:
    """Create with login, password, limit, expiry and a group; alter; grant; revoke; drop."""
    group, name, other = role_name("r_group"), role_name("r_user"), role_name("r_other")
    roles.create_role(conn, None, group)
    until = datetime(2031, 2, 3, 4, 5, tzinfo=UTC)
    role = roles.create_role(
        conn,
        None,
        name,
        login=True,
        createdb=True,
        connection_limit=3,
        valid_until=until,
        password="first secret",
        member_of=[group],
    )
    assert role.name == name and role.login and role.createdb and not role.superuser
    assert role.connection_limit == 3
    assert role.valid_until == until
    assert role.member_of == (group,)
    pg = _pg_role(name)
    assert pg is not None
    assert {k: v for k, v in pg.items() if k != "valid_until"} == {
        "rolcanlogin": True,
        "rolsuper": False,
        "rolcreatedb": True,
        "rolcreaterole": False,
        "rolreplication": False,
        "rolbypassrls": False,
        "rolconnlimit": 3,
    }
    with server_connection() as c:
        assert c.execute(
            "select rolvaliduntil = %s from pg_roles where rolname = %s", (until, name)
        ).fetchone() == (True,)
    assert _members_of(group) == {name}
    assert _login(name, "first secret", db) == name
    listed = {r.name: r for r in roles.list_roles(conn)}
    assert listed[group].members == (name,)

    role = roles.alter_role(
        conn,
        None,
        name,
        createdb=False,
        createrole=True,
        connection_limit=-1,
        valid_until=None,
        password="second secret",
    )
    assert (role.createdb, role.createrole, role.connection_limit) == (False, True, -1)
    assert role.valid_until is None and not role.expired
    pg = _pg_role(name)
    assert pg is not None
    assert (pg["rolcreatedb"], pg["rolcreaterole"], pg["rolconnlimit"]) == (False, True, -1)
    assert pg["valid_until"] == "infinity"
    assert _login(name, "second secret", db) == name
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        _login(name, "first secret", db)

    roles.create_role(conn, None, other)
    roles.grant_membership(conn, None, group, other, admin_option=True)
    assert _members_of(group) == {name, other}
    roles.revoke_membership(conn, None, group, name)
    assert _members_of(group) == {other}
    with pytest.raises(BadInput, match="not a member"):
        roles.revoke_membership(conn, None, group, name)

    roles.alter_role(conn, None, name, password=None)  # no password: logins refused
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        _login(name, "second secret", db)

    roles.drop_role(conn, None, name)
    assert _pg_role(name) is None
    assert roles.get_role(conn, name) is None
    assert _members_of(group) == {other}


def test_password_never_reaches_the_server_in_clear(
    conn: AdminConnection, db: str, role_name: Callable[[str], str], users: dict
) -> None:
    """Only the SCRAM verifier is sent: pg_stat_statements and the audit log hold no password."""
    with server_connection(db) as c:
        c.execute("create extension if not exists pg_stat_statements")
    name = role_name("r_pw")
    secret = f"pw-{uuid.uuid4().hex}"
    admin = users["admin"]
    roles.create_role(conn, admin, name, login=True, password=secret)
    roles.alter_role(conn, admin, name, password=secret + "2")
    assert _login(name, secret + "2", db) == name
    with server_connection(db) as c:
        stored = c.execute("select rolpassword from pg_authid where rolname = %s", (name,))
        assert str(stored.fetchone()[0]).startswith("SCRAM-SHA-256$")  # type: ignore[index]
        seen = c.execute(
            "select count(*) from pg_stat_statements where query like %s", (f"%{secret}%",)
        ).fetchone()
        verifiers = c.execute(
            "select count(*) from pg_stat_statements where query like %s",
            (f"%{name}%SCRAM-SHA-256$%",),
        ).fetchone()
    assert seen == (0,)
    assert verifiers is not None and verifiers[0] >= 1  # the statements were tracked at all
    entries = [e for e in audit_log() if e.action.startswith("admin.role.")]
    assert [e.action for e in entries] == ["admin.role.alter", "admin.role.create"]
    assert all(e.target == name and e.actor == "admin" for e in entries)
    assert "password set" in entries[0].detail and "login" in entries[1].detail
    assert not any(secret in f"{e.target} {e.detail}" for e in entries)


def test_unicode_password_logs_in(
    conn: AdminConnection, db: str, role_name: Callable[[str], str]
) -> None:
    """A non-ASCII password (SASLprep'd by libpq, as the server expects) works for a login."""
    name = role_name("r_uni_pw")
    roles.create_role(conn, None, name, login=True, password="pässwörd 🐘")
    assert _login(name, "pässwörd 🐘", db) == name


def test_drop_of_an_owner_is_refused_with_the_servers_message(
    conn: AdminConnection, db: str, role_name: Callable[[str], str]
) -> None:
    """A role that owns a table stays, the table stays, the message says why and what to do."""
    name = role_name("r_owner")
    roles.create_role(conn, None, name)
    with server_connection(db) as c:
        c.execute("create table owned_t (i int)")
        c.execute(sql.SQL("alter table owned_t owner to {}").format(sql.Identifier(name)))
    with pytest.raises(QueryFailed) as caught:
        roles.drop_role(conn, None, name)
    assert caught.value.title == "Role not dropped"
    assert f'role "{name}" cannot be dropped because some objects depend on it' in (
        caught.value.message
    )
    assert "owner of table owned_t" in caught.value.message
    assert "REASSIGN OWNED" in caught.value.message
    assert _pg_role(name) is not None
    with server_connection(db) as c:
        owner = c.execute("select tableowner from pg_tables where tablename = 'owned_t'").fetchone()
    assert owner == (name,)


@pytest.mark.parametrize("base", [HOSTILE, UNICODE], ids=["hostile", "unicode"])
def test_hostile_and_unicode_names_through_every_action(
    conn: AdminConnection, db: str, role_name: Callable[[str], str], base: str
) -> None:
    """Names with quotes, semicolons, comments, umlauts, emoji and Cyrillic are names only."""
    with server_connection(db) as c:
        c.execute("create table t (i int)")  # what an injected DROP TABLE t would hit
    group, name = role_name(base + " group"), role_name(base)
    roles.create_role(conn, None, group)
    roles.create_role(
        conn, None, name, login=True, password="pw " + base, connection_limit=2, member_of=[group]
    )
    assert _login(name, "pw " + base, db) == name
    roles.alter_role(conn, None, name, createdb=True, connection_limit=4)
    pg = _pg_role(name)
    assert pg is not None and pg["rolcreatedb"] is True and pg["rolconnlimit"] == 4
    roles.revoke_membership(conn, None, group, name)
    assert _members_of(group) == set()
    roles.grant_membership(conn, None, group, name)
    assert _members_of(group) == {name}
    assert roles.get_role(conn, group).members == (name,)  # type: ignore[union-attr]
    roles.drop_role(conn, None, name)
    roles.drop_role(conn, None, group)
    assert _pg_role(name) is None and _pg_role(group) is None
    with server_connection(db) as c:
        assert c.execute("select count(*) from t").fetchone() == (0,)


@pytest.mark.parametrize("who", ["viewer", "analyst", "engineer"])
def test_only_maintenance_may_change_roles(
    conn: AdminConnection, role_name: Callable[[str], str], users: dict, who: str
) -> None:
    """Viewers, Analysts and Data Engineers (admin.view only) cannot change roles; nothing
    changes and nothing is audited. An administrator can."""
    actor = users[who]
    existing, group, fresh = role_name("r_perm"), role_name("r_perm_g"), role_name("x")
    roles.create_role(conn, users["admin"], existing)
    roles.create_role(conn, users["admin"], group)
    before = len(audit_log())
    with pytest.raises(PermissionDenied, match="admin.maintenance"):
        roles.create_role(conn, actor, fresh)
    with pytest.raises(PermissionDenied):
        roles.alter_role(conn, actor, existing, superuser=True)
    with pytest.raises(PermissionDenied):
        roles.grant_membership(conn, actor, group, existing)
    with pytest.raises(PermissionDenied):
        roles.revoke_membership(conn, actor, group, existing)
    with pytest.raises(PermissionDenied):
        roles.drop_role(conn, actor, existing)
    assert _pg_role(fresh) is None
    assert _pg_role(existing) == {
        "rolcanlogin": False,
        "rolsuper": False,
        "rolcreatedb": False,
        "rolcreaterole": False,
        "rolreplication": False,
        "rolbypassrls": False,
        "rolconnlimit": -1,
        "valid_until": None,
    }
    assert _members_of(group) == set()
    assert len(audit_log()) == before
    roles.grant_membership(conn, users["admin"], group, existing)
    assert audit_log(limit=1)[0].action == "admin.role.grant"


def test_signed_out_actor_is_refused_in_multi_user_mode(
    conn: AdminConnection, role_name: Callable[[str], str], users: dict
) -> None:
    """No user at all (multi-user mode) cannot create roles."""
    with pytest.raises(PermissionDenied, match="Sign in"):
        roles.create_role(conn, None, role_name("r_anon"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": ""}, "needs a name"),
        ({"name": "é" * 32}, "at most 63 bytes"),
        ({"password": ""}, "empty password"),
        ({"connection_limit": -2}, "connection limit"),
        ({"connection_limit": "5"}, "connection limit"),
        ({"valid_until": datetime(2031, 1, 1)}, "time zone"),
        ({"member_of": [""]}, "needs a name"),
    ],
)
def test_bad_input_is_refused_before_the_server(
    conn: AdminConnection, role_name: Callable[[str], str], kwargs: dict, match: str
) -> None:
    """Empty or too long names, empty passwords, bad limits and naive times are BadInput."""
    args = {"name": role_name("r_bad"), **kwargs}
    name = args.pop("name")
    with pytest.raises(BadInput, match=match):
        roles.create_role(conn, None, name, **args)
    assert name == "" or _pg_role(name) is None


def test_alter_with_nothing_to_change_and_unknown_roles(
    conn: AdminConnection, role_name: Callable[[str], str]
) -> None:
    """Nothing to change is BadInput; unknown roles fail with the server's words."""
    name = role_name("r_nothing")
    roles.create_role(conn, None, name)
    with pytest.raises(BadInput, match="Nothing to change"):
        roles.alter_role(conn, None, name)
    missing = role_name("r_missing")
    with pytest.raises(QueryFailed, match="does not exist"):
        roles.alter_role(conn, None, missing, login=True)
    with pytest.raises(QueryFailed, match="does not exist") as caught:
        roles.drop_role(conn, None, missing)
    assert caught.value.title == "Role not dropped"
    with pytest.raises(QueryFailed, match="does not exist"):
        roles.grant_membership(conn, None, missing, name)


def test_list_flags_expired_and_hides_system_roles(
    conn: AdminConnection, role_name: Callable[[str], str]
) -> None:
    """pg_* roles only on request; a past expiry reads as expired, 'infinity' as never."""
    past, forever = role_name("r_past"), role_name("r_forever")
    roles.create_role(conn, None, past, valid_until=datetime.now(UTC) - timedelta(days=1))
    roles.create_role(conn, None, forever)
    roles.alter_role(conn, None, forever, valid_until=None)  # stored as 'infinity'
    ours = {r.name: r for r in roles.list_roles(conn, include_system=False)}
    assert not any(n.startswith("pg_") for n in ours)
    assert ours[past].expired and ours[past].valid_until is not None
    assert not ours[forever].expired and ours[forever].valid_until is None
    everyone = roles.list_roles(conn)
    assert "pg_monitor" in [r.name for r in everyone]
    assert next(r for r in everyone if r.name == "pg_monitor").system
    assert "pg_monitor" not in roles.names(everyone)
