"""TPC-H through Tusk's cluster mode against Daft's own client, DuckDB and local DataFusion.

What is timed, per query and in total over a set of TPC-H queries Daft supports:

- tusk: `tusk.cluster.client.run(address, sql, tables)` on a local Ray cluster (head + N
  workers). Queries run in an isolated process that stays warm after a success (a failure,
  cancel or timeout replaces it); the first query's start-up is part of Tusk's price and is
  counted.
- daft: Daft's own client on the same cluster and the same Parquet files:
  `daft.set_runner_ray(address=…)` once, then `daft.sql(sql, **tables).to_arrow()` (the tables
  built outside the timing), in one long-lived child process that stays up beside Tusk's warm
  query process and is asked one query at a time, right before or after Tusk runs the same
  query (the order swaps every round), so both are timed in the same minutes of a shared,
  noisy machine; its one-off connect time is printed apart and not counted. DECIMAL columns
  are cast to DOUBLE the same way Tusk does, so both run the same plan.
- duckdb: DuckDB on this machine over the same files (DECIMAL read as DOUBLE too).
- datafusion: `tusk.cluster.client.run_local` (Tusk's single-node mode) on this machine.

The tables are generated once by DuckDB's `tpch` extension (loaded offline from the pinned
`duckdb-extension-tpch` wheel) and exported to Parquet in a cache folder (`--cache`, default
`$TMPDIR/tusk-bench-cluster/sf<SF>`) reused by later runs. Engines run one after the other
per query (tusk and daft, then duckdb, datafusion), after one untimed warm-up query on each,
so the OS page cache treats them alike; each figure is the median of `--repeat` runs. It then
prints where Tusk's time goes (the phase marks of `ClusterQuery.marks`: checks, query log,
hand-off, table registration, Daft's own plan and run, result transfer) and the machine load. Everything runs
on this one machine, so "cluster" here measures overhead, not scale-out. The target is
tusk / daft ≤ 1.1×. It is a report, not a test: it always exits 0.

    .venv/bin/python bench/cluster.py --sf 1 --workers 2 --repeat 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

TARGET = 1.1  # tusk / daft's own client
# Supported by Daft (tests/cluster/test_tpch.py); a mix of scans, wide joins and subqueries.
DEFAULT_QUERIES = "1,3,5,6,9,10,12,13,14,18"
ANSWER = "@@bench@@ "
TABLES = ("customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier")


def ensure_tpch(cache: Path, sf: float) -> dict[str, str]:
    """Generate TPC-H at `sf` into Parquet files in `cache` unless they are already there."""
    from tusk.engines.duckdb import BASE_CONFIG, load_extension

    paths = {name: str(cache / f"{name}.parquet") for name in TABLES}
    done = cache / "complete"  # written last, so a run stopped half-way regenerates
    if done.exists():
        return paths
    cache.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    con = duckdb.connect(config=BASE_CONFIG)
    load_extension(con, "tpch")
    con.execute(f"CALL dbgen(sf={sf})")
    for name, path in paths.items():
        con.execute(f"COPY {name} TO '{path}' (FORMAT parquet)")
    con.close()
    done.write_text(str(sf))
    print(f"generated TPC-H sf={sf} in {time.monotonic() - began:.1f} s -> {cache}")
    return paths


def query_texts() -> dict[int, str]:
    """DuckDB's TPC-H query texts by number."""
    from tusk.engines.duckdb import BASE_CONFIG, load_extension

    con = duckdb.connect(config=BASE_CONFIG)
    load_extension(con, "tpch")
    return dict(con.execute("SELECT query_nr, query FROM tpch_queries()").fetchall())


def duckdb_connection(tables: dict[str, str]) -> duckdb.DuckDBPyConnection:
    """DuckDB views over the Parquet files with DECIMAL read as DOUBLE, like the cluster."""
    from tusk.engines.duckdb import BASE_CONFIG

    con = duckdb.connect(config=BASE_CONFIG)
    for name, path in tables.items():
        columns = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
        select = ", ".join(
            f"{col}::DOUBLE AS {col}" if kind.startswith("DECIMAL") else col
            for col, kind, *_ in columns
        )
        con.execute(f"CREATE VIEW {name} AS SELECT {select} FROM read_parquet('{path}')")
    return con


