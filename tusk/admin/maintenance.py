"""Table upkeep: dead rows and (auto)vacuum times, VACUUM / ANALYZE / REINDEX, unused indexes
and the most expensive statements from pg_stat_statements.

VACUUM and REINDEX CONCURRENTLY refuse to run inside a transaction block; the admin connection
is autocommit, so each statement here runs on its own. Since PostgreSQL 15 a VACUUM or ANALYZE
writes its new tuple counts into the shared statistics before it returns, so the dead-row count
read right after it is already the new one (other sessions' changes still arrive up to a
second late: a backend flushes its pending counts when idle, at most once a second).
VACUUM FULL is the exception: it rewrites the table like CLUSTER and reports nothing, so
n_dead_tup, last_vacuum and vacuum_count keep their old values until the next ANALYZE or plain
(auto)vacuum (measured on 15.18).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from psycopg import sql as pgsql

from tusk import auth
from tusk.admin import AdminConnection, audit, identifier
from tusk.auth.permissions import ADMIN_MAINTENANCE
from tusk.errors import BadInput, QueryFailed

if TYPE_CHECKING:
    from tusk.auth.schema import User

STATEMENTS_EXTENSION = "pg_stat_statements"

# One row per user table. dead_ratio is dead / (live + dead) as a fraction for a progress bar;
# the size counts the table with its indexes and TOAST, which is what VACUUM FULL rewrites.
TABLES_SQL = """
select
    s.schemaname as schema,
    s.relname as table,
    s.n_live_tup as live_rows,
    s.n_dead_tup as dead_rows,
    case when s.n_live_tup + s.n_dead_tup > 0
         then s.n_dead_tup::float8 / (s.n_live_tup + s.n_dead_tup)
         else 0.0 end as dead_ratio,
    s.last_vacuum,
    s.last_autovacuum,
    s.last_analyze,
    s.last_autoanalyze,
    s.vacuum_count,
    s.autovacuum_count,
    s.analyze_count,
    s.autoanalyze_count,
    pg_total_relation_size(s.relid) as total_bytes
from pg_stat_user_tables s
order by s.n_dead_tup desc, s.schemaname, s.relname
"""

# Every user index (the REINDEX picker); NULL filters mean "all".
INDEXES_SQL = """
select
    s.schemaname as schema,
    s.relname as table,
    s.indexrelname as index,
    s.idx_scan as scans,
    pg_relation_size(s.indexrelid) as size_bytes,
    i.indisunique as is_unique,
    i.indisprimary as is_primary,
    i.indisvalid as is_valid,
    pg_get_indexdef(s.indexrelid) as definition
from pg_stat_user_indexes s
join pg_index i on i.indexrelid = s.indexrelid
where (%(schema)s::text is null or s.schemaname = %(schema)s)
  and (%(table)s::text is null or s.relname = %(table)s)
order by s.schemaname, s.relname, s.indexrelname
"""

# Never scanned since the statistics were reset. Unique and primary-key indexes enforce
# something even when no query reads them, and so does any index behind a constraint
# (exclusion constraints are not unique), so none of those are candidates for dropping.
UNUSED_INDEXES_SQL = """
select
    s.schemaname as schema,
    s.relname as table,
    s.indexrelname as index,
    pg_relation_size(s.indexrelid) as size_bytes,
    pg_get_indexdef(s.indexrelid) as definition
from pg_stat_user_indexes s
join pg_index i on i.indexrelid = s.indexrelid
where s.idx_scan = 0
  and not i.indisunique
  and not i.indisprimary
  and not exists (select 1 from pg_constraint c where c.conindid = s.indexrelid)
order by pg_relation_size(s.indexrelid) desc, s.schemaname, s.relname, s.indexrelname
"""

FULL_STATS_NOTE = (
    "VACUUM FULL does not update the table statistics: the dead-row count and the last-vacuum "
    "time stay as they were until the next ANALYZE or plain vacuum. Tick ANALYZE to refresh "
    "them in the same run."
)

DEAD_LEFT_NOTE = (
    "Some dead rows remain: VACUUM removes a row only once no open transaction can still see "
    "it. Look for long-running or idle-in-transaction sessions on the Activity tab, then "
    "vacuum again."
)

STATS_SINCE_SQL = "select stats_reset from pg_stat_database where datname = current_database()"

DEAD_ROWS_SQL = """
select n_dead_tup as dead_rows from pg_stat_user_tables where schemaname = %s and relname = %s
"""

VACUUM_SQL = pgsql.SQL("VACUUM {table}")
VACUUM_WITH_SQL = pgsql.SQL("VACUUM ({options}) {table}")
ANALYZE_SQL = pgsql.SQL("ANALYZE {table}")
REINDEX_SQL = pgsql.SQL("REINDEX {kind} {table}")
REINDEX_CONCURRENTLY_SQL = pgsql.SQL("REINDEX {kind} CONCURRENTLY {table}")

# Where pg_stat_statements lives in this database (it may be installed in any schema).
STATEMENTS_SCHEMA_SQL = """
select n.nspname as schema, e.extversion as version
from pg_extension e join pg_namespace n on n.oid = e.extnamespace
where e.extname = 'pg_stat_statements'
"""

# The view holds every database's statements; this page is about the connected one.
TOP_QUERIES_SQL = pgsql.SQL("""
select
    s.query,
    r.rolname as role,
    s.calls,
    s.total_exec_time as total_ms,
    s.mean_exec_time as mean_ms,
    s.max_exec_time as max_ms,
    s.rows,
    case when s.shared_blks_hit + s.shared_blks_read > 0
         then s.shared_blks_hit::float8 / (s.shared_blks_hit + s.shared_blks_read)
         end as hit_ratio
