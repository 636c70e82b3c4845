"""Issue 13, cases 11 and 12: a Studio tab runs only on the connection its user chose, and a
lost PostgreSQL connection is reopened by the next Run, never by re-running a statement.

Case 11 acts as the user whose tab's connection was deleted or renamed by someone else (or
named by a stale draft, a shared link, a saved query): before the fix the tab silently moved
to `demo` and the next Run executed its `delete` there. Case 12 ends the tab's PostgreSQL
session on the server (`pg_terminate_backend`, what a restart does to every client) and runs
again."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import pg_spec, server_connection, wait_for
from tests.ui.conftest import GEO, STUDIO, open_app, open_page, settle, studio_side
from tests.ui.test_studio import active, type_and_submit
from tusk import config, connections
from tusk.engines.spec import ConnectionSpec
from tusk.errors import ConnectionLost, QueryFailed
from tusk.store import history, saved

HOSTILE = "delete from order_items"  # no foreign key stops it on the demo; 3 rows in "shop"


def studio() -> AppTest:
    """The Studio page, opened from Home like a user would."""
    return open_page(STUDIO)


def pick(at: AppTest, name: str) -> None:
    """Choose the active tab's connection in the sidebar picker."""
    at.selectbox(key=f"studio_conn_{active(at).id}").set_value(name).run()
    assert not at.exception
    assert active(at).connection == name


def shop(tmp_path: Path, name: str = "shop") -> ConnectionSpec:
    """A saved SQLite connection whose `order_items` table has 3 rows."""
    path = tmp_path / f"{name}.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("create table order_items (id integer)")
        db.executemany("insert into order_items values (?)", [(1,), (2,), (3,)])
    spec = ConnectionSpec(name, "sqlite", path=str(path))
    connections.add(spec)
    return spec


def shop_rows(spec: ConnectionSpec) -> int:
    """Rows left in the shop database's `order_items` (read straight from the file)."""
    with sqlite3.connect(spec.path or "") as db:
        return int(db.execute("select count(*) from order_items").fetchone()[0])


def refused(at: AppTest, name: str) -> bool:
    """True when the page says the tab's connection `name` is gone and asks for another."""
    return any(
        name in e.value and "deleted or renamed" in e.value and "choose a connection" in e.value
        for e in at.error
    )


def hostile_runs() -> list[str]:
    """Connections the hostile statement was run on (history records every run)."""
    return [e.connection for e in history.search("delete", limit=100)]


def demo_items() -> int:
    """The demo's order_items count, read by the library (before the page opens the demo)."""
    from tusk.engines.registry import connect

    conn = connect(connections.ensure_demo())
    try:
        return int(conn.execute("select count(*) from order_items").table.column(0)[0].as_py())
    finally:
        conn.close()


def demo_items_seen(at: AppTest) -> int:
    """The demo's order_items count, asked through the page after choosing the demo."""
    pick(at, connections.DEMO_NAME)
    type_and_submit(at, "select count(*) as n from order_items")
    (o,) = active(at).outcomes
    assert o.error is None, o.error
    return int(o.result.table.column("n")[0].as_py())


def assert_stopped_and_kept(at: AppTest, name: str, sql: str = HOSTILE) -> None:
    """Run (button and Ctrl+Enter) is refused, nothing ran, the tab keeps SQL and name."""
    settle(at.button(key="studio_run").click().run())
    assert not at.exception
    assert refused(at, name), [e.value for e in at.error]
    type_and_submit(at, sql)  # Ctrl+Enter refuses the same way
    assert refused(at, name), [e.value for e in at.error]
    tab = active(at)
    assert (tab.sql, tab.connection) == (sql, name)
    assert at.selectbox(key=f"studio_conn_{tab.id}").value is None  # "Choose a connection"
    assert hostile_runs() == []


# --- case 11: a tab whose connection is gone stops and asks ------------------------------------


def test_connection_deleted_by_someone_else(tmp_path: Path) -> None:
    """The tab used `shop` (open in this session); the CLI deletes it: Run refuses, neither
    the demo nor the deleted database loses a row, and the user then picks the demo."""
    before = demo_items()
    spec = shop(tmp_path)
    at = studio()
    pick(at, "shop")
    type_and_submit(at, "select count(*) as n from order_items")  # the session now holds it open
    assert active(at).outcomes[0].result.table.column("n")[0].as_py() == 3
    type_and_submit(at, HOSTILE, kind="change")

    connections.delete("shop")  # another user, or `tusk connections delete shop`
    at.run()
    assert any("shop" in w.value and "deleted or renamed" in w.value for w in at.warning)
    assert_stopped_and_kept(at, "shop")
    assert shop_rows(spec) == 3  # the cached connection to the deleted one was not used
    assert demo_items_seen(at) == before


