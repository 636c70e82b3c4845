"""Benchmark Tusk's PostgreSQL fetch paths against common baselines.

Full fetch of a 7-column table into Arrow (Tusk stream_arrow vs pandas.read_sql vs the raw
DuckDB postgres scanner) and the first page of results (Tusk execute vs psycopg + LIMIT).
It is a report, not a test: it exits 0 whether the targets are met or not.

    python bench/pg_fetch.py --rows 2000000 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import psycopg
import psycopg.conninfo
import pyarrow as pa
from psycopg import sql as pgsql

from tusk.engines.base import Connection
from tusk.engines.duckdb import open_duckdb
from tusk.engines.registry import connect
from tusk.engines.spec import ConnectionSpec

TABLE = "bench_fetch"
FULL_SQL = f"select * from {TABLE}"
PAGE = 1000
PAGE_REPEAT = 7

CREATE_SQL = f"""
create table {TABLE} (
    id      int8 not null,
    name    text,
    amount  numeric(12, 2),
    score   float8,
    created timestamptz,
    active  bool,
    payload jsonb
)
"""

# One server-side INSERT … SELECT: no rows cross the wire while filling the table.
FILL_SQL = """
insert into {table}
select i,
       'customer-' || i || '-' || repeat(chr((97 + i % 26)::int), (i % 17)::int),
       ((i * 7919) % 1000000000)::numeric / 100,
       i * 0.001 + (i % 97) / 7.0,
       timestamptz '2020-01-01 00:00:00+00' + i * interval '17 seconds',
       case when i % 11 = 0 then null else i % 3 = 0 end,
       jsonb_build_object('id', i, 'tag', 'tag' || (i % 10), 'ok', i % 2 = 0)
from generate_series(1::int8, {rows}::int8) as g(i)
"""


@dataclass
class Timing:
    """One measurement: its name, the seconds of each run and the rows it returned."""

    label: str
    seconds: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    expected: int = 0

    @property
    def median(self) -> float:
        """Median of the runs, in seconds."""
        return statistics.median(self.seconds)

    @property
    def rows_ok(self) -> bool:
        """True when every run returned the expected number of rows."""
        return bool(self.rows) and all(n == self.expected for n in self.rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5432)
    p.add_argument("--user", default="postgres")
    p.add_argument("--password", default=os.environ.get("TUSK_BENCH_PG_PASSWORD", "tusk"))
    p.add_argument("--database", default="tusk_bench")
    p.add_argument("--rows", type=int, default=2_000_000)
    p.add_argument("--repeat", type=int, default=3, help="full-fetch runs; the median counts")
    return p.parse_args(argv)


def conninfo(args: argparse.Namespace, database: str) -> str:
    """A libpq connection string for the given database."""
    return psycopg.conninfo.make_conninfo(
        host=args.host,
        port=args.port,
        user=args.user,
        password=args.password,
        dbname=database,
        application_name="tusk-bench",
    )


def ensure_database(args: argparse.Namespace) -> None:
    """Create the benchmark database when it does not exist yet."""
    with psycopg.connect(conninfo(args, "postgres"), autocommit=True) as conn:
        found = conn.execute(
            "select 1 from pg_database where datname = %s", (args.database,)
        ).fetchone()
        if not found:
            print(f"creating database {args.database!r}")
            conn.execute(pgsql.SQL("create database {}").format(pgsql.Identifier(args.database)))


def ensure_table(args: argparse.Namespace) -> None:
    """(Re)build bench_fetch server-side when it is missing or has the wrong row count."""
    with psycopg.connect(conninfo(args, args.database), autocommit=True) as conn:
        exists = conn.execute("select to_regclass(%s)", (f"public.{TABLE}",)).fetchone()[0]
        if exists is not None:
            count = conn.execute(f"select count(*) from {TABLE}").fetchone()[0]
            if count == args.rows:
                print(f"reusing {TABLE} ({count:,} rows)")
                return
            print(f"{TABLE} has {count:,} rows, want {args.rows:,}: rebuilding")
        start = time.perf_counter()
        conn.execute(f"drop table if exists {TABLE}")
        conn.execute(CREATE_SQL)
        conn.execute(
            pgsql.SQL(FILL_SQL).format(table=pgsql.Identifier(TABLE), rows=pgsql.Literal(args.rows))
        )
        conn.execute(f"vacuum (analyze) {TABLE}")  # sets hint bits so run 1 is not penalised
        print(f"built {TABLE} with {args.rows:,} rows in {time.perf_counter() - start:.1f} s")


def measure(label: str, fn: Callable[[], int], repeat: int, expected: int) -> Timing:
    """Run fn `repeat` times; fn returns the number of rows it fetched."""
    t = Timing(label, expected=expected)
    for _ in range(repeat):
        start = time.perf_counter()
        n = fn()
        t.seconds.append(time.perf_counter() - start)
        t.rows.append(n)
    return t


def tusk_spec(args: argparse.Namespace) -> ConnectionSpec:
    """The Tusk connection spec for the benchmark database."""
    return ConnectionSpec(
        "bench",
        "postgres",
        host=args.host,
        port=args.port,
        database=args.database,
        user=args.user,
        password=args.password,
    )


def full_tusk(conn: Connection) -> int:
    """Tusk: stream_arrow collected into one pyarrow Table."""
    table = pa.Table.from_batches(list(conn.stream_arrow(FULL_SQL)))
    return table.num_rows


def full_pandas(info: str) -> int:
    """Baseline: pandas.read_sql over a psycopg connection, then into a pyarrow Table."""
    with psycopg.connect(info, autocommit=True) as pg, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*SQLAlchemy.*", category=UserWarning)
        df = pd.read_sql(FULL_SQL, pg)
    return pa.Table.from_pandas(df, preserve_index=False).num_rows


def full_duckdb(info: str) -> int:
    """Baseline: DuckDB's postgres scanner on the table itself (ATTACH + parallel scan)."""
    duck = open_duckdb(None, ["postgres_scanner"])
    try:
        literal = "'" + info.replace("'", "''") + "'"
        duck.execute(f"ATTACH {literal} AS pg (TYPE postgres, READ_ONLY)")
        return duck.sql(f"SELECT * FROM pg.public.{TABLE}").to_arrow_table().num_rows
    finally:
        duck.close()


