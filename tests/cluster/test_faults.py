"""Faults on a real local cluster: a worker killed mid-query, the head stopped.

This module starts its own cluster (head + 2 workers) because it breaks it; the tests run in
file order and the head goes last.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator

import duckdb
import pytest

from tusk.cluster import client, log
from tusk.cluster.nodes import LocalCluster
from tusk.cluster.processes import session_pids
from tusk.errors import ConnectionFailed, TuskError

pytestmark = pytest.mark.cluster

# 30k rows a side in 4 files each (so both workers scan), joined on a 2-value key: 450M pairs,
# ~12 s on an idle 2-core box, long enough to break something while it runs.
ROWS = 30_000
LONG_SQL = "select count(*) as n from big_a a join big_b b on a.ka = b.kb"
LONG_ANSWER = ROWS * ROWS // 2
QUERY_TIMEOUT_S = 90.0  # the bound on "completes or fails cleanly": never a hang


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """A head and two workers of this module's own, since the tests kill parts of it."""
    with LocalCluster(2) as started:
        yield started


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Two Parquet tables of ROWS rows each, in 4 files so scans spread over the nodes."""
    root = tmp_path_factory.mktemp("faults")
    tables = {}
    for name, key in (("big_a", "ka"), ("big_b", "kb")):
        folder = root / name
        folder.mkdir()
        step = ROWS // 4
        for part in range(4):
            duckdb.sql(
                f"copy (select i % 2 as {key} from range({part * step}, {(part + 1) * step}) "
                f"t(i)) to '{folder / f'part-{part}.parquet'}'"
            )
        tables[name] = str(folder)
    return tables


def kill_group(pid: int) -> None:
    """SIGKILL a node's process group (its raylet, agents and Python workers)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def test_worker_killed_mid_query(cluster: LocalCluster, data: dict[str, str]) -> None:
    """The query completes (right answer) or fails as a TuskError within its timeout; the
    cluster then still answers a new query (or says clearly why not)."""
    worker = next(node for node in cluster.nodes if node.role != "head")
    query = client.submit(cluster.address, LONG_SQL, data, timeout_s=QUERY_TIMEOUT_S)
    time.sleep(5)  # connected, and tasks are running on the workers
    assert not query.done(), "the query ended before the fault: make it longer"
    kill_group(worker.pid)

    began = time.monotonic()
    assert query.wait(QUERY_TIMEOUT_S + 15), "the query hung after a worker died"
    assert time.monotonic() - began <= QUERY_TIMEOUT_S + 15
    outcome: str
    try:
        table = query.result(timeout=0)
        assert table.to_pylist() == [{"n": LONG_ANSWER}]
        outcome = "done"
    except TuskError as exc:
        assert exc.message  # a message a person can read, not an empty failure
        outcome = "failed"
    assert query.status == outcome
    print(f"worker killed: query {outcome} {time.monotonic() - began:.1f} s after the kill")
    assert log.get(query.id).status == outcome
    if outcome == "failed":
        assert session_pids(query.pid) == []  # a failed query process is never kept
    else:  # a finished one stays warm for the next query, and goes with stop_warm
        client.stop_warm()
        assert session_pids(query.pid) == []

    # Afterwards: a small query gets an answer from the surviving nodes or a clear error.
    small = client.submit(
        cluster.address, "select count(*) as n from big_a", data, timeout_s=QUERY_TIMEOUT_S
    )
    assert small.wait(QUERY_TIMEOUT_S + 15)
    try:
        assert small.result(timeout=0).to_pylist() == [{"n": ROWS}]
    except TuskError as exc:
        assert exc.message


def test_head_stopped(cluster: LocalCluster, data: dict[str, str]) -> None:
    """A running query fails with a clear error soon after the head goes (not after Daft's own
    60 s), and a new submit fails in ≤ 5 s with ConnectionFailed; the test process lives on."""
    head = next(node for node in cluster.nodes if node.role == "head")
    running = client.submit(cluster.address, LONG_SQL, data, timeout_s=QUERY_TIMEOUT_S)
    time.sleep(4)
    head.stop(grace_s=2)
    stopped = time.monotonic()
    assert running.wait(30), "the query hung after the head stopped"
    assert time.monotonic() - stopped < 30
    with pytest.raises(TuskError) as caught:
        running.result(timeout=0)
    assert caught.value.message
    assert running.status == "failed"
    print(f"head stopped: query failed after {time.monotonic() - stopped:.1f} s")
    print(f"  {type(caught.value).__name__}: {caught.value.message[:200]}")

    began = time.monotonic()
    with pytest.raises(ConnectionFailed, match="does not answer"):
        client.submit(cluster.address, "select count(*) as n from big_a", data)
    assert time.monotonic() - began <= 5.0