def test_connection_deleted_from_this_tab(tmp_path: Path) -> None:
    """Deleting the tab's own connection in the Studio's dialog leaves the tab asking too
    (it used to land on the demo with its SQL)."""
    before = demo_items()
    shop(tmp_path)
    at = studio()
    pick(at, "shop")
    type_and_submit(at, HOSTILE, kind="change")
    at.button(key="studio_conn_delete").click().run()
    at.button(key="connform_delete").click().run()
    assert "shop" not in connections.names()
    assert_stopped_and_kept(at, "shop")
    assert demo_items_seen(at) == before


def test_connection_renamed_by_someone_else(tmp_path: Path) -> None:
    """A rename makes the old name gone as well: the tab asks; the user picks the new name
    and the statement runs there, and only there."""
    before = demo_items()
    spec = shop(tmp_path)
    at = studio()
    pick(at, "shop")
    type_and_submit(at, HOSTILE, kind="change")
    connections.update("shop", spec.with_changes(name="shop 2"))
    at.run()
    assert_stopped_and_kept(at, "shop")
    pick(at, "shop 2")
    settle(at.button(key="studio_run").click().run())
    assert active(at).outcomes[0].error is None
    assert shop_rows(spec) == 0
    assert hostile_runs() == ["shop 2"]
    assert demo_items_seen(at) == before


def test_draft_restored_on_a_deleted_connection(tmp_path: Path) -> None:
    """A reload restores the tab's draft; its connection was deleted meanwhile: it asks."""
    before = demo_items()
    shop(tmp_path)
    at = studio()
    pick(at, "shop")
    type_and_submit(at, HOSTILE, kind="change")
    assert HOSTILE in (config.home() / "studio-tabs.json").read_text()
    connections.delete("shop")

    fresh = studio()  # a new browser session restores the drafts
    assert active(fresh).connection == "shop"
    assert_stopped_and_kept(fresh, "shop")
    assert demo_items_seen(fresh) == before


def test_shared_link_to_an_unknown_connection() -> None:
    """A link naming a connection the user does not have opens the SQL, but on no connection."""
    before = demo_items()
    at = open_app()
    at.query_params["connection"] = "prod"
    at.query_params["sql"] = HOSTILE
    at.switch_page(STUDIO).run()
    assert not at.exception
    assert any("prod" in w.value for w in at.warning)
    assert active(at).title == "Shared"
    assert_stopped_and_kept(at, "prod")
    assert demo_items_seen(at) == before


def test_saved_query_of_a_deleted_connection(tmp_path: Path) -> None:
    """Opening a saved query whose connection was deleted gives a tab that asks."""
    before = demo_items()
    shop(tmp_path)
    query = saved.save_query("Purge", HOSTILE, None, "shop")
    connections.delete("shop")
    at = studio_side(studio(), "Saved")
    at.button(key=f"saved_open_{query.id}").click().run()
    assert active(at).title == "Purge"
    assert_stopped_and_kept(at, "shop")
    assert demo_items_seen(at) == before


# --- case 12: a lost PostgreSQL connection -------------------------------------------------------


def _terminate(pid: int) -> None:
    """End a backend from a separate admin connection, as a server restart does."""
    with server_connection() as admin:
        admin.execute("select pg_terminate_backend(%s)", [pid])
        wait_for(
            lambda: (
                not admin.execute("select 1 from pg_stat_activity where pid = %s", [pid]).fetchall()
            ),
            f"backend {pid} to end",
        )


def _pid(at: AppTest) -> int:
    type_and_submit(at, "select pg_backend_pid() as pid")
    (o,) = active(at).outcomes
    assert o.error is None, o.error
    return int(o.result.table.column("pid")[0].as_py())


