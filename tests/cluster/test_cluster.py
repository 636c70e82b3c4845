"""A real local Ray cluster (head + 2 workers) running Daft SQL through tusk.cluster."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tests.conftest import ADMIN_PASSWORD, PASSWORD
from tusk import config
from tusk.cluster import client, log
from tusk.cluster.nodes import LocalCluster, free_port, get_json
from tusk.cluster.processes import session_pids
from tusk.errors import ConnectionFailed, PermissionDenied, QueryCancelled, QueryFailed

pytestmark = pytest.mark.cluster

JOIN_SQL = (
    "select s.g, k.name, count(*) as n, sum(s.amount) as total "
    "from sales s join kinds k on s.g = k.gid group by s.g, k.name order by s.g"
)
# 40k x 40k rows joined on a key with 2 values: 800M pairs, long enough to cancel.
LONG_SQL = "select count(*) as n from big_a a join big_b b on a.ka = b.kb"


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """One head and two workers for the whole module."""
    with LocalCluster(2) as started:
        yield started


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Parquet (4 files, DECIMAL amount) and CSV tables written by DuckDB."""
    root = tmp_path_factory.mktemp("cluster-data")
    sales = root / "sales"
    sales.mkdir()
    for part in range(4):
        duckdb.sql(
            f"copy (select i as id, i % 7 as g, (i * 1.5)::decimal(12, 2) as amount "
            f"from range({part * 50_000}, {(part + 1) * 50_000}) t(i)) "
            f"to '{sales / f'part-{part}.parquet'}'"
        )
    duckdb.sql(f"copy (select i as gid, 'kind ' || i as name from range(7) t(i)) to '{root}/k.csv'")
    for name, key in (("big_a", "ka"), ("big_b", "kb")):
        duckdb.sql(
            f"copy (select i % 2 as {key} from range(40000) t(i)) to '{root / name}.parquet'"
        )
    return {
        "sales": str(sales),
        "kinds": str(root / "k.csv"),
        "big_a": str(root / "big_a.parquet"),
        "big_b": str(root / "big_b.parquet"),
    }


def duckdb_answer(data: dict[str, str]) -> list[tuple]:
    """The join computed by DuckDB on the same files (amount as DOUBLE, like the cluster)."""
    con = duckdb.connect()
    con.execute(f"create view sales as select * from read_parquet('{data['sales']}/*.parquet')")
    con.execute(f"create view kinds as select * from read_csv('{data['kinds']}')")
    sql = JOIN_SQL.replace("sum(s.amount)", "sum(s.amount::double)")
    return con.execute(sql).fetchall()


def test_nodes_alive(cluster: LocalCluster) -> None:
    """The head and both workers are ALIVE, each with its own Ray processes."""
    nodes = cluster.list_nodes()
    assert [n.state for n in nodes] == ["ALIVE"] * 3
    assert sum(n.is_head for n in nodes) == 1
    assert all(n.cpus == 1 for n in nodes)
    assert all(node.pids() for node in cluster.nodes)


def test_query_matches_duckdb_and_runs_on_several_nodes(
    cluster: LocalCluster, data: dict[str, str]
) -> None:
    """A join + aggregate over Parquet and CSV equals DuckDB's answer; tasks ran on >1 node."""
    tables = {"sales": data["sales"], "kinds": data["kinds"]}
    query = client.submit(cluster.address, JOIN_SQL, tables, timeout_s=120)
    table = query.result(timeout=150)
    got = [tuple(row.values()) for row in table.to_pylist()]
    want = duckdb_answer(data)
    assert [r[:3] for r in got] == [r[:3] for r in want]
    assert [r[3] for r in got] == pytest.approx([r[3] for r in want])
    assert table.schema.field("total").type == "double"  # DECIMAL was cast on read

    logged = log.get(query.id)
    assert logged is not None and logged.status == "done" and logged.rows == 7
    assert logged.started is not None and logged.finished is not None

    # Ray's state API: Daft's plan tasks (not actor set-up calls) and the nodes they ran on.
    # Workers report task events in batches (about once a second, later under load), so the
    # state API may not list the tasks yet when the result is back: poll for a while.
    def scan_nodes() -> set[str]:
        doc = get_json(f"{cluster.dashboard_url}/api/v0/tasks?limit=10000&detail=1")
        tasks = doc["data"]["result"]["result"]
        return {t["node_id"] for t in tasks if t.get("node_id") and "Scan" in (t.get("name") or "")}

    deadline = time.monotonic() + 60
    work = scan_nodes()
    while len(work) < 2 and time.monotonic() < deadline:
        time.sleep(1)
        work = scan_nodes()
    assert len(work) > 1, f"scan tasks ran on {len(work)} node(s)"

    # The same SQL on one machine with DataFusion gives the same answer.
    local = [tuple(row.values()) for row in client.run_local(JOIN_SQL, tables).to_pylist()]
    assert [r[:3] for r in local] == [r[:3] for r in want]
    assert [r[3] for r in local] == pytest.approx([r[3] for r in want])


