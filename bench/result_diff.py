"""Result diff of 2 × 1,000,000 rows: Tusk's comparison against one raw DuckDB join.

The rows: id, an int, a double, a text, a date and a bool; B is A with 1% of the rows changed
(one cell each), 0.5% deleted and 0.5% new. Two cases, interleaved round by round with the
baseline so a change of load falls on both:

1. From Arrow: `tusk.result_diff.diff_results(a, b, ["id"])` on the two Arrow tables (what the
   Studio holds after streaming both results), counts and the first 200 rows of each kind.
2. From the engine: both sides streamed by Tusk's DuckDB engine (`stream_arrow` of two
   statements on a DuckDB file, as the Studio does for a tab's full result) and then diffed.

Baseline: raw DuckDB on the same Arrow tables, one FULL OUTER JOIN on id counting the rows
that differ (the least a diff must do). Target: case 2 ≤ 2 s.
A report that always exits 0: `.venv/bin/python bench/result_diff.py --repeat 5`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tusk.engines.registry import connect  # noqa: E402
from tusk.engines.spec import ConnectionSpec  # noqa: E402
from tusk.result_diff import diff_results  # noqa: E402

ROWS = 1_000_000
BUILD = """
create table a as
select i as id, (i * 7919) % 100000 as n, i * 0.25 as score, 'name-' || (i % 50000) as name,
       date '2020-01-01' + (i % 3000)::integer as day, i % 3 = 0 as flag
from range({rows}) r(i);
create table b as
select id,
       case when id % 100 = 7 then n + 1 else n end as n,
       score, name, day, flag
from a where id % 200 <> 3
union all
select {rows} + i, i, i * 0.5, 'new-' || i, date '2024-01-01', false
from range({rows} // 200) r(i);
"""
RAW = """
select count(*) from a full outer join b on a.id = b.id
where a.id is null or b.id is null
   or a.n is distinct from b.n or a.score is distinct from b.score
   or a.name is distinct from b.name or a.day is distinct from b.day
   or a.flag is distinct from b.flag
"""


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def interleaved(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median seconds of each function, run round by round in alternating order."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    keys = list(fns)
    for r in range(repeat):
        for key in keys if r % 2 == 0 else keys[::-1]:
            start = time.perf_counter()
            fns[key]()
            times[key].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--rows", type=int, default=ROWS)
    args = p.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="tusk-bench-diff-"))
    try:
        path = folder / "diff.duckdb"
        with duckdb.connect(str(path)) as raw:
            raw.execute(BUILD.format(rows=args.rows))
            a: pa.Table = raw.execute("select * from a order by id").to_arrow_table()
            b: pa.Table = raw.execute("select * from b order by id").to_arrow_table()
        print(f"A {a.num_rows:,} rows, B {b.num_rows:,} rows · load {load()}")
        spec = ConnectionSpec("bench", "duckdb", path=str(path))
        engine = connect(spec)
        baseline = duckdb.connect(":memory:")
        baseline.register("a", a)
        baseline.register("b", b)
        expected = baseline.execute(RAW).fetchone()[0]  # type: ignore[index]

        def check(diff: object) -> None:
            total = diff.only_a + diff.only_b + diff.changed  # type: ignore[attr-defined]
            assert total == expected, (total, expected)

        def from_arrow() -> None:
            check(diff_results(a, b, ["id"]))

        def from_engine() -> None:
            left = engine.stream_arrow("select * from a")
            right = engine.stream_arrow("select * from b")
            check(diff_results(left, right, ["id"]))

        def raw_join() -> None:
            baseline.execute(RAW).fetchone()

        times = interleaved(
            {"arrow": from_arrow, "engine": from_engine, "raw": raw_join}, args.repeat
        )
        raw_s = times["raw"]
        print(f"differing rows: {expected:,}")
        for key, label in (("arrow", "from Arrow"), ("engine", "streamed by the engine")):
            verdict = "PASS" if times[key] <= 2.0 else "MISS"
            print(
                f"Tusk diff {label}: {times[key] * 1000:.0f} ms · raw DuckDB full join "
                f"{raw_s * 1000:.0f} ms · {times[key] / raw_s:.1f}× · target ≤ 2 s {verdict} "
                f"· load {load()}"
            )
        engine.close()
        baseline.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
