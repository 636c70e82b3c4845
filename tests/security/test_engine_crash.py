"""Issue 13, case 8: one query cannot take the server down. DuckDB segfaults on deeply nested
JSON (a stack overflow): with isolation on, as in the app, that kills the engine's worker
process only; the statement fails with a clear message, the worker is started again, and the
session reopens with its confinement. A runaway allocation hits the worker's memory cap."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import STUDIO, open_page
from tests.ui.test_studio import active, outcomes, type_and_submit
from tusk import config, connections, files
from tusk.engines import isolation
from tusk.errors import EngineCrashed, QueryFailed, TuskError

CRASH = "select json_structure(repeat('[', 100000) || repeat(']', 100000)) as s"


@pytest.fixture
def isolated() -> None:
    isolation.enable()


def test_a_crashing_query_kills_the_worker_not_the_server(
    users: dict[str, Any], isolated: None
) -> None:
    demo = connections.ensure_demo()
    mine = connections.open_for(demo, users["analyst"])
    other = connections.open_for(demo, users["engineer"])  # the same file: the same worker
    elsewhere = connections.open_for(
        demo.with_changes(name="scratch", path=":memory:"), users["admin"]
    )
    try:
        assert other.execute("select 1 as one").table.to_pylist() == [{"one": 1}]
        with pytest.raises(EngineCrashed, match="SIGSEGV") as crash:
            mine.execute(CRASH)
        assert "restarted" in crash.value.message and "nothing else was lost" in crash.value.message
        # This process lives on; the next statement reopens the session in a new worker,
        # still confined to the data roots.
        assert mine.execute("select count(*) as n from cities").table.to_pylist() == [{"n": 12}]
        with pytest.raises(QueryFailed, match="data roots"):
            mine.execute(f"select * from read_blob('{config.home() / 'secret.key'}')")
        # Another session of the crashed worker hears it once, then works again.
        with pytest.raises(EngineCrashed):
            other.execute("select 1")
        assert other.execute("select 2 as two").table.to_pylist() == [{"two": 2}]
        # A session in another worker never noticed.
        assert elsewhere.execute("select 3 as three").table.to_pylist() == [{"three": 3}]
    finally:
        for conn in (mine, other, elsewhere):
            conn.close()


def test_a_runaway_query_hits_the_memory_cap(
    monkeypatch: pytest.MonkeyPatch, users: dict[str, Any], isolated: None
) -> None:
    monkeypatch.setenv("TUSK_WORKER_MEMORY_MB", "1024")
    conn = connections.open_for(connections.ensure_demo(), users["analyst"])
    try:
        # DuckDB fails the allocation cleanly (its limit is below the cap), or the watchdog
        # stops the worker past the cap: either way a clear error, and the server stays.
        with pytest.raises(TuskError, match="(?i)out of memory|memory cap"):
            conn.execute("select sum(len(l)) from (select list(i) l from range(300000000) t(i))")
        assert conn.execute("select 1 as one").table.to_pylist() == [{"one": 1}]
    finally:
        conn.close()


def test_a_nested_json_file_preview_cannot_crash_the_server(
    users: dict[str, Any], isolated: None
) -> None:
    root = files.roots()[0]
    (root.path / "deep.json").write_text("[" * 20_000 + "]" * 20_000, encoding="utf-8")
    (root.path / "fine.json").write_text(json.dumps([{"a": 1}, {"a": 2}]), encoding="utf-8")
    with pytest.raises(TuskError, match="SIGSEGV"):  # DuckDB's JSON reader overflows here
        files.preview(root.name, "deep.json", actor=users["analyst"])
    # Counting reads the same file: an answer or a clear error, never a dead server.
    with contextlib.suppress(TuskError):
        files.row_count(root.name, "deep.json", actor=users["analyst"])
    fine = files.preview(root.name, "fine.json", actor=users["analyst"])
    assert fine.rows.to_pylist() == [{"a": 1}, {"a": 2}]
    assert os.getpid() > 0  # still here to say so


def test_the_studio_tab_says_the_engine_restarted_and_keeps_the_sql(
    multi_user: Callable[..., None],
) -> None:
    multi_user({"ana": "Analysts"})
    at = open_page(STUDIO, user="ana")  # the page turns isolation on itself
    assert isolation.enabled()
    type_and_submit(at, CRASH)
    (o,) = outcomes(at)
    assert isinstance(o.error, EngineCrashed)
    assert any("restarted" in e.value for e in at.error)
    assert not at.exception
    assert active(at).sql == CRASH  # the SQL is still in the tab
    type_and_submit(at, "select count(*) as n from orders")
    assert outcomes(at)[0].result.table.to_pylist() == [{"n": 5000}]


def test_workers_stop_with_the_server(isolated: None, tmp_path: Path) -> None:
    conn = connections.open_for(connections.ensure_demo(), None)
    assert isolation.running()
    conn.close()
    isolation.shutdown()
    assert not isolation.running()


def test_the_cluster_pages_local_run_happens_in_a_worker(
    users: dict[str, Any], isolated: None
) -> None:
    """ "Run here" (DataFusion over the cluster's files) is user SQL in an in-process engine
    too: with isolation on it runs in a worker, confined as on the cluster."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tusk.cluster import client

    root = files.roots()[0].path
    pq.write_table(pa.table({"a": [1, 2, 3]}), root / "t.parquet")
    tables = {"t": str(root / "t.parquet")}
    got = client.run_local("select sum(a) as s from t", tables, actor=users["analyst"])
    assert got.to_pylist() == [{"s": 6}]
    assert ("datafusion", "run-here", "confined") in isolation.running()
    with pytest.raises(TuskError):
        client.run_local("create table x as select 1", tables, actor=users["analyst"])


def test_a_statement_that_leaves_the_database_unusable_restarts_its_worker(
    users: dict[str, Any], isolated: None
) -> None:
    """DuckDB 1.5.5: enable_logging to a folder outside the roots is accepted, then every
    statement of every session on that database fails (and closing it aborts the process).
    The worker notices after the failing statement and restarts: the database opens clean."""
    demo = connections.ensure_demo()
    mine = connections.open_for(demo, users["analyst"])
    other = connections.open_for(demo, users["engineer"])
    try:
        brick = "select * from enable_logging(storage => 'file', storage_path => '/tmp/x')"
        mine.execute(brick)  # accepted...
        with pytest.raises(TuskError):
            mine.execute("select 1")  # ...and every statement after it fails, so the worker goes
        # (DuckDB itself may abort first, destroying the failed result: a crash then.)
        with pytest.raises(EngineCrashed, match="unusable|crashed"):
            other.execute("select 1")
        assert other.execute("select count(*) as n from cities").table.to_pylist() == [{"n": 12}]
        with pytest.raises(EngineCrashed):  # each session hears it once
            mine.execute("select 2")
        assert mine.execute("select 2 as two").table.to_pylist() == [{"two": 2}]
    finally:
        mine.close()
        other.close()
