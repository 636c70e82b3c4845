"""PostgreSQL roles: list them with their attributes and memberships; create, alter, drop them;
grant and revoke membership.

Roles are cluster-wide: the connection's database does not matter for anything here.

Permissions: viewing is the Admin page's `admin.view`. Changing roles uses
`admin.maintenance` — none of Tusk's 24 permissions is about server roles, and maintenance is
the one that already means "may change the server's state", held only by Administrators by
default.

Passwords never travel in clear: libpq computes the SCRAM-SHA-256 verifier on this side (as
psql's \\password does) and only the verifier is sent, so a server that logs DDL logs no
password. Passwords never appear in messages or in the audit log.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from psycopg import sql as pgsql

from tusk import auth
from tusk.admin import AdminConnection, audit, identifier
from tusk.engines.base import check_encodable
from tusk.errors import BadInput, QueryFailed

if TYPE_CHECKING:
    from tusk.auth.schema import User

PERMISSION = "admin.maintenance"
NAME_MAX_BYTES = 63  # NAMEDATALEN - 1: longer names would be truncated by the server, silently
PASSWORD_ALGORITHM = b"scram-sha-256"


class _Keep(enum.Enum):
    KEEP = "keep"


KEEP: Final = _Keep.KEEP
"""Default of every `alter_role` option: leave that attribute as it is."""

# One query for the whole list: memberships come as arrays, not one query per role.
# 'infinity' (and '-infinity') cannot become a Python datetime: never-expiring roles read as
# NULL, and `expired` carries the rest.
ROLES_SQL = """
select
    r.oid,
    r.rolname as name,
    r.rolcanlogin as login,
    r.rolsuper as superuser,
    r.rolinherit as inherit,
    r.rolcreatedb as createdb,
    r.rolcreaterole as createrole,
    r.rolreplication as replication,
    r.rolbypassrls as bypassrls,
    r.rolconnlimit as connection_limit,
    case when isfinite(r.rolvaliduntil) then r.rolvaliduntil end as valid_until,
    coalesce(r.rolvaliduntil < now(), false) as expired,
    array(
        select g.rolname from pg_auth_members m join pg_roles g on g.oid = m.roleid
        where m.member = r.oid order by g.rolname
    ) as member_of,
    array(
        select u.rolname from pg_auth_members m join pg_roles u on u.oid = m.member
        where m.roleid = r.oid order by u.rolname
    ) as members,
    shobj_description(r.oid, 'pg_authid') as comment
from pg_roles r
where (%(system)s or r.rolname !~ '^pg_')
  and (%(name)s::text is null or r.rolname = %(name)s::text)
order by r.rolname
"""


@dataclass(frozen=True)
class Role:
    """One role as pg_roles shows it, with its memberships."""

    oid: int
    name: str
    login: bool
    superuser: bool
    inherit: bool
    createdb: bool
    createrole: bool
    replication: bool
    bypassrls: bool
    connection_limit: int  # -1: no limit
    valid_until: datetime | None  # None: never expires
    expired: bool
    member_of: tuple[str, ...]
    members: tuple[str, ...]
    comment: str | None

    @property
    def system(self) -> bool:
        """True for PostgreSQL's predefined roles (pg_monitor, pg_read_all_data, ...)."""
        return self.name.startswith("pg_")


def _role(row: dict[str, Any]) -> Role:
    return Role(
        oid=int(row["oid"]),
        name=row["name"],
        login=row["login"],
        superuser=row["superuser"],
        inherit=row["inherit"],
        createdb=row["createdb"],
        createrole=row["createrole"],
        replication=row["replication"],
        bypassrls=row["bypassrls"],
        connection_limit=int(row["connection_limit"]),
        valid_until=row["valid_until"],
        expired=bool(row["expired"]),
        member_of=tuple(row["member_of"] or ()),
        members=tuple(row["members"] or ()),
        comment=row["comment"],
    )


def list_roles(conn: AdminConnection, *, include_system: bool = True) -> list[Role]:
    """Every role by name; `include_system=False` hides the predefined pg_* roles."""
    return [_role(r) for r in conn.rows(ROLES_SQL, {"system": include_system, "name": None})]