def test_unsupported_sql_is_a_clear_query_failed(
    cluster: LocalCluster, data: dict[str, str]
) -> None:
    """SQL Daft cannot run comes back as QueryFailed with Daft's message, logged as failed."""
    query = client.submit(
        cluster.address, "select * from sales where no_such_column > 1", {"sales": data["sales"]}
    )
    with pytest.raises(QueryFailed, match="Daft") as caught:
        query.result(timeout=120)
    assert "no_such_column" in caught.value.message
    logged = log.get(query.id)
    assert logged is not None and logged.status == "failed" and "no_such_column" in logged.error


def test_cancel_stops_a_long_query(cluster: LocalCluster, data: dict[str, str]) -> None:
    """Cancel kills the query process at once and Ray's tasks for it stop."""
    tables = {"big_a": data["big_a"], "big_b": data["big_b"]}
    query = client.submit(cluster.address, LONG_SQL, tables, timeout_s=300)
    time.sleep(6)  # the driver connected and tasks are running
    assert not query.done()
    began = time.monotonic()
    query.cancel()
    assert time.monotonic() - began < 5
    assert query.status == "cancelled"
    with pytest.raises(QueryCancelled):
        query.result(timeout=1)
    assert session_pids(query.pid) == []
    assert log.get(query.id).status == "cancelled"

    def running() -> list[dict]:
        doc = get_json(f"{cluster.dashboard_url}/api/v0/tasks?limit=10000&detail=1")
        return [t for t in doc["data"]["result"]["result"] if t.get("state") == "RUNNING"]

    deadline = time.monotonic() + 20
    while running() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert running() == []


def test_timeout_stops_the_query(cluster: LocalCluster, data: dict[str, str]) -> None:
    """A query past its timeout is stopped and reported, not left running."""
    tables = {"big_a": data["big_a"], "big_b": data["big_b"]}
    query = client.submit(cluster.address, LONG_SQL, tables, timeout_s=4)
    with pytest.raises(QueryFailed, match="longer than 4 s"):
        query.result(timeout=30)
    assert session_pids(query.pid) == []
    assert log.get(query.id).status == "failed"


def test_unreachable_head_fails_fast() -> None:
    """A closed port or a silent listener (a hung head): ConnectionFailed within 5 s.

    A routed-nowhere address cannot stand in for a dead host here: this sandbox's network
    answers any outbound connection, even with HTTP/2.
    """
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # connects succeed through the backlog, but nothing ever answers
        silent_address = f"127.0.0.1:{silent.getsockname()[1]}"
        for address in (f"127.0.0.1:{free_port()}", silent_address):
            began = time.monotonic()
            with pytest.raises(ConnectionFailed, match="does not answer"):
                client.submit(address, "select 1", {})
            assert time.monotonic() - began <= 5.0
    assert log.list_queries() == []  # nothing was submitted


def test_viewer_cannot_submit_or_cancel(
    cluster: LocalCluster, data: dict[str, str], users: dict
) -> None:
    """cluster.submit and cluster.cancel are checked in the library; on a shared Tusk the
    tables must lie in a data root."""
    with pytest.raises(PermissionDenied):
        client.submit(cluster.address, "select 1", {}, actor=users["viewer"])
    kinds = {"kinds": data["kinds"]}
    with pytest.raises(PermissionDenied, match="data root"):
        client.submit(cluster.address, "select * from kinds", kinds, actor=users["analyst"])
    config.set_value("data_roots", str(Path(data["kinds"]).parent))
    query = client.submit(
        cluster.address,
        "select count(*) as n from kinds",
        kinds,
        actor=users["analyst"],
    )
    with pytest.raises(PermissionDenied):
        query.cancel(users["viewer"])
    assert query.result(timeout=120).to_pylist() == [{"n": 7}]
    assert log.get(query.id).user == "analyst"


def test_log_lists_every_query(cluster: LocalCluster, data: dict[str, str]) -> None:
    """Each submitted query is one row in Tusk's log, newest first."""
    ids = []
    for sql in ("select count(*) as n from kinds", "select max(gid) as m from kinds"):
        query = client.submit(cluster.address, sql, {"kinds": data["kinds"]})
        query.wait(120)
        ids.append(query.id)
    listed = log.list_queries(10)
    assert [q.id for q in listed] == ids[::-1]
    assert all(q.status == "done" and q.rows == 1 for q in listed)
    assert listed[0].sql == "select max(gid) as m from kinds"
    assert listed[0].elapsed_s is not None


def test_run_local_reports_errors(data: dict[str, str]) -> None:
    """Single-node mode: DataFusion's message as QueryFailed."""
    with pytest.raises(QueryFailed, match="DataFusion"):
        client.run_local("select nope from kinds", {"kinds": data["kinds"]})
    got = client.run_local("select count(*) as n from sales", {"sales": data["sales"]})
    assert got.column(0).to_pylist() == [200_000]


