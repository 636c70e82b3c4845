"""Benchmark Tusk's PostgreSQL fetch paths against common baselines.

Full fetch into Arrow of a 7-column table (jsonb, numeric(12,2), timestamptz …) and of the same
table with three more columns the scanner has PostgreSQL render as text (an enum, inet, a
range): Tusk stream_arrow vs the raw DuckDB postgres scanner, runs interleaved, plus
pandas.read_sql; and the first page of results (Tusk execute vs psycopg + LIMIT).
It is a report, not a test: it exits 0 whether the targets are met or not.

    python bench/pg_fetch.py --rows 2000000 --repeat 5
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
TEXT_TABLE = "bench_fetch_text"
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

# The same rows with three columns the scanner does not know (it has PostgreSQL render them
# as text): before, such a table took the one-backend query path instead of the table scan.
TEXT_SQL = f"""
do $$ begin
    if to_regtype('bench_mood') is null then
        create type bench_mood as enum ('sad', 'ok', 'happy');
    end if;
end $$;
drop table if exists {TEXT_TABLE};
create table {TEXT_TABLE} as
select t.*,
       (array['sad', 'ok', 'happy']::bench_mood[])[1 + id % 3] as mood,
       ('10.' || (id % 256) || '.' || (id / 256 % 256) || '.1')::inet as client,
       int8range(id, id + id % 100) as span
from {TABLE} t
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
    p.add_argument("--repeat", type=int, default=5, help="full-fetch runs; the median counts")
    p.add_argument(
        "--pandas-repeat", type=int, default=1, help="pandas.read_sql runs (slow); 0 skips it"
    )
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


def ensure_text_table(args: argparse.Namespace) -> None:
    """(Re)build bench_fetch_text from bench_fetch when it is missing or out of date."""
    with psycopg.connect(conninfo(args, args.database), autocommit=True) as conn:
        if conn.execute("select to_regclass(%s)", (f"public.{TEXT_TABLE}",)).fetchone()[0]:
            count = conn.execute(f"select count(*) from {TEXT_TABLE}").fetchone()[0]
            if count == args.rows:
                print(f"reusing {TEXT_TABLE} ({count:,} rows)")
                return
        start = time.perf_counter()
        conn.execute(TEXT_SQL)
        conn.execute(f"vacuum (analyze) {TEXT_TABLE}")
        print(f"built {TEXT_TABLE} in {time.perf_counter() - start:.1f} s")


def measure(label: str, fn: Callable[[], int], repeat: int, expected: int) -> Timing:
    """Run fn `repeat` times; fn returns the number of rows it fetched."""
    t = Timing(label, expected=expected)
    for _ in range(repeat):
        run_once(t, fn)
    return t


def run_once(t: Timing, fn: Callable[[], int]) -> None:
    """Time one call of fn into t."""
    start = time.perf_counter()
    n = fn()
    t.seconds.append(time.perf_counter() - start)
    t.rows.append(n)


def interleaved(
    group: dict[str, tuple[str, Callable[[], int]]], repeat: int, expected: int
) -> dict[str, Timing]:
    """Time each fn `repeat` times, round by round in alternating order, so a change in the
    machine's load falls on every measurement alike."""
    timings = {key: Timing(label, expected=expected) for key, (label, _) in group.items()}
    keys = list(group)
    for round_ in range(repeat):
        print(f"  round {round_ + 1}/{repeat}", flush=True)
        for key in keys if round_ % 2 == 0 else reversed(keys):
            run_once(timings[key], group[key][1])
    return timings


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


def full_tusk(conn: Connection, table: str = TABLE, where: str = "") -> int:
    """Tusk: stream_arrow collected into one pyarrow Table."""
    arrow = pa.Table.from_batches(list(conn.stream_arrow(f"select * from {table}{where}")))
    return arrow.num_rows


def full_pandas(info: str) -> int:
    """Baseline: pandas.read_sql over a psycopg connection, then into a pyarrow Table."""
    with psycopg.connect(info, autocommit=True) as pg, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*SQLAlchemy.*", category=UserWarning)
        df = pd.read_sql(FULL_SQL, pg)
    return pa.Table.from_pandas(df, preserve_index=False).num_rows


def full_duckdb(info: str, table: str = TABLE) -> int:
    """Baseline: DuckDB's postgres scanner on the table itself (ATTACH + parallel scan)."""
    duck = open_duckdb(None, ["postgres_scanner"])
    try:
        literal = "'" + info.replace("'", "''") + "'"
        duck.execute(f"ATTACH {literal} AS pg (TYPE postgres, READ_ONLY)")
        return duck.sql(f"SELECT * FROM pg.public.{table}").to_arrow_table().num_rows
    finally:
        duck.close()