def timed(run: Any) -> tuple[float | None, int | None, str | None]:
    """(seconds, rows, error) of one call returning an Arrow table or a row list."""
    began = time.perf_counter()
    try:
        result = run()
    except BaseException as exc:  # noqa: BLE001 - Daft panics are BaseExceptions; report them
        return None, None, f"{type(exc).__name__}: {str(exc).splitlines()[-1][:120]}"
    elapsed = time.perf_counter() - began
    rows = result.num_rows if hasattr(result, "num_rows") else len(result)
    return elapsed, rows, None


# --- Daft's own client, in a child process -----------------------------------------------------


def daft_child(spec_path: str) -> None:
    """`--daft-child SPEC`: connect once, then answer query numbers read from stdin one a line
    with one JSON line each: [seconds, rows, error]. The first line is the connect time."""
    from tusk.cluster.runner import read_table

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    import daft

    began = time.perf_counter()
    daft.set_runner_ray(address=spec["address"])
    # The first query pays Ray's connect and actor start-up: keep it apart from the timings.
    warm = {n: read_table(p) for n, p in spec["tables"].items()}
    daft.sql("select count(*) from region", **warm).to_arrow()
    answer_line({"connect_s": time.perf_counter() - began})
    for line in sys.stdin:
        sql = spec["queries"][line.strip()]
        # Tables are built as the runner does, but outside the timing: Daft's client at its best.
        tables = {n: read_table(p) for n, p in spec["tables"].items()}
        answer_line(timed(lambda sql=sql, tables=tables: daft.sql(sql, **tables).to_arrow()))
    os._exit(0)  # skip Ray's atexit shutdown, as the runner does


def answer_line(value: Any) -> None:
    """One JSON line to the parent, marked so Ray's and Daft's own prints are skipped."""
    sys.stdout.write(ANSWER + json.dumps(value) + "\n")
    sys.stdout.flush()


