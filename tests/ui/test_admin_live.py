"""The Admin page's frame and live tabs (Dashboard, Activity, Locks) driven with AppTest."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

import psycopg
import pytest

from tests.admin.conftest import server_connection
from tests.conftest import pg_spec, wait_for
from tests.ui.conftest import admin_tab, open_admin
from tusk import admin, connections
from tusk.admin import AdminConnection, activity, locks
from tusk.auth.users import get_user
from tusk.engines.spec import ConnectionSpec
from tusk.ui.admin.page import TAB_KEY

pytestmark = pytest.mark.postgres


class Sleeper:
    """A client session running a statement in a thread, to be seen and killed."""

    def __init__(self, db: str, statement: str, autocommit: bool = True) -> None:
        self.conn = server_connection(db)
        self.conn.autocommit = autocommit
        self.pid = self.conn.info.backend_pid
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(statement,), daemon=True)

    def _run(self, statement: str) -> None:
        try:
            self.conn.execute(statement)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.error = exc

    def start(self) -> Sleeper:
        """Start the statement."""
        self.thread.start()
        return self


@pytest.fixture
def saved_pg(db: str) -> ConnectionSpec:
    """The test database saved as the only PostgreSQL connection."""
    return connections.add(pg_spec(db, name="pg main"))


@pytest.fixture
def watch(saved_pg: ConnectionSpec) -> Iterator[AdminConnection]:
    """The test's own admin connection, to wait for the server to show what a test set up."""
    conn = admin.connect(saved_pg)
    yield conn
    conn.close()


@pytest.fixture
def cleanup() -> Iterator[list[psycopg.Connection]]:
    """Connections to close after the test."""
    opened: list[psycopg.Connection] = []
    yield opened
    for c in opened:
        with contextlib.suppress(Exception):  # a terminated session may fail to close
            c.close()


def test_no_postgres_connection_says_what_to_do() -> None:
    """With only the demo DuckDB saved, the page explains and links to the Studio."""
    at = open_admin()
    assert not at.exception
    assert "No PostgreSQL connection yet" in at.info[0].value


def test_unreachable_server_is_a_clear_error() -> None:
    """A server that does not answer gives Connection failed, and the page stays up."""
    connections.add(ConnectionSpec("far", "postgres", host="10.255.255.1", port=5432))
    at = open_admin()
    assert not at.exception
    assert "Connection failed" in at.error[0].value
    assert at.button(key="admin_retry")


def test_dashboard_shows_facts_and_charts_after_two_samples(saved_pg: ConnectionSpec) -> None:
    """The dashboard's metrics come from the server; a second tick gives the rate charts."""
    at = open_admin("tusk.ui.admin.dashboard")
    assert not at.exception
    labels = [m.label for m in at.metric]
    assert {"Connections", "Cache hit ratio", "Commits", "Deadlocks"} <= set(labels)
    connections_metric = next(m for m in at.metric if m.label == "Connections")
    assert " / " in connections_metric.value
    monitor = at.session_state["tusk_admin_monitors"]["pg main"]
    assert len(monitor.samples) == 1
    assert len(at.get("vega_lite_chart")) == 1  # sessions by state; no rate from one sample
    monitor.taken_at -= 2  # as if the 5 s refresh had come (a quick rerun reuses the sample)
    at.run()
    assert not at.exception
    assert len(monitor.samples) == 2
    charts = at.get("vega_lite_chart")
    assert len(charts) == 3  # transactions/s, sessions by state, block reads vs hits
    assert any("PostgreSQL 15" in m.value for m in at.markdown)


def test_activity_lists_a_session_and_cancels_it(
    watch: AdminConnection, db: str, cleanup: list[psycopg.Connection]
) -> None:
    """A sleeping client shows up; choosing it and confirming Cancel stops its statement."""
    sleeper = Sleeper(db, "select pg_sleep(60)").start()
    cleanup.append(sleeper.conn)
    wait_for(
        lambda: any(s.pid == sleeper.pid and s.state == "active" for s in activity.sessions(watch)),
        "the sleeper",
    )
    at = open_admin("tusk.ui.admin.activity")
    assert not at.exception
    table = at.dataframe[0].value
    assert sleeper.pid in list(table["pid"])
    at.selectbox(key="admin_act_pid").set_value(sleeper.pid).run()
    at.button(key="admin_act_cancel").click().run()
    assert not at.exception
    at.button(key="admin_signal_yes").click().run()
    assert not at.exception
    sleeper.thread.join(10)
    assert isinstance(sleeper.error, psycopg.errors.QueryCanceled)
    assert sleeper.conn.execute("select 1").fetchone() == (1,)  # cancel keeps the session


def test_locks_tab_draws_the_chain_and_terminates_the_root(
    watch: AdminConnection, db: str, cleanup: list[psycopg.Connection]
) -> None:
    """A holds a lock, B waits: the graph is drawn, and Terminate on the root frees B."""
    with server_connection(db) as setup:
        setup.execute("create table t (id int primary key)")
        setup.execute("insert into t values (1)")
    holder = server_connection(db)
    cleanup.append(holder)
    holder.autocommit = False
    holder.execute("update t set id = 1 where id = 1")
    waiter = Sleeper(db, "update t set id = 1 where id = 1").start()
    cleanup.append(waiter.conn)
    wait_for(lambda: waiter.pid in locks.blocking_graph(watch).sessions, "B to wait")
    at = open_admin("tusk.ui.admin.locks")
    assert not at.exception
    assert at.get("graphviz_chart"), "the blocking graph is drawn"
    holder_pid = holder.info.backend_pid
    assert any(f"Root blocker {holder_pid}" in m.value for m in at.markdown)
    at.button(key=f"admin_locks_terminate_{holder_pid}").click().run()
    at.button(key="admin_signal_yes").click().run()
    assert not at.exception
    waiter.thread.join(10)
    assert waiter.error is None  # B got the row once A was gone
    rows = at.dataframe  # the raw pg_locks grid is there and capped
    assert rows


def test_data_engineer_sees_but_cannot_kill_and_viewer_is_stopped(
    saved_pg: ConnectionSpec,
    db: str,
    watch: AdminConnection,
    cleanup: list[psycopg.Connection],
    multi_user: Callable[..., None],
) -> None:
    """admin.view without admin.processes: Cancel/Terminate are off and Backups explains;
    a Viewer cannot open Admin at all."""
    multi_user({"ed": "Data Engineers", "vera": "Viewers"})
    sleeper = Sleeper(db, "select pg_sleep(60)").start()
    cleanup.append(sleeper.conn)
    wait_for(lambda: any(s.pid == sleeper.pid for s in activity.sessions(watch)), "the sleeper")
    ed = open_admin(user="ed")
    ed.session_state[TAB_KEY] = admin_tab("tusk.ui.admin.activity")
    ed.run()
    assert not ed.exception
    assert sleeper.pid in list(ed.dataframe[0].value["pid"])  # admin.view: may look
    assert ed.button(key="admin_act_cancel").disabled  # no admin.processes: may not kill
    assert ed.button(key="admin_act_terminate").disabled
    activity.cancel(watch, sleeper.pid, actor=get_user("admin"))
    ed.session_state[TAB_KEY] = admin_tab("tusk.ui.admin.backup")
    ed.run()
    assert any("admin.backup" in i.value for i in ed.info)

    vera = open_admin(user="vera")
    assert any("Permission denied" in e.value for e in vera.error)
