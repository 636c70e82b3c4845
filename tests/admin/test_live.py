"""Dashboard samples, activity, cancel/terminate and the blocking graph on a real server."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

import psycopg
import pytest
from psycopg import sql

from tests.admin.conftest import HOSTILE, server_connection
from tests.conftest import wait_for
from tusk import admin
from tusk.admin import AdminConnection, activity, locks, server
from tusk.auth.audit import audit_log
from tusk.auth.schema import User
from tusk.errors import BadInput, PermissionDenied

pytestmark = pytest.mark.postgres


class Client:
    """A separate session running statements in a thread (so they can block)."""

    def __init__(self, db: str, name: str) -> None:
        self.conn = server_connection(db)
        self.conn.execute("select set_config('application_name', %s, false)", (name,))
        self.pid = self.conn.info.backend_pid
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None

    def start(self, statement: str | sql.Composable) -> None:
        """Run one statement in the background."""

        def run() -> None:
            try:
                self.conn.execute(statement)
            except BaseException as exc:  # noqa: BLE001 - reported to the test
                self.error = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def join(self, timeout: float = 15.0) -> None:
        """Wait for the background statement to end."""
        assert self.thread is not None
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the statement did not finish"

    def close(self) -> None:
        """Close the session, whatever state it is in."""
        with contextlib.suppress(Exception):  # a terminated session may fail to close cleanly
            self.conn.close()


@pytest.fixture
def clients(db: str) -> Iterator[Callable[[str], Client]]:
    """Make client sessions in the test database; all closed afterwards."""
    made: list[Client] = []

    def make(name: str) -> Client:
        client = Client(db, name)
        made.append(client)
        return client

    yield make
    for c in made:
        c.close()


# --- dashboard ----------------------------------------------------------------------------------


def test_snapshot_and_rates(conn: AdminConnection, clients: Callable[[str], Client]) -> None:
    """A sample holds the server's facts; work between two samples shows up as rates."""
    first = server.snapshot(conn)
    assert first.server_version.startswith("15")
    assert first.max_connections > 0 and first.sessions >= 1
    assert first.uptime_s > 0
    assert first.cache_hit_ratio is None or 0 <= first.cache_hit_ratio <= 1
    worker = clients("tusk-test-load")
    for _ in range(50):
        worker.conn.execute("select 1")
    worker.conn.execute("create table t (g int)")
    worker.conn.execute("insert into t select generate_series(1, 1000)")
    # PG 15 flushes a backend's table counters at session end or after ~10 s idle: close it.
    worker.close()
    wait_for(
        lambda: server.snapshot(conn).tup_inserted >= first.tup_inserted + 1000,
        "the inserts to show",
    )
    second = server.snapshot(conn)
    rate = server.rates(first, second)
    assert rate is not None
    assert rate.commits_s > 0 and rate.transactions_s >= rate.commits_s
    assert rate.tuples_in_s > 0  # the 1000 inserted rows


def test_rates_refuse_a_reset(conn: AdminConnection) -> None:
    """A counter going backwards (a database dropped, a stats reset) has no rate for that
    interval rather than a negative one; the others keep theirs. A restart gives no rates."""
    now = server.snapshot(conn)
    earlier = server.Sample(**{**now.__dict__, "commits": now.commits + 10})
    later = server.Sample(
        **{
            **now.__dict__,
            "sampled_at": now.sampled_at + timedelta(seconds=2),
            "rollbacks": now.rollbacks + 4,
        }
    )
    rate = server.rates(earlier, later)
    assert rate is not None
    assert rate.commits_s is None and rate.transactions_s is None
    assert rate.rollbacks_s == 2.0
    assert server.rates(now, now) is None  # no time passed
    restarted = server.Sample(
        **{**later.__dict__, "started_at": now.started_at + timedelta(seconds=1)}
    )
    assert server.rates(now, restarted) is None


def test_monitor_keeps_samples_and_sizes(conn: AdminConnection, db: str) -> None:
    """The monitor accumulates samples, reads sizes, and gives a rate series."""
    monitor = server.Monitor()
    first = monitor.tick(conn)
    assert monitor.tick(conn) is first  # a rerun right away reuses the sample
    monitor.taken_at -= server.MIN_INTERVAL_S
    monitor.tick(conn)
    assert len(monitor.samples) == 2
    assert any(r["database"] == db and r["bytes"] > 0 for r in monitor.sizes)
    assert len(monitor.series()) == 1 and monitor.previous() is not None