def stream_path(conn: Connection, table: str) -> str:
    """The path Tusk's stream_arrow takes for a whole table (table scan, query, cursor)."""
    whole = f"select * from {table}"
    stream = conn.stream_arrow(whole)
    next(stream, None)  # the path is chosen before the first batch
    stream.close()
    return getattr(conn, "_stream_path", "?")


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


def report(
    args: argparse.Namespace, timings: dict[str, Timing], load_start: float, paths: dict[str, str]
) -> None:
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
        (
            "tusk_text / duckdb_scanner_text",
            timings["tusk_text"].median / timings["duckdb_text"].median,
            1.2,
        ),
        (
            "tusk_text / tusk_text_query_path",
            timings["tusk_text"].median / timings["tusk_text_query"].median,
            None,
        ),
        (
            "tusk_first_page / raw_limit",
            timings["tusk_page"].median / timings["raw_page"].median,
            2.0,
        ),
    ]
    if "pandas_full" in timings:
        ratios.insert(
            2, ("tusk_full / pandas.read_sql", full / timings["pandas_full"].median, None)
        )
    print()
    for table, path in paths.items():
        print(f"Tusk's stream_arrow path for select * from {table}: {path}")
    print("ratios (lower is better for Tusk)")
    for name, ratio, target in ratios:
        tail = f"target <= {target:.1f}  {verdict(ratio, target)}" if target else "(info)"
        print(f"  {name:<32} {ratio:>7.2f}x   {tail}")
    if not all(t.rows_ok for t in timings.values()):
        print("WARNING: some measurement returned the wrong number of rows")


def main(argv: list[str] | None = None) -> int:
    """Build the data if needed, run every measurement, print the report."""
    args = parse_args(argv)
    if args.repeat < 1 or args.rows < 1 or args.pandas_repeat < 0:
        raise SystemExit("--repeat and --rows must be at least 1, --pandas-repeat at least 0")
    ensure_database(args)
    ensure_table(args)
    ensure_text_table(args)
    info = conninfo(args, args.database)
    timings: dict[str, Timing] = {}
    load_start = os.getloadavg()[0]
    conn = connect(tusk_spec(args))
    pg = psycopg.connect(info, autocommit=True)
    try:
        for table in (TABLE, TEXT_TABLE):
            pg.execute(f"select count(*) from {table}")  # warm the OS cache before timing
        paths = {table: stream_path(conn, table) for table in (TABLE, TEXT_TABLE)}
        full = {
            "tusk_full": (f"full: Tusk stream_arrow {TABLE}", lambda: full_tusk(conn)),
            "duckdb_full": (f"full: raw DuckDB scanner {TABLE}", lambda: full_duckdb(info)),
            "tusk_text": (
                f"full: Tusk stream_arrow {TEXT_TABLE}",
                lambda: full_tusk(conn, TEXT_TABLE),
            ),
            "duckdb_text": (
                f"full: raw DuckDB scanner {TEXT_TABLE}",
                lambda: full_duckdb(info, TEXT_TABLE),
            ),
            # Not a whole table: the one-backend query path, which the text table took before.
            "tusk_text_query": (
                f"full: Tusk {TEXT_TABLE} where true",
                lambda: full_tusk(conn, TEXT_TABLE, " where true"),
            ),
        }
        print(f"timing full fetches x{args.repeat}, interleaved ...", flush=True)
        timings.update(interleaved(full, args.repeat, args.rows))
        if args.pandas_repeat > 0:
            label = "full: pandas.read_sql (psycopg) -> Table"
            print(f"timing {label} x{args.pandas_repeat} ...", flush=True)
            timings["pandas_full"] = measure(
                label, lambda: full_pandas(info), args.pandas_repeat, args.rows
            )
        page = {
            "tusk_page": (f"first page: Tusk execute(limit={PAGE})", lambda: page_tusk(conn)),
            "raw_page": (f"first page: psycopg 'limit {PAGE}' fetchall", lambda: page_raw(pg)),
        }
        print(f"timing first pages x{PAGE_REPEAT}, interleaved ...", flush=True)
        timings.update(interleaved(page, PAGE_REPEAT, PAGE))
    finally:
        pg.close()
        conn.close()
    report(args, timings, load_start, paths)
    return 0


if __name__ == "__main__":
    sys.exit(main())