@pytest.mark.postgres
def test_lost_connection_reconnects_on_the_next_run(db: str) -> None:
    """The session is ended under the tab: the next Run says the connection was lost and
    that running again reconnects — without running the statement a second time — and the
    Run after it works on a new session."""
    connections.add(pg_spec(db, name="pg"))
    at = studio()
    pick(at, "pg")
    type_and_submit(at, "create table t (x int)")
    first = _pid(at)
    _terminate(first)

    type_and_submit(at, "insert into t values (1)")
    (o,) = active(at).outcomes
    assert isinstance(o.error, ConnectionLost)
    shown = [e.value for e in at.error]
    assert any("Connection lost" in e and "reconnects" in e for e in shown), shown
    assert active(at).sql == "insert into t values (1)"

    second = _pid(at)  # this Run reconnected
    assert second != first
    type_and_submit(at, "select count(*) as n from t")
    assert active(at).outcomes[0].result.table.column("n")[0].as_py() == 0  # never re-run


@pytest.mark.postgres
def test_engine_maps_a_lost_connection(db: str) -> None:
    """execute, catalog and a second call on the dead connection all raise ConnectionLost;
    a client-side OperationalError on a live connection stays a plain QueryFailed."""
    from tusk.engines.registry import connect

    conn = connect(pg_spec(db))
    try:
        too_many = "select " + ",".join(["%s"] * 70_000)
        with pytest.raises(QueryFailed) as caught:
            conn.execute(too_many, [1] * 70_000)
        assert not isinstance(caught.value, ConnectionLost)
        pid = conn.execute("select pg_backend_pid()").table.column(0)[0].as_py()
        _terminate(pid)
        with pytest.raises(ConnectionLost, match="terminating connection"):
            conn.execute("select 1")
        with pytest.raises(ConnectionLost):
            conn.execute("select 1")  # libpq's "the connection is closed": no SQLSTATE
        with pytest.raises(ConnectionLost):
            conn.catalog()
    finally:
        conn.close()


@pytest.mark.postgres
def test_geo_page_reconnects_after_a_lost_connection(db: str) -> None:
    """The Geo page's query path drops a lost connection as well: the next "Map it" works."""
    connections.add(pg_spec(db, name="pg"))
    at = open_page(GEO)
    at.selectbox(key="geo_conn").set_value("pg").run()
    sql = "select 1.5 as lon, 2.5 as lat, pg_backend_pid() as pid"
    at.text_area(key="geo_sql_pg").set_value(sql).run()
    at.button(key="geo_run").click().run()
    assert not at.error, [e.value for e in at.error]
    loaded = at.session_state["tusk_geo_loaded"]
    pid = loaded[1].column("pid")[0].as_py()
    _terminate(pid)
    at.button(key="geo_run").click().run()
    assert any("Connection lost" in e.value for e in at.error)
    at.button(key="geo_run").click().run()
    assert not at.error, [e.value for e in at.error]
    assert at.session_state["tusk_geo_loaded"][1].column("pid")[0].as_py() != pid


def test_connection_saved_again_under_the_same_name(tmp_path: Path) -> None:
    """`shop` is deleted and saved again with the same name on another database: the
    session's open connection to the deleted one is closed, and the Run uses the saved one."""
    old = shop(tmp_path)
    at = studio()
    pick(at, "shop")
    type_and_submit(at, "select count(*) as n from order_items")  # the session holds it open
    connections.delete("shop")
    (tmp_path / "elsewhere").mkdir()
    new = shop(tmp_path / "elsewhere")
    type_and_submit(at, HOSTILE)
    assert active(at).outcomes[0].error is None
    assert (shop_rows(old), shop_rows(new)) == (3, 0)


def test_data_page_import_never_lands_on_demo_when_its_target_is_deleted(
    tmp_path: Path,
) -> None:
    """Streamlit resets a picker whose choice is gone to its first option (the demo): an
    Import clicked after the chosen target was deleted must import nothing."""
    from tests.ui.conftest import DATA

    connections.add(ConnectionSpec("mine", "duckdb", path=str(tmp_path / "mine.duckdb")))
    at = open_page(DATA)
    at.selectbox(key="data_src_root").set_value("demo").run()
    at.selectbox(key="data_src_file").set_value("customers.csv").run()
    at.button(key="data_use_source").click().run()
    at.selectbox(key="data_imp_conn").set_value("mine").run()
    at.text_input(key="data_imp_table").set_value("cities").run()
    at.selectbox(key="data_imp_mode").set_value("replace").run()
    connections.delete("mine")  # by someone else, meanwhile
    at.button(key="data_imp_go").click().run()
    assert not at.exception
    assert any("Connection gone" in e.value for e in at.error)
    demo = connections.open_for(connections.ensure_demo())
    try:  # the demo's cities table was not replaced by customers
        assert demo.execute("select count(*) as n from cities").table.to_pylist() == [{"n": 12}]
    finally:
        demo.close()
