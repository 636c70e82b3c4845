"""Maintenance on a real PostgreSQL: dead rows, VACUUM / ANALYZE / REINDEX, unused indexes,
top statements, hostile names, permissions and the audit trail.

Statistics timing (measured on PostgreSQL 15): a session's DELETE counts reach the shared
statistics only when that session flushes them (when idle, at most once a second), so a test
reading n_dead_tup right after its DELETE saw 0. `pg_stat_force_next_flush()` in the deleting
session makes them visible at the end of its next transaction, deterministically. VACUUM and
ANALYZE write their own counts into the shared statistics before they return, so no polling is
needed after them.

What can still keep a dead row is a snapshot: VACUUM removes only rows no transaction can see
any more. On this shared server, with other suites connecting all the time, some other
session's brief snapshot held the deleted rows back in 5 of 100 `VACUUM (FULL, ANALYZE)` runs
and 0 of 100 plain VACUUM runs (the next VACUUM removed them). So tests that need the rows gone
VACUUM again, a bounded number of times, until the count is 0 (`_vacuum_until_clean`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg
import pytest
from psycopg import sql

from tests.admin.conftest import HOSTILE, UNICODE, server_connection
from tusk.admin import AdminConnection, extensions, maintenance
from tusk.auth.audit import audit_log
from tusk.errors import BadInput, PermissionDenied, QueryFailed

pytestmark = pytest.mark.postgres


def _seed(db: str, schema: str = "public", table: str = "t", dead: int = 500) -> None:
    """A table with 1000 rows of which `dead` are deleted (dead tuples), autovacuum off so
    nothing cleans them behind the test's back, and the counts flushed to shared stats."""
    name = sql.Identifier(schema, table)
    with server_connection(db) as c:
        c.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        c.execute(
            sql.SQL(
                "create table {} (id int primary key, v text) with (autovacuum_enabled = false)"
            ).format(name)
        )
        c.execute(
            sql.SQL("insert into {} select g, md5(g::text) from generate_series(1, 1000) g").format(
                name
            )
        )
        c.execute(sql.SQL("delete from {} where id <= %s").format(name), (dead,))
        c.execute("select pg_stat_force_next_flush()")


def _vacuum_until_clean(
    conn: AdminConnection, schema: str, table: str, **options: bool
) -> list[maintenance.MaintenanceResult]:
    """VACUUM until the statistics count no dead row (see the module docstring for why one
    run may not be enough); every run's result, the last one clean."""
    results = [maintenance.vacuum(conn, None, schema, table, **options)]
    while results[-1].dead_rows_after != 0 and len(results) < 50:
        time.sleep(0.1)
        results.append(maintenance.vacuum(conn, None, schema, table, **options))
    assert results[-1].dead_rows_after == 0, results
    return results


def _row(conn: AdminConnection, schema: str, table: str) -> dict:
    return next(r for r in maintenance.tables(conn) if (r["schema"], r["table"]) == (schema, table))