def get_role(conn: AdminConnection, name: str) -> Role | None:
    """The role called `name`, or None."""
    row = conn.one(ROLES_SQL, {"system": True, "name": name})
    return None if row is None else _role(row)


# Keywords for each boolean attribute: (when true, when false). Fixed text, never user input.
_FLAGS: dict[str, tuple[str, str]] = {
    "login": ("LOGIN", "NOLOGIN"),
    "superuser": ("SUPERUSER", "NOSUPERUSER"),
    "createdb": ("CREATEDB", "NOCREATEDB"),
    "createrole": ("CREATEROLE", "NOCREATEROLE"),
    "replication": ("REPLICATION", "NOREPLICATION"),
    "bypassrls": ("BYPASSRLS", "NOBYPASSRLS"),
}

# Role options cannot be bind parameters (utility statements take none), so values are
# composed client-side as literals: a checked int, an ISO timestamp, a SCRAM verifier.
CREATE_ROLE_SQL = "create role {name} with {options}"
ALTER_ROLE_SQL = "alter role {name} with {options}"
CONNECTION_LIMIT_SQL = "connection limit {limit}"
VALID_UNTIL_SQL = "valid until {timestamp}"
PASSWORD_SQL = "password {verifier}"
NO_PASSWORD_SQL = "password null"
GRANT_SQL = "grant {role} to {member}"
GRANT_ADMIN_SQL = "grant {role} to {member} with admin option"
REVOKE_SQL = "revoke {role} from {member}"
# Revoking a membership that does not exist is only a WARNING on the server: ask first.
IS_MEMBER_SQL = """
select exists (
    select from pg_auth_members m
    join pg_roles g on g.oid = m.roleid
    join pg_roles u on u.oid = m.member
    where g.rolname = %s and u.rolname = %s
) as member
"""
DROP_ROLE_SQL = "drop role {name}"


def role_name(name: object) -> str:
    """A role name from user input (BadInput when empty or too long for PostgreSQL)."""
    if not isinstance(name, str) or not name:
        raise BadInput("A role needs a name.", "No role name")
    if "\x00" in name:
        raise BadInput("A role name cannot contain a NUL character.", "Bad role name")
    check_encodable(name, "The role name")
    if len(name.encode()) > NAME_MAX_BYTES:
        # The server would cut it to 63 bytes with only a NOTICE: a different role than asked.
        raise BadInput(
            f"Role names are at most {NAME_MAX_BYTES} bytes; {name!r} has {len(name.encode())}.",
            "Role name too long",
        )
    return name


def _connection_limit(limit: object) -> int:
    if isinstance(limit, bool):
        raise BadInput(f"{limit!r} is not a connection limit.", "Bad connection limit")
    try:
        value = int(limit)  # type: ignore[call-overload]  # any input; int() refuses the rest
    except (TypeError, ValueError):
        raise BadInput(f"{limit!r} is not a connection limit.", "Bad connection limit") from None
    if value < -1 or value != limit:
        raise BadInput(
            f"{limit!r} is not a connection limit: use a whole number, or -1 for no limit.",
            "Bad connection limit",
        )
    return value


def _valid_until(value: datetime | None) -> str:
    if value is None:
        return "infinity"
    if not isinstance(value, datetime):
        raise BadInput(f"{value!r} is not a date and time.", "Bad expiry")
    if value.tzinfo is None:
        # The server would read a naive time in its own time zone: not necessarily the user's.
        raise BadInput("The expiry needs a time zone.", "Bad expiry")
    return value.isoformat()


def _password(password: str | None) -> str | None:
    if password is None:
        return None
    if not isinstance(password, str) or password == "":
        # The server turns an empty password into "no password" with only a NOTICE.
        raise BadInput(
            "An empty password is not a password; choose one, or remove the password.",
            "Empty password",
        )
    return password


