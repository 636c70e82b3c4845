"""Extensions of one database: what the server offers and what is installed, with versions;
install (into a chosen schema), update, uninstall.

Extensions belong to a database, not to the server: installing one here does nothing to the
other databases. Uninstalling with CASCADE also drops every object that uses the extension
(columns of its types, indexes with its operator classes, extensions that require it), so it
needs the extension's name typed back as confirmation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from psycopg import sql as pgsql

from tusk import auth
from tusk.admin import AdminConnection, audit
from tusk.auth.permissions import ADMIN_EXTENSIONS
from tusk.engines.base import check_text
from tusk.errors import BadInput

if TYPE_CHECKING:
    from tusk.auth.schema import User

# pg_available_extensions lists what the server has files for; the full join keeps an installed
# extension whose files were removed from the server (it can still be uninstalled).
EXTENSIONS_SQL = """
select
    coalesce(a.name, e.extname) as name,
    coalesce(e.extversion, a.installed_version) as installed_version,
    a.default_version,
    n.nspname as schema,
    coalesce(e.extversion is not null and a.default_version is not null
             and e.extversion <> a.default_version, false) as update_available,
    e.extrelocatable as relocatable,
    coalesce(a.comment, obj_description(e.oid, 'pg_extension')) as comment
from pg_available_extensions a
full join pg_extension e on e.extname = a.name
left join pg_namespace n on n.oid = e.extnamespace
where %(name)s::text is null or coalesce(a.name, e.extname) = %(name)s
order by (e.extname is null), coalesce(a.name, e.extname)
"""

# `schema` is set when the extension must live in that one schema; `requires` lists the
# extensions it needs installed first (CREATE EXTENSION … CASCADE installs them).
VERSIONS_SQL = """
select version, schema, coalesce(requires, '{}'::name[])::text[] as requires, superuser, trusted
from pg_available_extension_versions
where name = %s
"""

# Schemas an extension can go into: not the system ones, public first.
SCHEMAS_SQL = """
select nspname as schema
from pg_namespace
where nspname not like 'pg\\_%' and nspname <> 'information_schema'
order by nspname <> 'public', nspname
"""

CREATE_SQL = pgsql.SQL("CREATE EXTENSION {name}")
CREATE_IN_SCHEMA_SQL = pgsql.SQL("CREATE EXTENSION {name} SCHEMA {schema}")
VERSION_CLAUSE_SQL = pgsql.SQL(" VERSION {version}")
CASCADE_CLAUSE_SQL = pgsql.SQL(" CASCADE")
UPDATE_SQL = pgsql.SQL("ALTER EXTENSION {name} UPDATE")
UPDATE_TO_SQL = pgsql.SQL("ALTER EXTENSION {name} UPDATE TO {version}")
DROP_SQL = pgsql.SQL("DROP EXTENSION {name}")
DROP_CASCADE_SQL = pgsql.SQL("DROP EXTENSION {name} CASCADE")


@dataclass(frozen=True)
class ExtensionChange:
    """What one install, update or uninstall did, with the versions around it and its time."""

    action: Literal["install", "update", "uninstall"]
    name: str
    statement: str  # the SQL that ran, identifiers quoted
    status: str
    elapsed_s: float
    version_before: str | None
    version_after: str | None
    schema: str | None  # where it lives now (where it lived, for an uninstall)
    cascade: bool = False


def extensions(conn: AdminConnection) -> list[dict[str, Any]]:
    """Every extension the server offers or this database has: versions, schema, comment;
    installed ones first."""
    return conn.rows(EXTENSIONS_SQL, {"name": None})


def get(conn: AdminConnection, name: str) -> dict[str, Any] | None:
    """One extension's row (as in `extensions`), or None when the server does not know it."""
    found = conn.rows(EXTENSIONS_SQL, {"name": name})
    return found[0] if found else None


def versions(conn: AdminConnection, name: str) -> list[dict[str, Any]]:
    """The versions of an extension the server has scripts for, oldest first, each with its
    fixed schema (or None), the extensions it requires and whether it needs a superuser."""
    return sorted(conn.rows(VERSIONS_SQL, (name,)), key=lambda r: _version_key(str(r["version"])))


def schemas(conn: AdminConnection) -> list[str]:
    """Schemas an extension can be installed into (public first)."""
    return [str(r["schema"]) for r in conn.rows(SCHEMAS_SQL)]