def _filenode(db: str, schema: str, name: str) -> int:
    """The relation's file number: VACUUM FULL and REINDEX write a new file."""
    with server_connection(db) as c:
        row = c.execute(
            "select c.relfilenode from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s and c.relname = %s",
            (schema, name),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_vacuum_removes_dead_rows(db: str, conn: AdminConnection) -> None:
    """The table list shows the dead rows; VACUUM brings n_dead_tup to 0 and says how long."""
    _seed(db)
    before = _row(conn, "public", "t")
    assert before["dead_rows"] == 500
    assert before["live_rows"] == 500
    assert before["dead_ratio"] == pytest.approx(0.5)
    assert before["last_vacuum"] is None
    assert before["total_bytes"] > 0

    runs = _vacuum_until_clean(conn, "public", "t")

    result = runs[0]
    assert result.status == "VACUUM"
    assert result.statement == 'VACUUM "public"."t"'
    assert result.dead_rows_before == 500
    assert result.elapsed_s >= 0
    after = _row(conn, "public", "t")
    assert after["dead_rows"] == 0
    assert after["live_rows"] == 500
    assert after["dead_ratio"] == 0
    assert after["last_vacuum"] is not None
    assert after["vacuum_count"] == len(runs)


def test_vacuum_full_analyze_rewrites_and_analyzes(db: str, conn: AdminConnection) -> None:
    """FULL writes a new table file; ANALYZE sets last_analyze."""
    _seed(db)
    node = _filenode(db, "public", "t")
    result = _vacuum_until_clean(conn, "public", "t", full=True, analyze=True)[0]
    assert result.statement == 'VACUUM (FULL, ANALYZE) "public"."t"'
    assert _filenode(db, "public", "t") != node
    assert _row(conn, "public", "t")["last_analyze"] is not None


def test_vacuum_full_alone_leaves_the_statistics(db: str, conn: AdminConnection) -> None:
    """Measured: VACUUM FULL rewrites the table but reports nothing to the statistics (dead
    rows, last_vacuum, vacuum_count stay); the result says so instead of a stale count."""
    _seed(db)
    node = _filenode(db, "public", "t")
    result = maintenance.vacuum(conn, None, "public", "t", full=True)
    assert _filenode(db, "public", "t") != node
    assert (result.dead_rows_before, result.dead_rows_after) == (500, None)
    assert "does not update" in result.note
    row = _row(conn, "public", "t")
    assert (row["dead_rows"], row["vacuum_count"]) == (500, 0)


def test_vacuum_says_why_dead_rows_remain(db: str, conn: AdminConnection) -> None:
    """An open transaction whose snapshot predates the DELETE keeps the rows: VACUUM leaves
    them, and the result says why instead of claiming success silently."""
    with server_connection(db) as c:
        c.execute("create table t (id int primary key) with (autovacuum_enabled = false)")
        c.execute("insert into t select generate_series(1, 100)")
    holder = server_connection(db)
    try:
        holder.autocommit = False
        holder.execute("set transaction isolation level repeatable read")
        holder.execute("select count(*) from t")  # takes the snapshot
        with server_connection(db) as c:
            c.execute("delete from t")
            c.execute("select pg_stat_force_next_flush()")
        result = maintenance.vacuum(conn, None, "public", "t")
        assert (result.dead_rows_before, result.dead_rows_after) == (100, 100)
        assert "open transaction" in result.note
    finally:
        holder.close()
    assert _vacuum_until_clean(conn, "public", "t")[-1].note == ""


def test_analyze(db: str, conn: AdminConnection) -> None:
    """ANALYZE counts in the table statistics."""
    _seed(db)
    result = maintenance.analyze(conn, None, "public", "t")
    assert result.status == "ANALYZE"
    row = _row(conn, "public", "t")
    assert row["analyze_count"] == 1
    assert row["last_analyze"] is not None


@pytest.mark.parametrize("concurrently", [False, True])
def test_reindex_table_and_index(db: str, conn: AdminConnection, concurrently: bool) -> None:
    """REINDEX TABLE and REINDEX INDEX (also CONCURRENTLY) build new index files."""
    _seed(db)
    node = _filenode(db, "public", "t_pkey")
    result = maintenance.reindex(conn, None, "public", "t", concurrently=concurrently)
    assert result.status == "REINDEX"
    assert result.statement.startswith(
        "REINDEX TABLE CONCURRENTLY" if concurrently else "REINDEX TABLE"
    )
    assert _filenode(db, "public", "t_pkey") != node

    node = _filenode(db, "public", "t_pkey")
    result = maintenance.reindex(
        conn, None, "public", "t_pkey", kind="index", concurrently=concurrently
    )
    assert result.target == "public.t_pkey"
    assert _filenode(db, "public", "t_pkey") != node


def test_unused_indexes(db: str, conn: AdminConnection) -> None:
    """A never-scanned plain index is listed with its size; PK and unique ones never are;
    once a query uses the index it leaves the list."""
    _seed(db)
    with server_connection(db) as c:
        c.execute("create index t_v on t (v)")
        c.execute("create unique index t_id_v on t (id, v)")
    unused = maintenance.unused_indexes(conn)
    assert [r["index"] for r in unused] == ["t_v"]
    assert unused[0]["size_bytes"] > 0
    assert "CREATE INDEX t_v" in unused[0]["definition"]
    assert {r["index"] for r in maintenance.indexes(conn, "public", "t")} == {
        "t_pkey",
        "t_v",
        "t_id_v",
    }
    with server_connection(db) as c:
        c.execute("set enable_seqscan = off")
        c.execute("set enable_bitmapscan = off")
        c.execute("select * from t where v = 'x'")
        c.execute("select pg_stat_force_next_flush()")
    assert maintenance.unused_indexes(conn) == []


@pytest.mark.parametrize("name", [HOSTILE, UNICODE], ids=["hostile", "unicode"])
def test_every_action_quotes_names(db: str, conn: AdminConnection, name: str) -> None:
    """Schema, table and index named `x"; DROP TABLE t; --` or with emoji: every action works
    on exactly that object and nothing else is touched."""
    with server_connection(db) as c:
        c.execute("create table t (id int)")
    _seed(db, schema=name, table=name)
    index = name + " idx"
    with server_connection(db) as c:
        c.execute(
            sql.SQL("create index {} on {} (v)").format(
                sql.Identifier(index), sql.Identifier(name, name)
            )
        )

    assert _row(conn, name, name)["dead_rows"] == 500
    result = _vacuum_until_clean(conn, name, name)[0]
    assert result.dead_rows_before == 500
    assert result.target == f"{name}.{name}"
    node = _filenode(db, name, name)
    maintenance.vacuum(conn, None, name, name, full=True)
    assert _filenode(db, name, name) != node
    maintenance.analyze(conn, None, name, name)
    node = _filenode(db, name, index)
    maintenance.reindex(conn, None, name, name)
    assert _filenode(db, name, index) != node
    node = _filenode(db, name, index)
    maintenance.reindex(conn, None, name, index, kind="index", concurrently=True)
    assert _filenode(db, name, index) != node
    assert index in {r["index"] for r in maintenance.unused_indexes(conn)}

    with server_connection(db) as c:
        assert c.execute("select count(*) from public.t").fetchone() == (0,)


def test_missing_table_and_bad_input(db: str, conn: AdminConnection) -> None:
    """A table that is not there is the server's message; empty names and kinds are refused."""
    with pytest.raises(QueryFailed, match="does not exist"):
        maintenance.vacuum(conn, None, "public", "nope")
    with pytest.raises(BadInput):
        maintenance.vacuum(conn, None, "public", "")
    with pytest.raises(BadInput):
        maintenance.reindex(conn, None, "public", "t", kind="schema")  # type: ignore[arg-type]
    with pytest.raises(BadInput):
        maintenance.top_queries(conn, limit=0)


def test_top_queries(db: str, conn: AdminConnection, make_database: Callable[[], str]) -> None:
    """Without pg_stat_statements the page is told to install it; installed, this database's
    statements come back, most total time first; reset forgets them, and only this
    database's (pg_stat_statements is one store for the whole server)."""
    other = make_database()
    with server_connection(other) as c:
        c.execute("select 1 as tusk_other_marker")
    assert maintenance.statements_schema(conn) is None
    with pytest.raises(BadInput, match="not installed"):
        maintenance.top_queries(conn)

    extensions.install(conn, None, "pg_stat_statements")
    assert maintenance.statements_schema(conn) == "public"
    with server_connection(db) as c:
        for _ in range(3):
            c.execute("select count(*) as tusk_marker from generate_series(1, 20000)")
    top = maintenance.top_queries(conn, limit=50)
    mine = [r for r in top if "tusk_marker" in r["query"]]
    assert len(mine) == 1
    assert mine[0]["calls"] == 3
    assert mine[0]["rows"] == 3
    assert mine[0]["total_ms"] > 0
    assert [r["total_ms"] for r in top] == sorted((r["total_ms"] for r in top), reverse=True)

    maintenance.reset_top_queries(conn, None)
    assert not [r for r in maintenance.top_queries(conn) if "tusk_marker" in r["query"]]
    with server_connection(db) as c:  # the whole view, every database
        kept = c.execute(
            "select count(*) from pg_stat_statements where query like '%%tusk_other_marker%%' "
            "and dbid = (select oid from pg_database where datname = %s)",
            (other,),
        ).fetchone()
    assert kept == (1,)


def test_top_queries_in_another_schema(db: str, conn: AdminConnection) -> None:
    """pg_stat_statements installed in a hostile-named schema is still found and read."""
    with server_connection(db) as c:
        c.execute(sql.SQL("create schema {}").format(sql.Identifier(HOSTILE)))
    extensions.install(conn, None, "pg_stat_statements", schema=HOSTILE)
    assert maintenance.statements_schema(conn) == HOSTILE
    assert isinstance(maintenance.top_queries(conn), list)


def test_permissions_and_audit(db: str, conn: AdminConnection, users: dict) -> None:
    """Viewer, Analyst and Data Engineer are refused by the library itself and nothing runs;
    an admin's VACUUM, ANALYZE and REINDEX are audited after they succeed."""
    _seed(db)
    for who in ("viewer", "analyst", "engineer"):
        actor = users[who]
        with pytest.raises(PermissionDenied):
            maintenance.vacuum(conn, actor, "public", "t", full=True)
        with pytest.raises(PermissionDenied):
            maintenance.analyze(conn, actor, "public", "t")
        with pytest.raises(PermissionDenied):
            maintenance.reindex(conn, actor, "public", "t")
        with pytest.raises(PermissionDenied):
            maintenance.reset_top_queries(conn, actor)
    with pytest.raises(PermissionDenied):
        maintenance.vacuum(conn, None, "public", "t")  # signed out, in multi-user mode
    row = _row(conn, "public", "t")
    assert (row["vacuum_count"], row["analyze_count"], row["dead_rows"]) == (0, 0, 500)
    assert not audit_log(action="maintenance.vacuum")

    admin = users["admin"]
    maintenance.vacuum(conn, admin, "public", "t", analyze=True)
    maintenance.analyze(conn, admin, "public", "t")
    maintenance.reindex(conn, admin, "public", "t_pkey", kind="index")
    (entry,) = audit_log(action="maintenance.vacuum")
    assert (entry.actor, entry.target) == ("admin", "public.t")
    assert 'VACUUM (ANALYZE) "public"."t"' in entry.detail
    assert db in entry.detail
    assert audit_log(action="maintenance.analyze")[0].target == "public.t"
    assert audit_log(action="maintenance.reindex")[0].target == "public.t_pkey"

    with pytest.raises(QueryFailed):
        maintenance.vacuum(conn, admin, "public", "nope")
    assert len(audit_log(action="maintenance.vacuum")) == 1  # failures are not audited


def test_vacuum_runs_outside_a_transaction(db: str, conn: AdminConnection) -> None:
    """The admin connection is autocommit, which VACUUM requires; a plain connection in a
    transaction would be refused by the server (the reason the library uses `execute`)."""
    _seed(db)
    with (
        server_connection(db) as c,
        c.transaction(),
        pytest.raises(psycopg.errors.ActiveSqlTransaction),
    ):
        c.execute("vacuum t")
    assert maintenance.vacuum(conn, None, "public", "t").status == "VACUUM"