class DaftClient:
    """Daft's own client in a long-lived child process, asked one query at a time, so that its
    queries run in the same minutes as Tusk's (the machine is shared and noisy)."""

    def __init__(self, address: str, tables: dict[str, str], queries: dict[int, str]) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as spec:
            json.dump({"address": address, "tables": tables, "queries": queries}, spec)
        self.spec = spec.name
        env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--daft-child", spec.name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self.connect_s = self.read()["connect_s"]

    def read(self) -> Any:
        """The child's next answer line."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(ANSWER):
                return json.loads(line[len(ANSWER) :])
        raise RuntimeError(f"Daft's client exited with code {self.proc.wait()}")

    def run(self, number: int) -> tuple[float | None, int | None, str | None]:
        """Time one query in the child."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(f"{number}\n")
            self.proc.stdin.flush()
            seconds, rows, error = self.read()
        except (OSError, RuntimeError) as exc:  # the child died: report, never stop the bench
            return None, None, str(exc)
        return seconds, rows, error

    def close(self) -> None:
        """End the child (its Ray job and actors go with it)."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.unlink(self.spec)


# --- where Tusk's time goes --------------------------------------------------------------------

# (label, mark where the phase starts, mark where it ends); marks are set by tusk.cluster.client
# (submit, tables_checked, head, logged, sent, seen, read, settled) and by the runner (received,
# connected, tables, executed, written), all on the host's one monotonic clock.
PHASES = (
    ("checks (tables, head probe)", "submit", "head"),
    ("query log + spec file", "head", "logged"),
    ("hand-off to the warm process", "logged", "received"),
    ("table registration (schemas)", "connected", "tables"),
    ("Daft plan + run (to_arrow)", "tables", "executed"),
    ("result written (Arrow IPC)", "executed", "written"),
    ("answer noticed", "written", "seen"),
    ("result read", "seen", "read"),
    ("settled (log, clean-up)", "read", "settled"),
)


def tusk_call(client: Any, address: str, sql: str, tables: dict[str, str], marks: list) -> Any:
    """client.run, keeping the query's phase marks and the caller's own start and end."""
    began = time.monotonic()
    query = client.submit(address, sql, tables, timeout_s=1800)
    table = query.result()
    marks.append({**query.marks, "call": began, "returned": time.monotonic()})
    return table


# --- the report --------------------------------------------------------------------------------


def fmt(seconds: float | None) -> str:
    """Seconds for the table, or n/a."""
    return "n/a" if seconds is None else f"{seconds:8.2f}"


def main() -> int:
    """Parse arguments, run every engine, print per-query medians, totals and ratios."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sf", type=float, default=1.0, help="TPC-H scale factor (default 1)")
    parser.add_argument("--cache", type=Path, help="Parquet cache folder")
    parser.add_argument("--queries", default=DEFAULT_QUERIES, help="comma-separated numbers")
    parser.add_argument("--workers", type=int, default=2, help="worker nodes (default 2)")
    parser.add_argument("--cpus", type=int, default=1, help="CPUs per node (default 1)")
    parser.add_argument("--address", help="use a running cluster at HOST:PORT instead")
    parser.add_argument("--repeat", type=int, default=2, help="runs per engine (median)")
    parser.add_argument("--daft-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.daft_child:
        daft_child(args.daft_child)
        return 0

    # The query log goes to a throwaway TUSK_HOME, never the user's own.
    os.environ.setdefault("TUSK_HOME", tempfile.mkdtemp(prefix="tusk-bench-home-"))
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    from tusk.cluster import client
    from tusk.cluster.nodes import LocalCluster

    sf_name = f"{args.sf:g}".replace(".", "_")
    cache = args.cache or Path(tempfile.gettempdir()) / "tusk-bench-cluster" / f"sf{sf_name}"
    tables = ensure_tpch(cache, args.sf)
    texts = query_texts()
    numbers = [int(n) for n in args.queries.split(",") if n.strip()]
    queries = {n: texts[n] for n in numbers}

    cluster = None
    address = args.address
    if address is None:
        began = time.monotonic()
        cluster = LocalCluster(args.workers, head_cpus=args.cpus, worker_cpus=args.cpus).start()
        address = cluster.address
        print(
            f"cluster: head + {args.workers} workers x {args.cpus} CPU, up in "
            f"{time.monotonic() - began:.1f} s at {address}"
        )
    times: dict[str, dict[int, list[float]]] = {
        e: {n: [] for n in numbers} for e in ("tusk", "daft", "duckdb", "datafusion")
    }
    errors: dict[tuple[str, int], str] = {}
    rows: dict[tuple[str, int], int | None] = {}
    marks: list[dict[str, float]] = []
    daft_client = None
    load_start = os.getloadavg()[0]
    try:
        con = duckdb_connection(tables)
        # Untimed warm-up of each engine and of the page cache.
        warm = "select count(*) as n from lineitem"
        client.run(address, warm, tables)
        con.execute(warm).fetchall()
        client.run_local(warm, tables)
        # Daft's client stays up beside Tusk's warm query process: one connect, as its users
        # do, and each query runs right before or after Tusk's (the order swaps every round).
        daft_client = DaftClient(address, tables, queries)
        for round_ in range(args.repeat):
            for number, sql in queries.items():
                tusk = ("tusk", lambda sql=sql: tusk_call(client, address, sql, tables, marks))
                daft = ("daft", lambda number=number: daft_client.run(number))
                pair = [tusk, daft] if round_ % 2 == 0 else [daft, tusk]
                for engine, call in (
                    *pair,
                    ("duckdb", lambda sql=sql: con.execute(sql).to_arrow_table()),
                    ("datafusion", lambda sql=sql: client.run_local(sql, tables)),
                ):
                    if engine == "daft":
                        seconds, count, error = call()
                    else:
                        seconds, count, error = timed(call)
                    record(times, errors, rows, engine, number, seconds, count, error)
    finally:
        if daft_client is not None:
            daft_client.close()
        client.stop_warm()
        if cluster is not None:
            cluster.stop()

    print_report(args, numbers, times, errors, rows, daft_client and daft_client.connect_s)
    print_phases(marks)
    load_end = os.getloadavg()[0]
    cpus = os.cpu_count() or 1
    print(
        f"\nmachine: {cpus} CPUs, 1-min load average {load_start:.2f} before, {load_end:.2f} after"
    )
    if max(load_start, load_end) > cpus / 2:
        print("the machine was busy: compare ratios within this run only")
    return 0


def print_phases(marks: list[dict[str, float]]) -> None:
    """Median milliseconds of each phase of Tusk's queries, and what is not Daft's own work."""
    if not marks:
        return
    print(f"\nwhere a Tusk query's time goes (median ms over {len(marks)} queries)")
    rows = [*PHASES, ("caller's wait wake-up", "settled", "returned")]
    for label, start, end in rows:
        spans = [1000 * (m[end] - m[start]) for m in marks if start in m and end in m]
        if spans:
            print(f"  {label:<32}{statistics.median(spans):9.1f}")
    overhead = [
        1000 * ((m["returned"] - m["call"]) - (m["executed"] - m["tables"]))
        for m in marks
        if "executed" in m
    ]
    if overhead:
        print(
            f"  {'all but Daft plan + run':<32}{statistics.median(overhead):9.1f}"
            f"   (max {max(overhead):.1f})"
        )


def record(
    times: dict[str, dict[int, list[float]]],
    errors: dict[tuple[str, int], str],
    rows: dict[tuple[str, int], int | None],
    engine: str,
    number: int,
    seconds: float | None,
    count: int | None,
    error: str | None,
) -> None:
    """Keep one run's outcome."""
    if seconds is None:
        errors[(engine, number)] = error or "failed"
    else:
        times[engine][number].append(seconds)
        rows[(engine, number)] = count


def print_report(
    args: argparse.Namespace,
    numbers: list[int],
    times: dict[str, dict[int, list[float]]],
    errors: dict[tuple[str, int], str],
    rows: dict[tuple[str, int], int | None],
    connect_s: float | None,
) -> None:
    """Per-query medians, totals over the queries every engine answered, and the ratios."""
    engines = list(times)
    median = {
        e: {n: statistics.median(v) if v else None for n, v in times[e].items()} for e in engines
    }
    print(f"\nTPC-H sf={args.sf:g}, median of {args.repeat} run(s), seconds")
    print("query " + "".join(f"{e:>12}" for e in engines) + "   rows")
    for n in numbers:
        counts = {rows.get((e, n)) for e in engines if (e, n) in rows}
        agree = "" if len(counts) <= 1 else "  ROW COUNTS DIFFER"
        line = f"Q{n:<5}" + "".join(f"{fmt(median[e][n]):>12}" for e in engines)
        print(line + f"   {next(iter(counts), None)}{agree}")
    common = [n for n in numbers if all(median[e][n] is not None for e in engines)]
    totals = {e: sum(median[e][n] for n in common) for e in engines}  # type: ignore[misc]
    print(
        "total " + "".join(f"{fmt(totals[e]):>12}" for e in engines) + f"   ({len(common)} queries)"
    )
    for (engine, number), error in sorted(errors.items()):
        print(f"  {engine} Q{number} failed: {error}")
    if connect_s is not None:
        print(f"daft client connect + first query (not counted): {connect_s:.2f} s")
    if not common or not totals["daft"]:
        print("no query ran on every engine: no ratios")
        return
    ratio = totals["tusk"] / totals["daft"]
    verdict = "PASS" if ratio <= TARGET else "MISS"
    per_query = (totals["tusk"] - totals["daft"]) / len(common)
    print(
        f"\ntusk / daft client      {ratio:5.2f}x  (target <= {TARGET}x: {verdict}; "
        f"{per_query:+.2f} s a query)"
    )
    print(f"tusk / duckdb (1 node)  {totals['tusk'] / totals['duckdb']:5.2f}x")
    print(f"tusk / datafusion local {totals['tusk'] / totals['datafusion']:5.2f}x")
    print(f"daft / duckdb (1 node)  {totals['daft'] / totals['duckdb']:5.2f}x")


if __name__ == "__main__":
    sys.exit(main())