def install(
    conn: AdminConnection,
    actor: User | None,
    name: str,
    *,
    schema: str | None = None,
    version: str | None = None,
    cascade: bool = False,
) -> ExtensionChange:
    """CREATE EXTENSION, optionally in `schema`, at `version`, and with what it requires
    (CASCADE here only adds the extensions it depends on)."""
    auth.require(actor, ADMIN_EXTENSIONS)
    ident = _name(name)
    if schema:
        check_text(schema, "The schema name")
        query: pgsql.Composable = CREATE_IN_SCHEMA_SQL.format(
            name=ident, schema=pgsql.Identifier(schema)
        )
    else:
        query = CREATE_SQL.format(name=ident)
    if version:
        check_text(version, "The version")
        # Utility statements take no parameters: the version goes in as a quoted literal.
        query = query + VERSION_CLAUSE_SQL.format(version=pgsql.Literal(version))
    if cascade:
        query = query + CASCADE_CLAUSE_SQL
    status, elapsed = _run(conn, query)
    now = get(conn, name) or {}
    change = ExtensionChange(
        "install",
        name,
        query.as_string(None),
        status,
        elapsed,
        None,
        now.get("installed_version"),
        now.get("schema"),
        cascade,
    )
    _audit(conn, actor, change)
    return change


def update(
    conn: AdminConnection, actor: User | None, name: str, version: str | None = None
) -> ExtensionChange:
    """ALTER EXTENSION … UPDATE, to `version` or to the server's default version."""
    auth.require(actor, ADMIN_EXTENSIONS)
    ident = _name(name)
    before = _installed(conn, name)
    if version:
        check_text(version, "The version")
        query = UPDATE_TO_SQL.format(name=ident, version=pgsql.Literal(version))
    else:
        query = UPDATE_SQL.format(name=ident)
    status, elapsed = _run(conn, query)
    now = get(conn, name) or {}
    change = ExtensionChange(
        "update",
        name,
        query.as_string(None),
        status,
        elapsed,
        before.get("installed_version"),
        now.get("installed_version"),
        now.get("schema"),
    )
    _audit(conn, actor, change)
    return change


def uninstall(
    conn: AdminConnection,
    actor: User | None,
    name: str,
    *,
    cascade: bool = False,
    confirm: str | None = None,
) -> ExtensionChange:
    """DROP EXTENSION; with `cascade` (drops whatever uses it) only when `confirm` is the
    extension's name, typed back."""
    auth.require(actor, ADMIN_EXTENSIONS)
    ident = _name(name)
    if cascade and confirm != name:
        raise BadInput(
            f"Uninstalling {name!r} with CASCADE also drops every object that uses it; type "
            "the extension's name to confirm.",
            "Confirmation needed",
        )
    before = _installed(conn, name)
    query = (DROP_CASCADE_SQL if cascade else DROP_SQL).format(name=ident)
    status, elapsed = _run(conn, query)
    change = ExtensionChange(
        "uninstall",
        name,
        query.as_string(None),
        status,
        elapsed,
        before.get("installed_version"),
        None,
        before.get("schema"),
        cascade,
    )
    _audit(conn, actor, change)
    return change


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    # Versions are free text; compare dotted numbers as numbers ("1.10" after "1.9") and any
    # other part as text after the numbers.
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in version.split("."))


def _name(name: str) -> pgsql.Identifier:
    if not name or not name.strip():
        raise BadInput("Pick an extension first.")
    # libpq ends the statement at a NUL: CREATE EXTENSION "a\x00b" would install `a`.
    check_text(name, "The extension name")
    return pgsql.Identifier(name)


def _installed(conn: AdminConnection, name: str) -> dict[str, Any]:
    found = get(conn, name)
    if found is None or found["installed_version"] is None:
        raise BadInput(
            f"Extension {name!r} is not installed in database {conn.database!r}.",
            "Not installed",
        )
    return found


def _run(conn: AdminConnection, query: pgsql.Composable) -> tuple[str, float]:
    start = time.perf_counter()
    status = conn.execute(query)
    return status, time.perf_counter() - start


def _audit(conn: AdminConnection, actor: User | None, change: ExtensionChange) -> None:
    versions_text = " → ".join(v for v in (change.version_before, change.version_after) if v)
    audit(
        actor,
        f"extension.{change.action}",
        change.name,
        f"{change.statement}; version {versions_text or '?'}; schema {change.schema}; "
        f"database {conn.database} via {conn.spec.name}; {change.elapsed_s:.3f} s",
    )