from {schema}.pg_stat_statements s
left join pg_roles r on r.oid = s.userid
where s.dbid = (select oid from pg_database where datname = current_database())
order by s.total_exec_time desc
limit %(limit)s
""")

# Only this database's statements (userid 0 and queryid 0 mean "any"); the arguments exist
# since pg_stat_statements 1.7, older versions can only forget everything.
STATEMENTS_RESET_SQL = pgsql.SQL(
    "select {schema}.pg_stat_statements_reset(0, "
    "(select oid from pg_database where datname = current_database()), 0)"
)
STATEMENTS_RESET_ALL_SQL = pgsql.SQL("select {schema}.pg_stat_statements_reset()")


@dataclass(frozen=True)
class MaintenanceResult:
    """What one maintenance command did: the statement, the server's status, how long it took
    and, for VACUUM, the dead rows the statistics counted before and after."""

    action: Literal["vacuum", "analyze", "reindex"]
    target: str  # schema.name, unquoted, for people
    statement: str  # the SQL that ran, identifiers quoted
    status: str
    elapsed_s: float
    dead_rows_before: int | None = None
    dead_rows_after: int | None = None
    note: str = ""  # what the numbers do not show


def tables(conn: AdminConnection) -> list[dict[str, Any]]:
    """User tables with live/dead rows, dead ratio, last (auto)vacuum/analyze and total size."""
    return conn.rows(TABLES_SQL)


def indexes(
    conn: AdminConnection, schema: str | None = None, table: str | None = None
) -> list[dict[str, Any]]:
    """User indexes (optionally of one schema or table) with scans, size and definition."""
    return conn.rows(INDEXES_SQL, {"schema": schema, "table": table})


def unused_indexes(conn: AdminConnection) -> list[dict[str, Any]]:
    """Indexes never scanned since the statistics reset that enforce nothing, largest first."""
    return conn.rows(UNUSED_INDEXES_SQL)


def stats_since(conn: AdminConnection) -> datetime | None:
    """When this database's statistics were last reset (None: since the cluster was made)."""
    row = conn.one(STATS_SINCE_SQL)
    return None if row is None else row["stats_reset"]


def vacuum(
    conn: AdminConnection,
    actor: User | None,
    schema: str,
    table: str,
    *,
    full: bool = False,
    analyze: bool = False,
) -> MaintenanceResult:
    """VACUUM one table, optionally FULL (rewrites it under an exclusive lock) and ANALYZE."""
    auth.require(actor, ADMIN_MAINTENANCE)
    name = _qualified(schema, table)
    options = [pgsql.SQL(word) for word, on in (("FULL", full), ("ANALYZE", analyze)) if on]
    if options:
        query = VACUUM_WITH_SQL.format(options=pgsql.SQL(", ").join(options), table=name)
    else:
        query = VACUUM_SQL.format(table=name)
    before = _dead_rows(conn, schema, table)
    status, elapsed = _run(conn, query)
    after: int | None = None
    note = ""
    if full and not analyze:
        note = FULL_STATS_NOTE  # the count read now would be the stale one from before
    else:
        after = _dead_rows(conn, schema, table)
        if after:
            note = DEAD_LEFT_NOTE
    result = MaintenanceResult(
        "vacuum", _label(schema, table), _text(query), status, elapsed, before, after, note
    )
    _audit(conn, actor, result)
    return result


def analyze(
    conn: AdminConnection, actor: User | None, schema: str, table: str
) -> MaintenanceResult:
    """ANALYZE one table (fresh planner statistics)."""
    auth.require(actor, ADMIN_MAINTENANCE)
    query = ANALYZE_SQL.format(table=_qualified(schema, table))
    status, elapsed = _run(conn, query)
    result = MaintenanceResult("analyze", _label(schema, table), _text(query), status, elapsed)
    _audit(conn, actor, result)
    return result