def _options(
    flags: dict[str, bool],
    connection_limit: int | None,
    valid_until: str | None,
    verifier: bytes | None,
    clear_password: bool,
) -> pgsql.Composable:
    parts: list[pgsql.Composable] = [
        pgsql.SQL(_FLAGS[flag][0 if on else 1]) for flag, on in flags.items()
    ]
    if connection_limit is not None:
        parts.append(pgsql.SQL(CONNECTION_LIMIT_SQL).format(limit=pgsql.Literal(connection_limit)))
    if valid_until is not None:
        parts.append(pgsql.SQL(VALID_UNTIL_SQL).format(timestamp=pgsql.Literal(valid_until)))
    if verifier is not None:
        parts.append(pgsql.SQL(PASSWORD_SQL).format(verifier=pgsql.Literal(verifier.decode())))
    elif clear_password:
        parts.append(pgsql.SQL(NO_PASSWORD_SQL))
    return pgsql.SQL(" ").join(parts)


def _describe(
    flags: dict[str, bool],
    connection_limit: int | None,
    valid_until: str | None,
    password: Literal["set", "removed"] | None,
) -> str:
    """The audit detail: what changed, never the password itself."""
    words = [_FLAGS[flag][0 if on else 1].lower() for flag, on in flags.items()]
    if connection_limit is not None:
        words.append(
            "no connection limit"
            if connection_limit == -1
            else f"connection limit {connection_limit}"
        )
    if valid_until is not None:
        words.append("never expires" if valid_until == "infinity" else f"valid until {valid_until}")
    if password is not None:
        words.append(f"password {password}")
    return ", ".join(words)


def _failed(exc: QueryFailed, title: str) -> QueryFailed:
    return QueryFailed(exc.message, title, exc.position)


def create_role(
    conn: AdminConnection,
    actor: User | None,
    name: str,
    *,
    login: bool = False,
    superuser: bool = False,
    createdb: bool = False,
    createrole: bool = False,
    replication: bool = False,
    bypassrls: bool = False,
    connection_limit: int = -1,
    valid_until: datetime | None = None,
    password: str | None = None,
    member_of: Sequence[str] = (),
) -> Role:
    """Create a role (and its memberships, in the same transaction); the new role."""
    auth.require(actor, PERMISSION)
    name = role_name(name)
    groups = [role_name(g) for g in member_of]
    flags = {
        "login": login,
        "superuser": superuser,
        "createdb": createdb,
        "createrole": createrole,
        "replication": replication,
        "bypassrls": bypassrls,
    }
    limit = _connection_limit(connection_limit)
    # No VALID UNTIL at all for "never": the server then stores NULL, as CREATE ROLE does.
    until = None if valid_until is None else _valid_until(valid_until)
    secret = _password(password)
    try:
        with conn.transaction() as pg:
            verifier = (
                None
                if secret is None
                else pg.pgconn.encrypt_password(secret.encode(), name.encode(), PASSWORD_ALGORITHM)
            )
            options = _options(flags, limit, until, verifier, clear_password=False)
            pg.execute(pgsql.SQL(CREATE_ROLE_SQL).format(name=identifier(name), options=options))
            for group in groups:
                pg.execute(
                    pgsql.SQL(GRANT_SQL).format(role=identifier(group), member=identifier(name))
                )
    except QueryFailed as exc:
        raise _failed(exc, "Role not created") from None
    detail = _describe(flags, limit, until, None if secret is None else "set")
    if groups:
        detail += ", member of " + ", ".join(groups)
    audit(actor, "admin.role.create", name, detail)
    role = get_role(conn, name)
    assert role is not None  # just created in a committed transaction
    return role


