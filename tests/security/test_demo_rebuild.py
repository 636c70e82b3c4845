"""Issue 13, case 10: the demo database is never rebuilt over a user's work, and sessions or
processes opening a fresh home at once all get one complete demo.

DuckDB allows one read-write process per file, and connections in one process share one
database: create_demo opens the file only while holding its lock file, so processes take
turns instead of failing on DuckDB's own file lock or on "Table cities already exists".
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from tests.conftest import REPO
from tusk import connections, files
from tusk.demo import DEMO_TABLES, create_demo
from tusk.engines.registry import connect

COUNTS = {"cities": 12, "customers": 1000, "products": 60, "orders": 5000}


def _sql(*statements: str) -> list[dict]:
    """Run statements on the demo in one connection; the last one's rows."""
    conn = connect(connections.demo_spec())
    try:
        for sql in statements:
            rows = conn.execute(sql, limit=None).table.to_pylist()
        return rows
    finally:
        conn.close()


def _counts() -> dict[str, int]:
    union = " union all ".join(
        f"select '{t}' as t, count(*) as n from {t}"  # noqa: S608 - fixed names
        for t in COUNTS
    )
    return {r["t"]: r["n"] for r in _sql(union)}


def test_a_dropped_demo_table_comes_back_and_the_users_table_stays(tusk_home: Path) -> None:
    """A user's own table in demo.duckdb survives someone dropping demo tables: only the
    missing ones are created again (in FK order), the file is never replaced."""
    spec = connections.ensure_demo()
    inode = Path(spec.path or "").stat().st_ino
    _sql(
        "create table my_notes (id integer, note varchar)",
        "insert into my_notes values (1, 'keep me'), (2, 'me too')",
        "update cities set population = 1 where id = 1",  # a user's change to a demo table
        "drop table order_items",
        "drop table orders",
    )
    conn = connections.open_for(spec)  # what the Studio does on the next run
    conn.close()
    assert _sql("select * from my_notes order by id") == [
        {"id": 1, "note": "keep me"},
        {"id": 2, "note": "me too"},
    ]
    assert _counts() == COUNTS
    assert _sql("select count(*) as n from order_items")[0]["n"] > 5000
    assert _sql("select population from cities where id = 1") == [{"population": 1}]
    assert Path(spec.path or "").stat().st_ino == inode  # the same file, never rebuilt


def test_a_table_that_cannot_come_back_is_left_out_and_logged(
    tusk_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """order_items cannot be created again when a user deleted a product its rows need: it
    is left out (logged), the rest of the demo and the user's tables are untouched."""
    connections.ensure_demo()
    _sql(
        "create table mine as select 42 as answer",
        "drop table order_items",
        "delete from products where id = 1",
    )
    with caplog.at_level(logging.WARNING, logger="tusk.demo"):
        assert create_demo(connections.demo_spec().path or "") is False
    assert "order_items" in caplog.text and "left out" in caplog.text
    names = {r["table_name"] for r in _sql("select table_name from duckdb_tables()")}
    assert names == {*DEMO_TABLES, "mine"} - {"order_items"}
    assert _sql("select answer from mine") == [{"answer": 42}]


def test_a_users_view_named_like_a_demo_table_is_left_alone(tusk_home: Path) -> None:
    """A view the user made under a dropped demo table's name is theirs: kept, no error."""
    connections.ensure_demo()
    _sql("drop table order_items", "create view order_items as select 1 as mine")
    connections.ensure_demo()
    assert _sql("select * from order_items") == [{"mine": 1}]


def test_four_sessions_opening_a_fresh_home_at_once(tusk_home: Path) -> None:
    """Four sessions of one server open the demo at once on a fresh home: all run SQL on
    one complete demo (no "Table cities already exists")."""
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []
    rows: list[int] = []

    def session() -> None:
        barrier.wait()
        try:
            conn = connections.open_for(connections.demo_spec())
            try:
                rows.append(
                    conn.execute("select count(*) from orders", limit=1).table[0][0].as_py()
                )
            finally:
                conn.close()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=session) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == [] and rows == [5000] * 4
    assert _counts() == COUNTS


def _at_once(code: str, n: int, home: Path) -> list[str]:
    """Run `code` in n processes released together; their outputs (each must succeed)."""
    go = home.parent / "go"
    script = (
        "import time\nfrom pathlib import Path\n"
        f"while not Path({str(go)!r}).exists():\n    time.sleep(0.005)\n" + textwrap.dedent(code)
    )
    env = {**os.environ, "TUSK_HOME": str(home), "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    go.touch()
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
        outs.append(out.strip())
    return outs


def test_four_processes_opening_a_fresh_home_at_once(tusk_home: Path) -> None:
    """Four processes (CLI commands, server workers) make the demo at once: one builds it,
    the others find it whole; nothing fails and no row is doubled."""
    code = """
    from tusk import connections
    connections.ensure_demo()
    print("ok")
    """
    assert _at_once(code, 4, tusk_home) == ["ok"] * 4
    assert _counts() == COUNTS
    assert not list(tusk_home.glob("*.building"))


def test_demo_files_never_replace_a_users_file_and_survive_processes_at_once(
    tusk_home: Path,
) -> None:
    """The demo files: a user's file of the same name is kept, and four processes writing
    them at once on a fresh home all succeed and leave every file whole."""
    demo = tusk_home / files.DATA_DIR / files.DEMO_ROOT
    demo.mkdir(parents=True)
    (demo / "cities.csv").write_text("mine\n1\n")
    code = """
    from tusk import files
    print(sorted(r.name for r in files.roots()))
    """
    outs = _at_once(code, 4, tusk_home)
    assert len(set(outs)) == 1 and "demo" in outs[0]
    assert (demo / "cities.csv").read_text() == "mine\n1\n"
    assert (demo / ".tusk-demo").exists()
    preview = files.preview("demo", "orders.parquet", 5)
    assert preview.rows.num_rows == 5
    assert not [p for p in demo.iterdir() if p.name.endswith((".part", ".tmp"))]
