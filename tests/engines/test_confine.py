"""SQL on a shared Tusk reads files only inside the data roots (Connection.confine).

An Analyst with queries.execute must not read TUSK_HOME's secret key, /etc or another user's
files through DuckDB's read_text, SQLite's ATTACH, DataFusion's CREATE EXTERNAL TABLE or
Daft's FROM '/path'. Each engine is confined for real and every way out is tried.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tusk import config, connections, files
from tusk.cluster import client
from tusk.engines.duckdb import DuckDBConnection, open_duckdb
from tusk.engines.registry import connect
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput, PermissionDenied, QueryFailed, TuskError


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    """A data root "lake" with a CSV and a SQLite file, and a secret file outside it."""
    lake = tmp_path / "lake"
    lake.mkdir()
    (lake / "people.csv").write_text("id,name\n1,ann\n2,bob\n", encoding="utf-8")
    db = sqlite3.connect(lake / "shop.sqlite")
    db.executescript("create table items (id integer primary key); insert into items values (7);")
    db.commit()
    db.close()
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "secret.csv").write_text("key\nhunter2\n", encoding="utf-8")
    (lake / "escape").symlink_to(outside)  # a link inside the root that leaves it
    config.set_value("data_roots", str(lake))
    return lake, outside


def duck(lake: Path, *, write: bool = True) -> DuckDBConnection:
    """An in-memory DuckDB session confined to `lake`."""
    conn = DuckDBConnection(open_duckdb(None))
    conn.confine([lake], write=write)
    return conn


def test_duckdb_reads_inside_the_roots_only(roots: tuple[Path, Path]) -> None:
    lake, outside = roots
    conn = duck(lake)
    rows = conn.execute(f"select name from read_csv('{lake}/people.csv') order by id").table
    assert rows.column("name").to_pylist() == ["ann", "bob"]
    for sneaky in (
        f"select * from read_csv('{outside}/secret.csv')",
        f"select * from read_text('{lake}/../private/secret.csv')",
        f"select * from read_text('{lake}/escape/secret.csv')",  # the symlink
        "select * from read_text('/etc/passwd')",
        "select * from glob('/etc/*')",
        f"attach '{outside}/x.db' as x",
    ):
        with pytest.raises(QueryFailed, match="data roots"):
            conn.execute(sneaky)
    # The confinement cannot be lifted from SQL, and extensions cannot be loaded around it.
    for undo in (
        "set enable_external_access = true",
        "set allowed_directories = ['/']",
        "load httpfs",
    ):
        with pytest.raises(QueryFailed):
            conn.execute(undo)
    with pytest.raises(QueryFailed, match="data roots"):
        conn.execute("select * from read_text('/etc/passwd')")
    # Settings are locked for everyone on the database (memory, threads, secret folders).
    for setting in ("set memory_limit = '1MB'", "set threads = 1", "set secret_directory = '/'"):
        with pytest.raises(QueryFailed, match="locked"):
            conn.execute(setting)
    # The SQLite and PostgreSQL scanners read past allowed_directories (SQLite's own file I/O,
    # libpq with this server's ~/.pgpass): they are not there; spatial's st_read, which reads
    # through DuckDB's file system, reads a SQLite file inside the root, and only there.
    for scanner in (
        f"select * from sqlite_scan('{outside}/secret.csv', 't')",
        "select * from postgres_scan('host=127.0.0.1 dbname=postgres', 'public', 't')",
    ):
        with pytest.raises(QueryFailed, match="not in the catalog"):
            conn.execute(scanner)
    read = f"select id from st_read('{lake}/shop.sqlite', layer => 'items')"
    assert conn.execute(read).table.to_pylist() == [{"id": 7}]
    sqlite3.connect(outside / "private.db").executescript(
        "create table k (v); insert into k values (1);"
    )
    with pytest.raises(QueryFailed):
        conn.execute(f"select * from st_read('{outside}/private.db', layer => 'k')")
    with pytest.raises(BadInput, match="st_read"):
        conn.attach_sqlite(lake / "shop.sqlite", "shop")


def test_duckdb_with_a_scanner_loaded_refuses_to_be_confined(roots: tuple[Path, Path]) -> None:
    conn = DuckDBConnection(open_duckdb(None, ["sqlite_scanner"]))
    with pytest.raises(QueryFailed, match="sqlite_scanner"):
        conn.confine([roots[0]])
    assert not conn.confined


def test_duckdb_writes_need_write(roots: tuple[Path, Path]) -> None:
    lake, outside = roots
    writer = duck(lake, write=True)
    writer.execute(f"copy (select 1 as a) to '{lake}/out.csv'")
    assert (lake / "out.csv").exists()
    with pytest.raises(QueryFailed, match="data roots"):
        writer.execute(f"copy (select 1 as a) to '{outside}/out.csv'")
    assert not (outside / "out.csv").exists()

    reader = duck(lake, write=False)
    for statement in (
        f"copy (select 1 as a) to '{lake}/again.csv'",
        f"export database '{lake}/dump'",
        f"attach '{lake}/shop.sqlite' as s",
    ):
        with pytest.raises(QueryFailed, match="data.export"):
            reader.execute(statement)
        with pytest.raises(QueryFailed, match="data.export"):
            list(reader.stream_arrow(statement))
    assert not (lake / "again.csv").exists() and not (lake / "dump").exists()
    assert reader.execute("select 42 as x").table.to_pylist() == [{"x": 42}]


def test_confined_duckdb_cannot_attach_postgres_later(roots: tuple[Path, Path]) -> None:
    conn = duck(roots[0])
    spec = ConnectionSpec("pg", "postgres", host="127.0.0.1", database="postgres", user="u")
    with pytest.raises(BadInput, match="cannot attach PostgreSQL"):
        conn.attach_postgres(spec, "pg")


def test_duckdb_file_database_keeps_working_when_confined(roots: tuple[Path, Path]) -> None:
    """The connection's own database file (outside the roots) stays readable and writable,
    and a big sort can still spill to its private temp directory."""
    lake, _ = roots
    path = roots[1] / "own.duckdb"
    conn = connect(ConnectionSpec("own", "duckdb", path=str(path), options={"extensions": ""}))
    conn.confine([lake], write=False)
    conn.execute("create table t as select range as i from range(100000)")
    conn.execute("insert into t values (-1)")
    conn.execute("checkpoint")
    assert conn.execute("select count(*) as n from t").table.to_pylist() == [{"n": 100001}]
    conn.close()


def test_sqlite_attach_only_inside_the_roots(roots: tuple[Path, Path], tmp_path: Path) -> None:
    lake, outside = roots
    sqlite3.connect(outside / "private.db").close()
    conn = connect(ConnectionSpec("s", "sqlite", path=str(tmp_path / "own.sqlite")))
    conn.confine([lake], write=True)
    conn.execute(f"attach '{lake}/shop.sqlite' as shop")
    assert conn.execute("select id from shop.items").table.to_pylist() == [{"id": 7}]
    for sneaky in (
        f"attach '{outside}/private.db' as p",
        f"attach '{lake}/escape/private.db' as p",
        f"vacuum into '{outside}/copy.db'",
        f"attach 'file:{outside}/private.db?mode=ro' as p",
        f"attach '{outside}' || '/private.db' as p",
    ):
        with pytest.raises(QueryFailed, match="data roots"):
            conn.execute(sneaky)
    assert not (outside / "copy.db").exists()

    reader = connect(ConnectionSpec("r", "sqlite", path=str(tmp_path / "r.sqlite")))
    reader.confine([lake], write=False)
    with pytest.raises(QueryFailed, match="data.export"):
        reader.execute(f"attach '{lake}/shop.sqlite' as shop")
    assert reader.execute("select 1 as one").table.to_pylist() == [{"one": 1}]


def test_datafusion_runs_queries_only(roots: tuple[Path, Path]) -> None:
    lake, outside = roots
    conn = connect(ConnectionSpec("df", "datafusion", path=str(lake)))
    conn.confine([lake])
    assert conn.execute("select count(*) as n from people").table.to_pylist() == [{"n": 2}]
    for sneaky in (
        f"create external table s stored as csv location '{outside}/secret.csv'",
        f"copy (select 1 as a) to '{outside}/out.csv'",
        "set datafusion.catalog.location = '/etc'",
    ):
        with pytest.raises(QueryFailed):
            conn.execute(sneaky)
    assert not (outside / "out.csv").exists()


def test_cluster_sql_reads_only_its_tables(roots: tuple[Path, Path]) -> None:
    """Daft's SQL reads any path named in FROM or read_*(): the check refuses them all
    (no cluster is needed: the check runs before anything is sent)."""
    lake, outside = roots
    tables = {"people": str(lake / "people.csv")}
    client.check_confined("select name from people where id > 1", tables, [lake])
    client.check_confined("with p as (select * from people) select * from p", tables, [lake])
    for sneaky in (
        f"select * from '{outside}/secret.csv'",
        f"select * from read_csv('{outside}/secret.csv')",
        "select * from people join read_parquet('/etc/x') on true",
        'select * from "/etc/passwd"',
        "select * from other.people",
        "select * from secret",
    ):
        with pytest.raises(PermissionDenied):
            client.check_confined(sneaky, tables, [lake])
    with pytest.raises(PermissionDenied, match="data root"):
        client.check_confined("select 1", {"s": str(outside / "secret.csv")}, [lake])
    with pytest.raises(PermissionDenied, match="data root"):
        client.check_confined("select 1", {"s": "http://10.0.0.1/x.csv"}, [lake])


def test_who_is_confined(roots: tuple[Path, Path], users: dict[str, Any]) -> None:
    """On a shared Tusk every signed-in user's SQL is confined, admins too (a DuckDB file is
    one database for all sessions of the process); the trusted CLI is not; a user without
    data.export may not write files; a user without connections.use opens no saved
    connection at all."""
    from tusk.auth.groups import create_group
    from tusk.auth.users import create_user

    lake, outside = roots
    assert files.confinement(None) is None
    assert lake in (files.confinement(users["admin"]) or ())
    assert lake in (files.confinement(users["analyst"]) or ())
    create_group("Readers", perms=["connections.use", "queries.execute"])
    reader = create_user("reader", "correct-horse-battery-9", groups=["Readers"])

    spec = ConnectionSpec("duck", "duckdb", path=str(outside / "d.duckdb"))
    connections.add(spec, actor=users["admin"])
    secret = f"select * from read_csv('{outside}/secret.csv')"
    copy = f"copy (select 1 as a) to '{lake}/v.csv'"

    cli = connections.open_for(spec, None)
    assert cli.execute(secret).table.num_rows == 1
    cli.close()

    with pytest.raises(PermissionDenied, match="connections.use"):
        connections.open_for(spec, users["viewer"])

    # Sessions of several users on the same file at once, as in the Studio's server.
    analyst = connections.open_for(spec, users["analyst"])
    readonly = connections.open_for(spec, reader)
    admin = connections.open_for(spec, users["admin"])
    for conn in (analyst, readonly, admin):
        with pytest.raises(QueryFailed, match="data roots"):
            conn.execute(secret)
    analyst.execute(copy)  # Analysts hold data.export
    admin.execute(copy)
    with pytest.raises(QueryFailed, match="data.export"):
        readonly.execute(copy)
    readonly.execute("create table if not exists t as select 1 as a")  # its own file still works
    for conn in (analyst, readonly, admin):
        conn.close()


def test_a_geo_session_opens_on_a_confined_file(
    roots: tuple[Path, Path], users: dict[str, Any]
) -> None:
    """A DuckDB file another session confined still opens with its extensions (spatial)."""
    lake, outside = roots
    spec = ConnectionSpec("duck", "duckdb", path=str(outside / "g.duckdb"))
    first = connections.open_for(spec, users["analyst"])
    spatial = ConnectionSpec(
        "geo", "duckdb", path=str(outside / "g.duckdb"), options={"extensions": "spatial"}
    )
    second = connections.open_for(spatial, users["engineer"])
    assert second.execute("select st_astext(st_point(1, 2)) as p").table.to_pylist() == [
        {"p": "POINT (1 2)"}
    ]
    second.close()
    first.close()


def test_single_user_mode_is_not_confined(roots: tuple[Path, Path]) -> None:
    """One person on their own machine: DuckDB reads what its user may read, as its CLI does."""
    _, outside = roots
    spec = ConnectionSpec("duck", "duckdb", path=str(outside / "d.duckdb"))
    conn = connections.open_for(spec, None)
    try:
        assert conn.execute(f"select * from read_csv('{outside}/secret.csv')").table.num_rows == 1
    finally:
        conn.close()


def test_open_for_closes_the_session_when_attaching_fails(roots: tuple[Path, Path]) -> None:
    """A PostgreSQL attachment that cannot connect fails the open with a clear error."""
    _, outside = roots
    spec = ConnectionSpec("duck", "duckdb", path=str(outside / "d.duckdb"))
    gone = ConnectionSpec("gone", "postgres", host="127.0.0.1", port=1, database="x", user="u")
    with pytest.raises(TuskError):
        connections.open_for(spec, None, attach=[(gone, "gone")])
    # The file is not left locked by a half-open session.
    connections.open_for(spec, None).close()


def test_cluster_page_local_run_is_confined(
    roots: tuple[Path, Path], users: dict[str, Any]
) -> None:
    """The Cluster page's "Run here" (DataFusion) applies the same rules as the cluster."""
    lake, outside = roots
    tables = {"people": str(lake / "people.csv")}
    ok = client.run_local("select count(*) as n from people", tables, actor=users["analyst"])
    assert ok.to_pylist() == [{"n": 2}]
    with pytest.raises(PermissionDenied):
        client.run_local(
            f"select * from people, '{outside}/secret.csv'", tables, actor=users["analyst"]
        )
    with pytest.raises(PermissionDenied, match="data root"):
        client.run_local("select 1", {"s": str(outside / "secret.csv")}, actor=users["analyst"])
    mine = client.run_local("select 1 as one", {"s": str(outside / "secret.csv")}, actor=None)
    assert mine.to_pylist() == [{"one": 1}]


def test_pipeline_query_source_is_confined(roots: tuple[Path, Path], users: dict[str, Any]) -> None:
    """A Data-page pipeline whose source is a query runs it confined for the signed-in user."""
    from tusk.etl import pipeline, sources

    lake, outside = roots
    spec = ConnectionSpec("duck", "duckdb", path=str(outside / "d.duckdb"))
    connections.add(spec, actor=users["admin"])
    source = sources.QuerySource(
        connection="duck", sql=f"select * from read_csv('{outside}/secret.csv')"
    )
    p = pipeline.Pipeline(source=source)
    with sources.acting_as(users["analyst"]), pytest.raises(TuskError, match="data roots"):
        pipeline.collect(p)
    assert pipeline.collect(p).height == 1  # the trusted CLI (no actor) is not confined
