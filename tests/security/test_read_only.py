"""Issue 13, case 3: a Viewer (no connections.use) runs nothing on a saved connection — not
the admin's superuser PostgreSQL — and on the demo runs read-only statements, enforced by the
engine (a read-only transaction or file mode), not by parsing SQL. Every engine's
set_read_only holds against the usual ways around it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import pg_spec, server_connection
from tusk import connections, queries
from tusk.auth.groups import set_group_permissions
from tusk.auth.users import get_user
from tusk.engines import isolation
from tusk.engines.registry import connect
from tusk.engines.spec import ConnectionSpec
from tusk.errors import PermissionDenied, QueryFailed, TuskError

WRITES = (
    "create table intruder (a int)",
    "drop table victim",
    "insert into victim values (2)",
    "delete from victim",
    "commit; drop table victim",
    "begin; drop table victim",
)


def _victim_count(conn: Any) -> int:
    return int(conn.execute("select count(*) as n from victim").table.column(0)[0].as_py())


@pytest.mark.postgres
def test_viewer_cannot_use_the_admins_postgres_connection(
    users: dict[str, Any], pg_database: str
) -> None:
    with server_connection(pg_database) as admin:
        admin.execute("drop table if exists victim; create table victim (a int)")
        admin.execute("insert into victim values (1)")
    spec = connections.add(pg_spec(pg_database, "prod"), actor=users["admin"])
    viewer = users["viewer"]
    with pytest.raises(PermissionDenied, match="connections.use"):
        connections.open_for(spec, viewer)
    # Even with a session opened by someone else, a run is refused for the Viewer.
    conn = connections.open_for(spec, users["analyst"])
    try:
        with pytest.raises(PermissionDenied, match="connections.use"):
            queries.run(spec, conn, "drop table victim", actor=viewer)
        # A permission taken away stops the next statement of an open session.
        set_group_permissions("Analysts", ["queries.execute", "connections.view"])
        with pytest.raises(PermissionDenied, match="connections.use"):
            queries.run(spec, conn, "select 1", actor=users["analyst"])
    finally:
        conn.close()
    with server_connection(pg_database) as admin:
        assert admin.execute("select count(*) from victim").fetchone() == (1,)


@pytest.mark.parametrize("where", ["in-process", "worker"])
def test_viewer_reads_the_demo_but_never_changes_it(users: dict[str, Any], where: str) -> None:
    if where == "worker":
        isolation.enable()
    demo = connections.ensure_demo()
    viewer = connections.open_for(demo, users["viewer"])
    analyst = connections.open_for(demo, users["analyst"])
    try:
        analyst.execute("create or replace table victim as select 1 as a")
        for sql in (*WRITES, "drop table cities", "attach ':memory:' as m", "checkpoint; commit"):
            with pytest.raises(QueryFailed):
                queries.run(demo, viewer, sql, actor=users["viewer"])
        with pytest.raises(QueryFailed, match="read-only"):
            viewer.load_arrow("intruder", __import__("pyarrow").table({"a": [1]}))
        assert _victim_count(viewer) == 1
        assert queries.run(
            demo, viewer, "select count(*) as n from cities", actor=users["viewer"]
        ).table.to_pylist() == [{"n": 12}]
        # Reading works on a stream too, and the stream cannot write either.
        assert sum(b.num_rows for b in viewer.stream_arrow("select * from cities")) == 12
        with pytest.raises(QueryFailed):
            list(viewer.stream_arrow("commit; drop table victim"))
        # The analyst (connections.use) still writes: read-only was the viewer's alone.
        analyst.execute("insert into victim values (2)")
        assert _victim_count(analyst) == 2
    finally:
        viewer.close()
        analyst.close()


# --- every engine's set_read_only -------------------------------------------------------------


def _sqlite(tmp_path: Path) -> ConnectionSpec:
    path = tmp_path / "ro.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("create table victim (a int)")
        db.execute("insert into victim values (1)")
    return ConnectionSpec("s", "sqlite", path=str(path))


def _duckdb(tmp_path: Path) -> ConnectionSpec:
    spec = ConnectionSpec("d", "duckdb", path=str(tmp_path / "ro.duckdb"))
    conn = connect(spec)
    conn.execute("create table victim as select 1 as a")
    conn.close()
    return spec


def _postgres(pg_database: str) -> ConnectionSpec:
    with server_connection(pg_database) as admin:
        admin.execute("drop table if exists victim; create table victim (a int)")
        admin.execute("insert into victim values (1)")
    return pg_spec(pg_database)


ENGINES: dict[str, Callable[..., ConnectionSpec]] = {
    "sqlite": _sqlite,
    "duckdb": _duckdb,
    "postgres": _postgres,
}


@pytest.mark.parametrize(
    "engine",
    ["sqlite", "duckdb", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def test_a_read_only_session_refuses_every_write(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    arg = request.getfixturevalue("pg_database") if engine == "postgres" else tmp_path
    spec = ENGINES[engine](arg)
    conn = connect(spec)
    conn.set_read_only()
    tricks = {
        "sqlite": ("pragma query_only = 0; delete from victim", "pragma writable_schema = 1"),
        "duckdb": ("set access_mode = 'read_write'", "detach memory"),
        "postgres": (
            "set transaction read write; drop table victim",
            "set default_transaction_read_only = off; drop table victim",
            # Our splitter and PostgreSQL disagree on E'' strings: one statement to us,
            # three to the server — refused by the extended protocol, one statement per call.
            "select E'\\''; commit; drop table victim; select ''",
            "do $$ begin execute 'set transaction read write'; execute 'drop table victim'; end $$",
            "with d as (delete from victim returning *) select * from d",
        ),
    }[engine]
    try:
        for sql in (*WRITES, *tricks):
            with pytest.raises(TuskError):
                conn.execute(sql)
        assert _victim_count(conn) == 1
        assert conn.execute("select a from victim").table.to_pylist() == [{"a": 1}]
    finally:
        conn.close()
    fresh = connect(spec)
    try:
        assert _victim_count(fresh) == 1
    finally:
        fresh.close()


def test_a_connection_saved_read_only_is_read_only_for_everyone(
    users: dict[str, Any], tmp_path: Path
) -> None:
    spec = _sqlite(tmp_path)
    path = Path(spec.path or "")
    inside = users["admin"]  # system.settings: may save a file outside the data roots
    saved = connections.add(
        spec.with_changes(name="report", options={"read_only": "true"}), actor=inside
    )
    conn = connections.open_for(saved, users["admin"])
    try:
        with pytest.raises(QueryFailed, match="read-only"):
            conn.execute("delete from victim")
    finally:
        conn.close()
    assert path.exists()


def test_viewer_in_the_studio_gets_a_read_only_demo(multi_user: Callable[..., None]) -> None:
    """Through the page: the Viewer's DROP on the demo is refused by the engine, shown as an
    error, the SQL stays in the tab and the table stays in the database."""
    from tests.ui.conftest import STUDIO, open_page
    from tests.ui.test_studio import active, outcomes, type_and_submit

    multi_user({"vera": "Viewers"})
    at = open_page(STUDIO, user="vera")
    type_and_submit(at, "drop table order_items")
    (o,) = outcomes(at)
    assert o.result is None and "read-only" in o.error.message
    assert any("read-only" in e.value.replace("\\", "") for e in at.error)  # Markdown-escaped
    assert active(at).sql == "drop table order_items"
    type_and_submit(at, "select count(*) as n from order_items")
    assert outcomes(at)[0].result.table.num_rows == 1


def test_the_studio_offers_a_viewer_only_what_they_may_run(
    multi_user: Callable[..., None], tmp_path: Path
) -> None:
    """A Viewer's tab restored on a saved connection (a draft, a shared link) asks instead
    of running, and the picker offers only the demo."""
    from tests.ui.conftest import STUDIO, open_page
    from tests.ui.test_studio import active, outcomes, type_and_submit

    multi_user({"vera": "Viewers"})
    connections.add(_sqlite(tmp_path).with_changes(name="prod"), actor=get_user("admin"))
    at = open_page(STUDIO, user="vera")
    tab = active(at)
    assert at.selectbox(key=f"studio_conn_{tab.id}").options == [connections.DEMO_NAME]
    tab.connection = "prod"  # as a restored draft or a shared link would name it
    type_and_submit(at, "delete from victim")
    assert not outcomes(at)
    assert any("connections.use" in w.value for w in at.warning)