def test_missing_table_path_is_bad_input(tmp_path: Path) -> None:
    """A table path that does not exist is refused before anything starts."""
    from tusk.errors import BadInput

    with pytest.raises(BadInput, match="does not exist"):
        client.submit("127.0.0.1:1", "select 1", {"t": str(tmp_path / "nope.parquet")})


# --- the cluster as a Studio engine -------------------------------------------------------------


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose files become the cluster connection's tables."""
    root = tmp_path_factory.mktemp("cluster-engine")
    duckdb.sql(f"copy (select i as id, i % 3 as k from range(10) t(i)) to '{root}/nums.parquet'")
    return root


def test_cluster_engine_runs_studio_statements(cluster: LocalCluster, folder: Path) -> None:
    """A saved "cluster" connection: its folder's files are tables (in the catalog), a query
    returns limit rows and says it was truncated, and the whole result streams."""
    from tusk.engines.registry import connect
    from tusk.engines.spec import ConnectionSpec

    host, port = cluster.address.rsplit(":", 1)
    spec = ConnectionSpec("c", "cluster", host=host, port=int(port), path=str(folder))
    conn = connect(spec)
    try:
        catalog = conn.catalog()
        assert [t.name for t in catalog.tables_in("default")] == ["nums"]
        result = conn.execute("select id from nums order by id", limit=4)
        assert result.table.column("id").to_pylist() == [0, 1, 2, 3] and result.truncated
        total = sum(b.num_rows for b in conn.stream_arrow("select * from nums"))
        assert total == 10
    finally:
        conn.close()


def test_studio_cluster_queries_need_cluster_submit(
    cluster: LocalCluster, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tusk.queries.run asks for cluster.submit on a cluster connection: a user who may use
    connections and execute queries elsewhere is refused, an Analyst runs it (a Viewer, with
    no connections.use, is refused before that)."""
    from tusk import config, queries
    from tusk.auth import passwords
    from tusk.auth.bootstrap import init
    from tusk.auth.groups import create_group
    from tusk.auth.users import create_user, get_user
    from tusk.engines.registry import connect
    from tusk.engines.spec import ConnectionSpec

    monkeypatch.setattr(passwords, "BCRYPT_ROUNDS", 4)
    init(ADMIN_PASSWORD)
    create_group("Readers", perms=["connections.use", "queries.execute"])
    create_user("vera", PASSWORD, groups=["Readers"])
    create_user("ana", PASSWORD, groups=["Analysts"])
    config.set_value("auth_mode", "multi")
    host, port = cluster.address.rsplit(":", 1)
    spec = ConnectionSpec("c", "cluster", host=host, port=int(port), path=str(folder))
    conn = connect(spec)
    try:
        with pytest.raises(PermissionDenied, match="cluster.submit"):
            queries.run(spec, conn, "select count(*) as n from nums", actor=get_user("vera"))
        result = queries.run(spec, conn, "select count(*) as n from nums", actor=get_user("ana"))
        assert result.table.column("n").to_pylist() == [10]
    finally:
        conn.close()


def test_query_process_is_reused_after_success_and_never_after_failure(
    cluster: LocalCluster, data: dict[str, str]
) -> None:
    """A warm query process answers the next query (no ~5 s start again); a failed query's
    process is gone and the next query gets a fresh one."""
    client.stop_warm()
    first = client.submit(cluster.address, "select count(*) as n from kinds", data)
    assert first.result(120).column("n").to_pylist() == [7]
    second = client.submit(cluster.address, "select count(*) as n from kinds", data)
    assert second.result(120).column("n").to_pylist() == [7]
    assert second.pid == first.pid  # the same warm process
    bad = client.submit(cluster.address, "select no_such_column from kinds", data)
    with pytest.raises(QueryFailed):
        bad.result(120)
    assert bad.pid == first.pid and session_pids(bad.pid) == []  # failed: killed, not kept
    third = client.submit(cluster.address, "select count(*) as n from kinds", data)
    assert third.result(120).column("n").to_pylist() == [7]
    assert third.pid != first.pid
    client.stop_warm()
    assert session_pids(third.pid) == []


def test_query_reads_only_the_tables_it_names_and_marks_its_phases(
    cluster: LocalCluster, data: dict[str, str], tmp_path: Path
) -> None:
    """A table the SQL does not name is not opened (a broken file beside it does no harm), and
    the query records when each phase ended, in order (bench/cluster.py prints them)."""
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not a parquet file")
    tables = {**data, "broken": str(broken)}
    query = client.submit(cluster.address, "select count(*) as n from kinds", tables)
    assert query.result(120).column("n").to_pylist() == [7]
    order = ["submit", "head", "logged", "received", "connected", "tables", "executed"]
    order += ["written", "seen", "read", "settled"]
    assert [query.marks[m] for m in order] == sorted(query.marks[m] for m in order)
    with pytest.raises(QueryFailed):  # named, it is read, and fails as before
        client.run(cluster.address, "select count(*) as n from broken", tables, timeout_s=120)