def alter_role(
    conn: AdminConnection,
    actor: User | None,
    name: str,
    *,
    login: bool | _Keep = KEEP,
    superuser: bool | _Keep = KEEP,
    createdb: bool | _Keep = KEEP,
    createrole: bool | _Keep = KEEP,
    replication: bool | _Keep = KEEP,
    bypassrls: bool | _Keep = KEEP,
    connection_limit: int | _Keep = KEEP,
    valid_until: datetime | None | _Keep = KEEP,
    password: str | None | _Keep = KEEP,
) -> Role:
    """Change the given attributes of a role (KEEP leaves one as it is; `valid_until=None`
    means never expires, `password=None` removes the password); the role afterwards."""
    auth.require(actor, PERMISSION)
    name = role_name(name)
    given = {
        "login": login,
        "superuser": superuser,
        "createdb": createdb,
        "createrole": createrole,
        "replication": replication,
        "bypassrls": bypassrls,
    }
    flags = {flag: bool(on) for flag, on in given.items() if on is not KEEP}
    limit = None if connection_limit is KEEP else _connection_limit(connection_limit)
    until = None if valid_until is KEEP else _valid_until(valid_until)
    secret = None if password is KEEP else _password(password)
    if not flags and limit is None and until is None and password is KEEP:
        raise BadInput(f"Nothing to change for role {name!r}.", "Nothing to change")
    try:
        with conn.transaction() as pg:
            verifier = (
                None
                if secret is None
                else pg.pgconn.encrypt_password(secret.encode(), name.encode(), PASSWORD_ALGORITHM)
            )
            options = _options(flags, limit, until, verifier, clear_password=password is None)
            pg.execute(pgsql.SQL(ALTER_ROLE_SQL).format(name=identifier(name), options=options))
    except QueryFailed as exc:
        raise _failed(exc, "Role not changed") from None
    changed_password: Literal["set", "removed"] | None = (
        None if password is KEEP else "removed" if password is None else "set"
    )
    audit(actor, "admin.role.alter", name, _describe(flags, limit, until, changed_password))
    role = get_role(conn, name)
    if role is None:  # dropped by someone else in between
        raise QueryFailed(f"Role {name!r} no longer exists.", "Role not found")
    return role


def grant_membership(
    conn: AdminConnection,
    actor: User | None,
    role: str,
    member: str,
    *,
    admin_option: bool = False,
) -> None:
    """Make `member` a member of `role` (optionally allowed to grant it on)."""
    auth.require(actor, PERMISSION)
    role, member = role_name(role), role_name(member)
    query = pgsql.SQL(GRANT_ADMIN_SQL if admin_option else GRANT_SQL).format(
        role=identifier(role), member=identifier(member)
    )
    try:
        conn.execute(query)
    except QueryFailed as exc:
        raise _failed(exc, "Membership not granted") from None
    audit(
        actor,
        "admin.role.grant",
        role,
        f"to {member}" + (" with admin option" if admin_option else ""),
    )


def revoke_membership(conn: AdminConnection, actor: User | None, role: str, member: str) -> None:
    """Remove `member` from `role`."""
    auth.require(actor, PERMISSION)
    role, member = role_name(role), role_name(member)
    found = conn.one(IS_MEMBER_SQL, (role, member))
    if not (found and found["member"]):
        raise BadInput(f"{member!r} is not a member of {role!r}.", "Not a member")
    query = pgsql.SQL(REVOKE_SQL).format(role=identifier(role), member=identifier(member))
    try:
        conn.execute(query)
    except QueryFailed as exc:
        raise _failed(exc, "Membership not revoked") from None
    audit(actor, "admin.role.revoke", role, f"from {member}")


# The server's words for "it still owns something"; the hint says what to do about it.
_DEPENDS = "cannot be dropped because some objects depend on it"


def drop_role(conn: AdminConnection, actor: User | None, name: str) -> None:
    """Drop a role; refused with the server's message while it owns objects or has grants."""
    auth.require(actor, PERMISSION)
    name = role_name(name)
    try:
        conn.execute(pgsql.SQL(DROP_ROLE_SQL).format(name=identifier(name)))
    except QueryFailed as exc:
        message = exc.message
        if _DEPENDS in message:
            message += (
                "\n\nReassign or drop what it owns first (REASSIGN OWNED BY … TO …, then "
                "DROP OWNED BY …) in every database that lists it, then drop it again."
            )
        raise QueryFailed(message, "Role not dropped", exc.position) from None
    audit(actor, "admin.role.drop", name)


def names(roles: Iterable[Role], *, include_system: bool = False) -> list[str]:
    """The names of `roles`, without the predefined pg_* roles unless asked."""
    return [r.name for r in roles if include_system or not r.system]


__all__ = [
    "KEEP",
    "Role",
    "alter_role",
    "create_role",
    "drop_role",
    "get_role",
    "grant_membership",
    "list_roles",
    "names",
    "revoke_membership",
    "role_name",
]