def page_tusk(conn: Connection) -> int:
    """Tusk: execute() with limit=1000 (server-side cursor, limit + 1 rows)."""
    result = conn.execute(FULL_SQL, limit=PAGE)
    return result.table.num_rows


def page_raw(pg: psycopg.Connection) -> int:
    """Baseline: plain psycopg with LIMIT in the SQL, fetchall into tuples."""
    with pg.cursor() as cur:
        cur.execute(f"{FULL_SQL} limit {PAGE}")
        return len(cur.fetchall())


def verdict(ratio: float, target: float) -> str:
    """PASS when the ratio is within its target."""
    return "PASS" if ratio <= target else "MISS"


def report(args: argparse.Namespace, timings: dict[str, Timing], load_start: float) -> None:
    """Print the table of medians and the ratios with their targets."""
    cpus = os.cpu_count() or 1
    load_end = os.getloadavg()[0]
    print()
    print(f"PostgreSQL fetch benchmark: {args.rows:,} rows of {TABLE} at ", end="")
    print(f"{args.host}:{args.port}/{args.database}")
    print(f"machine: {cpus} CPUs, 1-min load average {load_start:.2f} before, {load_end:.2f} after")
    if load_start > cpus / 2:  # the "after" figure includes this benchmark's own load
        print("NOTE: the machine was busy; timings (and the ratios) are noisy, run again when idle")
    head = f"{'measurement':<48} {'median s':>10} {'min s':>9} {'max s':>9} {'runs':>5}  rows"
    print(head)
    print("-" * len(head))
    for t in timings.values():
        rows = f"{t.rows[0]:,} " + ("ok" if t.rows_ok else f"WRONG (want {t.expected:,})")
        print(
            f"{t.label:<48} {t.median:>10.4f} {min(t.seconds):>9.4f} {max(t.seconds):>9.4f}"
            f" {len(t.seconds):>5}  {rows}"
        )
    full = timings["tusk_full"].median
    ratios = [
        ("tusk_full / duckdb_scanner", full / timings["duckdb_full"].median, 1.2),
        ("tusk_full / pandas.read_sql", full / timings["pandas_full"].median, None),
        (
            "tusk_first_page / raw_limit",
            timings["tusk_page"].median / timings["raw_page"].median,
            2.0,
        ),
    ]
    print()
    print("ratios (lower is better for Tusk)")
    for name, ratio, target in ratios:
        tail = f"target <= {target:.1f}  {verdict(ratio, target)}" if target else "(info)"
        print(f"  {name:<30} {ratio:>7.2f}x   {tail}")
    if not all(t.rows_ok for t in timings.values()):
        print("WARNING: some measurement returned the wrong number of rows")


def main(argv: list[str] | None = None) -> int:
    """Build the data if needed, run every measurement, print the report."""
    args = parse_args(argv)
    if args.repeat < 1 or args.rows < 1:
        raise SystemExit("--repeat and --rows must be at least 1")
    ensure_database(args)
    ensure_table(args)
    info = conninfo(args, args.database)
    timings: dict[str, Timing] = {}
    load_start = os.getloadavg()[0]
    conn = connect(tusk_spec(args))
    pg = psycopg.connect(info, autocommit=True)
    try:
        pg.execute(f"select count(*) from {TABLE}")  # warm the OS cache before timing
        full = {
            "tusk_full": ("full: Tusk stream_arrow -> Table", lambda: full_tusk(conn)),
            "pandas_full": ("full: pandas.read_sql (psycopg) -> Table", lambda: full_pandas(info)),
            "duckdb_full": ("full: raw DuckDB postgres scanner", lambda: full_duckdb(info)),
        }
        page = {
            "tusk_page": (f"first page: Tusk execute(limit={PAGE})", lambda: page_tusk(conn)),
            "raw_page": (f"first page: psycopg 'limit {PAGE}' fetchall", lambda: page_raw(pg)),
        }
        for group, repeat, expected in ((full, args.repeat, args.rows), (page, PAGE_REPEAT, PAGE)):
            for key, (label, fn) in group.items():
                print(f"timing {label} x{repeat} ...", flush=True)
                timings[key] = measure(label, fn, repeat, expected)
    finally:
        pg.close()
        conn.close()
    report(args, timings, load_start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