def reindex(
    conn: AdminConnection,
    actor: User | None,
    schema: str,
    name: str,
    *,
    kind: Literal["table", "index"] = "table",
    concurrently: bool = False,
) -> MaintenanceResult:
    """REINDEX a table (all its indexes) or one index; CONCURRENTLY avoids blocking writes."""
    auth.require(actor, ADMIN_MAINTENANCE)
    if kind not in ("table", "index"):
        raise BadInput(f"REINDEX works on a table or an index, not {kind!r}.")
    template = REINDEX_CONCURRENTLY_SQL if concurrently else REINDEX_SQL
    query = template.format(kind=pgsql.SQL(kind.upper()), table=_qualified(schema, name))
    status, elapsed = _run(conn, query)
    result = MaintenanceResult("reindex", _label(schema, name), _text(query), status, elapsed)
    _audit(conn, actor, result)
    return result


def statements_schema(conn: AdminConnection) -> str | None:
    """The schema pg_stat_statements is installed in here, or None when it is not installed."""
    row = conn.one(STATEMENTS_SCHEMA_SQL)
    return None if row is None else str(row["schema"])


def top_queries(conn: AdminConnection, limit: int = 20) -> list[dict[str, Any]]:
    """This database's statements with the most total execution time (pg_stat_statements)."""
    if not 1 <= int(limit) <= 1000:
        raise BadInput(f"Show between 1 and 1000 statements, not {limit}.")
    schema = str(_require_statements(conn)["schema"])
    try:
        return conn.rows(
            TOP_QUERIES_SQL.format(schema=pgsql.Identifier(schema)), {"limit": int(limit)}
        )
    except QueryFailed as exc:
        raise _not_loaded(exc) from None


def reset_top_queries(conn: AdminConnection, actor: User | None) -> None:
    """Forget this database's collected statement statistics (pg_stat_statements_reset)."""
    auth.require(actor, ADMIN_MAINTENANCE)
    row = _require_statements(conn)
    scoped = _version(str(row["version"])) >= (1, 7)
    template = STATEMENTS_RESET_SQL if scoped else STATEMENTS_RESET_ALL_SQL
    try:
        conn.rows(template.format(schema=pgsql.Identifier(str(row["schema"]))))
    except QueryFailed as exc:
        raise _not_loaded(exc) from None
    scope = "" if scoped else "; every database (pg_stat_statements older than 1.7)"
    audit(actor, "maintenance.statements_reset", conn.database, _where(conn) + scope)


def _require_statements(conn: AdminConnection) -> dict[str, Any]:
    row = conn.one(STATEMENTS_SCHEMA_SQL)
    if row is None:
        raise BadInput(
            f"pg_stat_statements is not installed in database {conn.database!r}; install it "
            "from the Extensions tab.",
            "pg_stat_statements missing",
        )
    return row


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in text.split("."))


def _not_loaded(exc: QueryFailed) -> QueryFailed:
    # The extension can be installed in a database while the server never loaded the library;
    # then every read fails with this message, and the fix is in the server's configuration.
    if "shared_preload_libraries" in exc.message:
        return QueryFailed(
            "pg_stat_statements is installed but the server did not load it: add it to "
            "shared_preload_libraries in postgresql.conf and restart PostgreSQL.",
            "pg_stat_statements not loaded",
        )
    return exc


def _qualified(schema: str, name: str) -> pgsql.Identifier:
    if not schema or not name:
        raise BadInput("Pick a schema and a table or index first.")
    return identifier(schema, name)  # refuses a NUL, which psycopg's quoting cuts off


def _label(schema: str, name: str) -> str:
    return f"{schema}.{name}"


def _text(query: pgsql.Composable) -> str:
    # Only identifiers and keywords are composed here: quoting them needs no connection.
    return query.as_string(None)


def _run(conn: AdminConnection, query: pgsql.Composable) -> tuple[str, float]:
    start = time.perf_counter()
    status = conn.execute(query)
    return status, time.perf_counter() - start


def _dead_rows(conn: AdminConnection, schema: str, table: str) -> int | None:
    row = conn.one(DEAD_ROWS_SQL, (schema, table))
    return None if row is None else int(row["dead_rows"])


def _where(conn: AdminConnection) -> str:
    return f"database {conn.database} via {conn.spec.name}"


def _audit(conn: AdminConnection, actor: User | None, result: MaintenanceResult) -> None:
    audit(
        actor,
        f"maintenance.{result.action}",
        result.target,
        f"{result.statement}; {_where(conn)}; {result.elapsed_s:.3f} s",
    )