# --- activity -----------------------------------------------------------------------------------


def test_activity_lists_others_not_us(
    conn: AdminConnection, clients: Callable[[str], Client]
) -> None:
    """A sleeping client appears with its query and age; the admin session itself does not."""
    sleeper = clients("tusk-test-sleeper")
    sleeper.start("select pg_sleep(30)")
    wait_for(
        lambda: any(s.pid == sleeper.pid for s in activity.sessions(conn, states=["active"])),
        "the sleeper to be active",
    )
    found = {s.pid: s for s in activity.sessions(conn)}
    assert conn.pid not in found
    s = found[sleeper.pid]
    assert "pg_sleep" in s.query and s.state == "active" and s.application_name
    assert not s.blocked and (s.query_age_s or 0) >= 0
    assert [x.pid for x in activity.sessions(conn, search="TUSK-TEST-SLEEPER")] == [sleeper.pid]
    assert activity.sessions(conn, search="no such thing anywhere") == []
    activity.cancel(conn, sleeper.pid)
    sleeper.join()


def test_cancel_keeps_the_session_terminate_ends_it(
    conn: AdminConnection, clients: Callable[[str], Client]
) -> None:
    """Cancel stops the statement and the connection still works; terminate breaks it."""
    victim = clients("tusk-test-victim")
    victim.start("select pg_sleep(30)")
    wait_for(
        lambda: any(s.pid == victim.pid for s in activity.sessions(conn, states=["active"])),
        "the sleep to start",
    )
    assert activity.cancel(conn, victim.pid)
    victim.join()
    assert isinstance(victim.error, psycopg.errors.QueryCanceled)
    assert victim.conn.execute("select 42").fetchone() == (42,)  # still usable

    victim.start("select pg_sleep(30)")
    wait_for(
        lambda: any(s.pid == victim.pid for s in activity.sessions(conn, states=["active"])),
        "the second sleep to start",
    )
    assert activity.terminate(conn, victim.pid)
    victim.join()
    assert victim.error is not None
    with pytest.raises(psycopg.Error):
        victim.conn.execute("select 1")
    wait_for(lambda: all(s.pid != victim.pid for s in activity.sessions(conn)), "the session to go")


def test_bad_pids_are_refused(conn: AdminConnection) -> None:
    """Garbage, our own pid and a gone session get clear errors, nothing is signalled."""
    for bad in ("12; drop table x", -1, None, "abc"):
        with pytest.raises(BadInput, match="not a process id"):
            activity.cancel(conn, bad)
    with pytest.raises(BadInput, match="own session"):
        activity.terminate(conn, conn.pid)
    with pytest.raises(BadInput, match="no session"):
        activity.cancel(conn, 999_999)


def test_viewer_cannot_kill_and_admin_is_audited(
    conn: AdminConnection, clients: Callable[[str], Client], users: dict[str, User]
) -> None:
    """Without admin.processes the library refuses; the admin's kill is in the audit log."""
    victim = clients("tusk-test-audit")
    victim.start("select pg_sleep(30)")
    wait_for(
        lambda: any(s.pid == victim.pid for s in activity.sessions(conn, states=["active"])),
        "the sleep to start",
    )
    for name in ("viewer", "analyst", "engineer"):
        with pytest.raises(PermissionDenied, match="admin.processes"):
            activity.terminate(conn, victim.pid, actor=users[name])
    assert victim.thread is not None and victim.thread.is_alive()
    activity.cancel(conn, victim.pid, actor=users["admin"])
    victim.join()
    entry = audit_log(limit=1)[0]
    assert (entry.actor, entry.action, entry.target) == (
        "admin",
        "admin.cancel",
        f"pid {victim.pid}",
    )
    assert "pg_sleep" in entry.detail


# --- locks --------------------------------------------------------------------------------------


