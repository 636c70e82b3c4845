"""The history insert each query run makes, through sqlmodel, against raw sqlite3 in the same run.

Tusk: `history.record` (a Core `insert()` of the table, built once, in a BEGIN IMMEDIATE
session on the kept writer connection of `tusk.store.database.SqliteFile`). Baseline: what
history.py did before it moved to sqlmodel, inline here — one kept sqlite3 connection (WAL,
synchronous=normal, autocommit), taken under a lock, running the same INSERT. Also shown, on
the same kind of engine: `insert(HistoryRow).values(...)` built per call, and the row added
through the ORM (`session.add(HistoryRow(...))`, flushed, committed); and `history.search()`
of the newest 200 rows against the raw SELECT. Each round times a batch of
--batch calls of every path, in turn; medians of --repeat rounds, per call. Every path writes
to its own file in a temporary TUSK_HOME. It is a report, not a test: it always exits 0.

    PYTHONPATH=$PWD .venv/bin/python bench/store.py --repeat 15
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STATEMENT = "select o.id, o.total from orders o where o.placed > :since order by o.total desc"
VALUES = '{"since": "2024-01-01"}'


class RawHistory:
    """The old history.py write path: one kept sqlite3 connection per file, one lock."""

    def __init__(self, path: Path, migrations: tuple[str, ...]) -> None:
        from tusk.store.database import open_store

        self.con = open_store(path, migrations)
        self.lock = threading.Lock()

    def record(self) -> int:
        with self.lock:
            cur = self.con.execute(
                "insert into history (ts, connection, engine, statement, duration_s, row_count,"
                " error, username, params) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    datetime.now(UTC).isoformat(),
                    "demo",
                    "duckdb",
                    STATEMENT,
                    0.012,
                    1000,
                    None,
                    "ann",
                    VALUES,
                ),
            )
            return int(cur.lastrowid or 0)

    def search(self) -> list[Any]:
        with self.lock:
            return self.con.execute(
                "select id, ts, connection, engine, statement, duration_s, row_count, error,"
                " params from history where 1 = 1 order by id desc limit ?",
                (200,),
            ).fetchall()


def row() -> dict[str, Any]:
    """The row each path inserts."""
    return {
        "ts": datetime.now(UTC),
        "connection": "demo",
        "engine": "duckdb",
        "statement": STATEMENT,
        "duration_s": 0.012,
        "row_count": 1000,
        "error": None,
        "username": "ann",
        "params": VALUES,
    }


def values_record(db: Any) -> int:
    """The same row as insert(HistoryRow).values(...), built per call."""
    from sqlmodel import insert

    from tusk.store.schema import HistoryRow

    with db.write() as session:
        return int(session.exec(insert(HistoryRow).values(**row())).lastrowid or 0)


def orm_record(db: Any) -> int:
    """The same row through the ORM: a HistoryRow added, flushed and committed."""
    from tusk.store.schema import HistoryRow

    with db.write() as session:
        added = HistoryRow(**row())
        session.add(added)
        session.flush()
        return int(added.id)


def per_call(fn: Callable[[], Any], batch: int) -> float:
    """Seconds per call over a batch of calls."""
    start = time.perf_counter()
    for _ in range(batch):
        fn()
    return (time.perf_counter() - start) / batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="rounds (default 15)")
    parser.add_argument("--batch", type=int, default=50, help="calls per round (default 50)")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="tusk-bench-store-"))
    os.environ["TUSK_HOME"] = str(home / "tusk")

    from tusk.store import history
    from tusk.store.database import SqliteFile
    from tusk.store.schema import HISTORY_MIGRATIONS

    raw = RawHistory(home / "raw.db", HISTORY_MIGRATIONS)
    orm = SqliteFile(lambda: home / "orm.db", HISTORY_MIGRATIONS)
    built = SqliteFile(lambda: home / "values.db", HISTORY_MIGRATIONS)

    def tusk_record() -> int:
        return history.record(
            "demo", "duckdb", STATEMENT, duration_s=0.012, row_count=1000, username="ann",
            values={"since": "2024-01-01"},
        )  # fmt: skip

    cases: dict[str, Callable[[], Any]] = {
        "raw sqlite3 insert (baseline)": raw.record,
        "history.record (Core insert)": tusk_record,
        "insert().values() per call": lambda: values_record(built),
        "ORM add + flush": lambda: orm_record(orm),
        "raw sqlite3 select 200 (baseline)": raw.search,
        "history.search() 200": history.search,
    }
    load_start = os.getloadavg()[0]
    print(f"{os.cpu_count()} cores, load average {load_start:.1f} at the start")
    for fn in cases.values():  # warm-up: files made, migrated, engines and caches built
        for _ in range(max(5, args.batch // 5)):
            fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.repeat):
        for name, fn in cases.items():
            times[name].append(per_call(fn, args.batch))
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"median of {args.repeat} rounds of {args.batch} calls, per call:")
    for name in cases:
        baseline = "raw sqlite3 " + ("select" if "select" in name or "search" in name else "insert")
        base = next(median[n] for n in cases if n.startswith(baseline))
        print(f"  {name:<36} {median[name] * 1000:7.3f} ms   {median[name] / base:5.2f}x baseline")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
