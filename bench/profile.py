"""Column profile of a 2M-row result: Tusk's pushdown against DuckDB's SUMMARIZE and psql.

Two cases, each interleaved round by round with its baseline so a change of load falls on both:

1. DuckDB: a generated 2,000,000-row, 8-column table (int, bigint, double, decimal, text with
   nulls, low-cardinality text, date, bool) in a temp file. Tusk's `tusk.profile.profile` on
   `select * from t` against DuckDB's own `SUMMARIZE select * from t` in the same process,
   on a copy of the file. Target: ≤ 1.5× SUMMARIZE.
2. PostgreSQL: `bench_fetch` (2M rows, 7 columns, built by bench/pg_fetch.py's code in
   `tusk_bench`). Tusk's profile against the same aggregate SQL (`tusk.profile.profile_sql`)
   run by psql. Target: ≤ 2×.

A report that always exits 0: `.venv/bin/python bench/profile.py --repeat 5`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pg_fetch  # noqa: E402 - bench/ helper: the 2M-row PostgreSQL table

from tusk.engines.registry import connect  # noqa: E402
from tusk.engines.spec import ConnectionSpec  # noqa: E402
from tusk.profile import profile, profile_sql  # noqa: E402
from tusk.queries import Statement  # noqa: E402

DUCK_ROWS = 2_000_000
FILL = """
create table t as
select i::integer as id,
       (i * 7919)::bigint as big,
       i * 0.001 + (i % 97) / 7.0 as score,
       ((i * 31) % 100000)::decimal(12, 2) / 100 as amount,
       case when i % 13 = 0 then null else 'customer-' || (i % 50000) end as name,
       'tag' || (i % 10) as tag,
       date '2020-01-01' + (i % 2000)::integer as day,
       i % 3 = 0 as flag
from range({rows}) r(i)
"""


def load() -> str:
    """The 1-minute load average, to print beside the numbers."""
    return f"{os.getloadavg()[0]:.1f}"


def interleaved(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median seconds of each function, run round by round in alternating order."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    keys = list(fns)
    for r in range(repeat):
        order = keys if r % 2 == 0 else keys[::-1]
        for key in order:
            start = time.perf_counter()
            fns[key]()
            times[key].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def report(name: str, tusk: float, base: float, baseline: str, target: float) -> None:
    ratio = tusk / base
    verdict = "PASS" if ratio <= target else "MISS"
    print(
        f"{name}: Tusk {tusk * 1000:.0f} ms · {baseline} {base * 1000:.0f} ms · "
        f"{ratio:.2f}× (target ≤ {target}×) {verdict} · load {load()}"
    )


def duckdb_case(repeat: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="tusk-bench-profile-"))
    try:
        path = folder / "profile.duckdb"
        start = time.perf_counter()
        with duckdb.connect(str(path)) as raw:
            raw.execute(FILL.format(rows=DUCK_ROWS))
        print(f"built t ({DUCK_ROWS:,} rows, 8 columns) in {time.perf_counter() - start:.1f} s")
        spec = ConnectionSpec("bench", "duckdb", path=str(path))
        conn = connect(spec)
        statement = Statement.plain("select * from t")
        schema = conn.execute(statement.sql, limit=10).table.schema
        # DuckDB refuses a second connection to an open file with another configuration:
        # SUMMARIZE reads a byte-for-byte copy.
        copy = folder / "summarize.duckdb"
        shutil.copyfile(path, copy)
        summarize = duckdb.connect(str(copy))

        def tusk() -> object:
            return profile(spec, conn, statement, schema)

        def summary() -> object:
            return summarize.execute("summarize select * from t").fetchall()

        times = interleaved({"tusk": tusk, "summarize": summary}, repeat)
        report("DuckDB 2M × 8", times["tusk"], times["summarize"], "SUMMARIZE", 1.5)
        conn.close()
        summarize.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def postgres_case(args: argparse.Namespace, repeat: int) -> None:
    pg_fetch.ensure_database(args)
    pg_fetch.ensure_table(args)
    spec = ConnectionSpec(
        "bench",
        "postgres",
        host=args.host,
        port=args.port,
        database=args.database,
        user=args.user,
        password=args.password,
    )
    conn = connect(spec)
    statement = Statement.plain(f"select * from {pg_fetch.TABLE}")
    schema = conn.execute(statement.sql, limit=10).table.schema
    (sql,) = profile_sql("postgres", statement.sql, schema)
    psql = shutil.which("psql") or "/usr/lib/postgresql/15/bin/psql"
    env = {**os.environ, "PGPASSWORD": args.password}
    command = [
        psql,
        "-X",
        "-q",
        "-h",
        args.host,
        "-p",
        str(args.port),
        "-U",
        args.user,
        "-d",
        args.database,
        "-c",
        sql,
    ]

    def tusk() -> object:
        return profile(spec, conn, statement, schema)

    def raw() -> object:
        return subprocess.run(command, env=env, check=True, capture_output=True)

    times = interleaved({"tusk": tusk, "psql": raw}, repeat)
    report("PostgreSQL 2M × 7", times["tusk"], times["psql"], "psql, same SQL", 2.0)
    conn.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--only", choices=["duckdb", "postgres"], default=None)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5432)
    p.add_argument("--user", default="postgres")
    p.add_argument("--password", default=os.environ.get("TUSK_BENCH_PG_PASSWORD", "tusk"))
    p.add_argument("--database", default="tusk_bench")
    p.add_argument("--rows", type=int, default=2_000_000)
    args = p.parse_args(argv)
    print(f"load {load()} at start")
    if args.only in (None, "duckdb"):
        duckdb_case(args.repeat)
    if args.only in (None, "postgres"):
        postgres_case(args, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