def test_lock_chain_tree_and_terminating_the_root(
    conn: AdminConnection, db: str, clients: Callable[[str], Client]
) -> None:
    """A holds a row lock idle in transaction; B waits on A; C (LOCK TABLE) waits on A and B;
    D queues behind C. The graph has A→B→C→D with C once; terminating A frees the rest."""
    table = sql.Identifier(HOSTILE)
    with server_connection(db) as setup:
        setup.execute(sql.SQL("create table {} (id int primary key, v int)").format(table))
        setup.execute(sql.SQL("insert into {} values (1, 0)").format(table))
    a, b, c, d = (clients(f"tusk-test-{n}") for n in "abcd")
    a.conn.autocommit = c.conn.autocommit = False  # LOCK TABLE needs a transaction block
    a.conn.execute(sql.SQL("update {} set v = 1 where id = 1").format(table))  # A: idle in tx
    b.start(sql.SQL("update {} set v = 2 where id = 1").format(table))
    wait_for(lambda: b.pid in locks.blocking_graph(conn).sessions, "B to wait")
    c.start(sql.SQL("lock table {} in access exclusive mode").format(table))
    wait_for(lambda: c.pid in locks.blocking_graph(conn).sessions, "C to wait")
    d.start(sql.SQL("select count(*) from {}").format(table))
    wait_for(lambda: d.pid in locks.blocking_graph(conn).sessions, "D to wait")

    graph = locks.blocking_graph(conn)
    assert graph.roots == [a.pid]
    assert set(graph.sessions[c.pid].blocked_by) == {a.pid, b.pid}
    assert {(a.pid, b.pid), (a.pid, c.pid), (b.pid, c.pid), (c.pid, d.pid)} <= set(graph.edges)
    order = list(graph.tree())
    pids = [p for p, _, _ in order]
    assert pids.count(c.pid) == 1 and len(pids) == len(set(pids))
    depth = {p: level for p, level, _ in order}
    assert depth[a.pid] == 0 and depth[b.pid] == 1 and depth[c.pid] == 2 and depth[d.pid] == 3
    assert pids.index(a.pid) < pids.index(b.pid) < pids.index(c.pid) < pids.index(d.pid)
    dot = graph.dot()
    assert dot.count(f'p{c.pid} [label="pid') == 1  # one node for C, with two in-edges
    assert f"p{a.pid} -> p{c.pid}" in dot and f"p{b.pid} -> p{c.pid}" in dot
    assert '\\"' in dot  # the hostile table name's quote is escaped inside the label

    waiting, total = locks.locks(conn, granted=False)
    assert total >= 3 and {r["pid"] for r in waiting} >= {b.pid, c.pid, d.pid}
    on_table, _ = locks.locks(conn, relation="%drop table%")
    assert on_table and all("DROP TABLE" in (r["relation"] or "") for r in on_table)
    capped, total_all = locks.locks(conn, limit=2)
    assert len(capped) == 2 and total_all > 2

    assert activity.terminate(conn, a.pid)
    for client in (b, c):
        client.join()
        assert client.error is None
    c.conn.rollback()  # C got its lock inside a transaction; ending it lets D read
    d.join()
    assert d.error is None
    assert locks.blocking_graph(conn).sessions == {}


def test_empty_graph_and_filters_are_parameters(conn: AdminConnection) -> None:
    """No waits: an empty graph. A hostile filter value is just a value."""
    graph = locks.blocking_graph(conn)
    assert graph.sessions == {} and graph.edges == [] and list(graph.tree()) == []
    rows, total = locks.locks(conn, mode="x'; drop table y; --", relation="'; --")
    assert rows == [] and total == 0


@pytest.mark.timeout(30)
def test_admin_connect_refuses_other_engines_and_bad_hosts() -> None:
    """Admin works on PostgreSQL only; an unreachable server fails (connect_timeout) with a
    clear error instead of hanging."""
    from tusk.engines.spec import ConnectionSpec
    from tusk.errors import ConnectionFailed

    with pytest.raises(BadInput, match="PostgreSQL"):
        admin.connect(ConnectionSpec("d", "duckdb", path=":memory:"))
    with pytest.raises(ConnectionFailed, match="10.255.255.1"):
        admin.connect(ConnectionSpec("x", "postgres", host="10.255.255.1", port=5432))
