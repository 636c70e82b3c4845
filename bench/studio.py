"""Time from Run to result ready in the Studio, without a browser, against raw-driver baselines.

The Studio path is what the page does for a query: `Run(spec, conn, [Statement.plain(sql)], limit=1000)`
(engine execute + history write on a worker thread), wait until `run.done`, then
`display_frame(result.table)` (the grid preparation). The page waits with `run.wait(0.2)` between
Streamlit status updates; this script waits with `run.wait(--poll)` (0.01 s by default) so the
number is the engine's, not the page's. Baselines and Studio runs are interleaved; each figure
is the median of --repeat runs after one warm-up. History goes to a temporary TUSK_HOME.
It is a report, not a test: it exits 0 whether the targets are met or not.

Case 3c runs the same 1,000-row query with the engine in a worker process, as the app does
(tusk.engines.isolation: the result crosses a Unix socket as Arrow IPC), against the in-process
Studio path: the difference is what isolation costs (issue 13's target: at most 20 ms).

    python bench/studio.py --repeat 7
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import psycopg
from pg_fetch import TABLE, conninfo, ensure_database, ensure_table

from tusk.engines import isolation
from tusk.engines.base import Connection
from tusk.engines.duckdb import BASE_CONFIG
from tusk.engines.registry import connect
from tusk.engines.spec import ConnectionSpec
from tusk.queries import Statement
from tusk.runs import Run
from tusk.store import history
from tusk.ui.grid import display_frame

PAGE = 1000  # the Studio's row limit: it fetches PAGE + 1 rows to know whether there are more
PREVIEW_TARGET = 2.0  # Studio preview / raw LIMIT 1000
MEMORY_TARGET_MB = 50.0
WORKER_OVERHEAD_TARGET_MS = 20.0  # issue 13: the engine worker's cost on a 1,000-row result
DUCK_TABLE = "t"

# Built in a child process so the 2M-row build does not raise this process's peak RSS.
DUCK_BUILD = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("set enable_progress_bar = false")
con.execute('''
create table t as
select range as id,
       'customer-' || range as name,
       ((range * 7919) % 1000000000 / 100)::decimal(12, 2) as amount,
       range * 0.001 + (range % 97) / 7.0 as score,
       timestamp '2020-01-01' + to_seconds(range * 17) as created,
       date '2020-01-01' + (range % 3650)::integer as day,
       range % 3 = 0 as active
from range(?)
''', [int(sys.argv[2])])
con.close()
"""

PHASES = ("execute", "history", "other", "display")
PHASE_NOTES = {
    "execute": "conn.execute (QueryResult.elapsed_s)",
    "history": "history.record (SQLite insert)",
    "other": "thread start, hand-off, wake-up",
    "display": "display_frame(result.table)",
}


@dataclass
class Timing:
    """One measurement: its label, the seconds of each run, rows returned and Studio phases."""

    label: str
    expected: int
    seconds: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    phases: dict[str, list[float]] = field(default_factory=dict)

    @property
    def median(self) -> float:
        """Median of the runs, in seconds."""
        return statistics.median(self.seconds)

    @property
    def rows_ok(self) -> bool:
        """True when every run returned the expected number of rows."""
        return bool(self.rows) and all(n == self.expected for n in self.rows)

    def phase_median(self, name: str) -> float:
        """Median of one Studio phase, in seconds."""
        return statistics.median(self.phases[name])


@dataclass
class Memory:
    """Memory growth while previewing: peak RSS before/after and the tracemalloc peak."""

    label: str
    maxrss_before_kib: int
    maxrss_after_kib: int
    traced_peak_bytes: int
    runs: int

    @property
    def rss_growth_mb(self) -> float:
        """Growth of the process's peak RSS, in MB."""
        return (self.maxrss_after_kib - self.maxrss_before_kib) / 1024

    @property
    def traced_mb(self) -> float:
        """Peak Python allocations above the starting point, in MB."""
        return self.traced_peak_bytes / 2**20


@dataclass
class Case:
    """A Studio measurement, its baseline, an optional ratio target and memory figures."""

    name: str
    studio: Timing
    baseline: Timing
    target: float | None
    memory: Memory | None = None
    memory_target: float | None = None
    overhead_target_ms: float | None = None  # studio - baseline, in ms (the worker's cost)


@dataclass
class Sample:
    """One Studio run: total seconds, its phases and the rows it produced."""

    total: float
    phases: dict[str, float]
    rows: int
    truncated: bool


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5432)
    p.add_argument("--user", default="postgres")
    p.add_argument("--password", default=os.environ.get("TUSK_BENCH_PG_PASSWORD", "tusk"))
    p.add_argument("--database", default="tusk_bench")
    p.add_argument("--rows", type=int, default=2_000_000, help="rows in each big table")
    p.add_argument("--repeat", type=int, default=7, help="timed runs per measurement (median)")
    p.add_argument("--poll", type=float, default=0.01, help="run.wait() step in seconds")
    return p.parse_args(argv)


def maxrss_kib() -> int:
    """The process's peak resident set size so far (KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class HistoryTimer:
    """Wraps history.record (looked up by tusk.queries at call time) to time each write."""

    def __init__(self) -> None:
        self.last = 0.0
        self._original: Callable[..., int] = history.record

    def _record(self, *args: Any, **kwargs: Any) -> int:
        """history.record, timed."""
        start = time.perf_counter()
        try:
            return self._original(*args, **kwargs)
        finally:
            self.last = time.perf_counter() - start

    @contextmanager
    def installed(self) -> Iterator[HistoryTimer]:
        """Time history writes inside the block."""
        history.record = self._record
        try:
            yield self
        finally:
            history.record = self._original


def studio_once(
    spec: ConnectionSpec, conn: Connection, sql: str, poll: float, timer: HistoryTimer
) -> Sample:
    """The Studio path once: Run on a worker thread, wait for done, prepare the grid."""
    timer.last = 0.0
    start = time.perf_counter()
    run = Run(spec, conn, [Statement.plain(sql)], limit=PAGE)
    while not run.wait(poll):
        pass
    ready = time.perf_counter()
    outcome = run.outcomes[-1]
    if outcome.error is not None or outcome.result is None:
        raise RuntimeError(f"Studio run failed: {outcome.error}")
    result = outcome.result
    frame, _kinds = display_frame(result.table)
    end = time.perf_counter()
    execute = result.elapsed_s
    phases = {
        "execute": execute,
        "history": timer.last,
        "other": (ready - start) - execute - timer.last,
        "display": end - ready,
    }
    return Sample(end - start, phases, len(frame), result.truncated)


def measure_pair(
    studio: Timing,
    studio_fn: Callable[[], Sample],
    baseline: Timing,
    baseline_fn: Callable[[], int],
    repeat: int,
    expect_truncated: bool,
) -> None:
    """One warm-up of each, then `repeat` interleaved runs of baseline and Studio path."""
    for i in range(repeat + 1):
        start = time.perf_counter()
        n = baseline_fn()
        took = time.perf_counter() - start
        sample = studio_fn()
        if sample.truncated != expect_truncated:
            raise RuntimeError(f"{studio.label}: truncated={sample.truncated}, unexpected")
        if i == 0:
            continue  # warm-up
        baseline.seconds.append(took)
        baseline.rows.append(n)
        studio.seconds.append(sample.total)
        studio.rows.append(sample.rows)
        for name, value in sample.phases.items():
            studio.phases.setdefault(name, []).append(value)


def measure_memory(label: str, fn: Callable[[], Sample], runs: int) -> Memory:
    """Peak RSS around `runs` Studio runs; the first one also under tracemalloc."""
    before = maxrss_kib()
    tracemalloc.start()
    start_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    fn()
    peak = tracemalloc.get_traced_memory()[1] - start_bytes
    tracemalloc.stop()
    for _ in range(runs - 1):
        fn()
    return Memory(label, before, maxrss_kib(), peak, runs)


def pg_spec(args: argparse.Namespace) -> ConnectionSpec:
    """The Tusk connection spec for the benchmark database."""
    return ConnectionSpec(
        "bench-pg",
        "postgres",
        host=args.host,
        port=args.port,
        database=args.database,
        user=args.user,
        password=args.password,
    )


def raw_psycopg(pg: psycopg.Connection, sql: str) -> int:
    """Baseline: plain psycopg, execute then fetchall into tuples."""
    with pg.cursor() as cur:
        cur.execute(sql)
        return len(cur.fetchall())


def raw_duckdb(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    """Baseline: plain DuckDB, execute then to_arrow_table (fetch_arrow_table's new name)."""
    return con.execute(sql).to_arrow_table().num_rows


def postgres_cases(args: argparse.Namespace, timer: HistoryTimer) -> list[Case]:
    """Case 1 (LIMIT 1000) and case 2 (preview of the whole table) on PostgreSQL."""
    ensure_database(args)
    ensure_table(args)
    spec = pg_spec(args)
    conn = connect(spec)
    pg = psycopg.connect(conninfo(args, args.database), autocommit=True)
    limited = f"select * from {TABLE} limit {PAGE}"
    whole = f"select * from {TABLE}"
    try:
        pg.execute(f"select count(*) from {TABLE}")  # warm the OS cache before timing
        one = Case(
            f"1. PostgreSQL '{limited}'",
            Timing("Studio path", PAGE),
            Timing("raw psycopg", PAGE),
            None,
        )
        print(f"timing case 1 x{args.repeat} ...", flush=True)
        measure_pair(
            one.studio,
            lambda: studio_once(spec, conn, limited, args.poll, timer),
            one.baseline,
            lambda: raw_psycopg(pg, limited),
            args.repeat,
            expect_truncated=False,
        )
        two = Case(
            f"2. PostgreSQL preview '{whole}' ({args.rows:,} rows)",
            Timing("Studio path (fetches 1,001)", PAGE),
            Timing("raw LIMIT 1000", PAGE),
            PREVIEW_TARGET,
            memory_target=MEMORY_TARGET_MB,
        )
        print("measuring case 2 memory ...", flush=True)
        two.memory = measure_memory(
            "PostgreSQL preview",
            lambda: studio_once(spec, conn, whole, args.poll, timer),
            args.repeat,
        )
        print(f"timing case 2 x{args.repeat} ...", flush=True)
        measure_pair(
            two.studio,
            lambda: studio_once(spec, conn, whole, args.poll, timer),
            two.baseline,
            lambda: raw_psycopg(pg, limited),
            args.repeat,
            expect_truncated=True,
        )
    finally:
        pg.close()
        conn.close()
    return [one, two]


def duckdb_cases(args: argparse.Namespace, folder: Path, timer: HistoryTimer) -> list[Case]:
    """Case 3: both shapes on a DuckDB file with a generated table."""
    path = folder / "bench.duckdb"
    print(f"building DuckDB table {DUCK_TABLE} with {args.rows:,} rows ...", flush=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", DUCK_BUILD, str(path), str(args.rows)], check=True)
    print(f"built in {time.perf_counter() - start:.1f} s", flush=True)
    # A copy for the worker process: DuckDB lets one process hold a file.
    shutil.copyfile(path, folder / "bench-worker.duckdb")
    spec = ConnectionSpec("bench-duckdb", "duckdb", path=str(path))
    conn = connect(spec)  # like the Studio: all offline extensions loaded at connect time
    raw = duckdb.connect(str(path), config=dict(BASE_CONFIG))
    worker_spec = ConnectionSpec("bench-worker", "duckdb", path=str(folder / "bench-worker.duckdb"))
    worker = isolation.connect(worker_spec)  # as the app runs it: in an engine worker process
    limited = f"select * from {DUCK_TABLE} limit {PAGE}"
    whole = f"select * from {DUCK_TABLE}"
    try:
        a = Case(
            f"3a. DuckDB '{limited}'",
            Timing("Studio path", PAGE),
            Timing("raw DuckDB LIMIT 1000", PAGE),
            None,
        )
        print(f"timing case 3a x{args.repeat} ...", flush=True)
        measure_pair(
            a.studio,
            lambda: studio_once(spec, conn, limited, args.poll, timer),
            a.baseline,
            lambda: raw_duckdb(raw, limited),
            args.repeat,
            expect_truncated=False,
        )
        b = Case(
            f"3b. DuckDB preview '{whole}' ({args.rows:,} rows)",
            Timing("Studio path (fetches 1,001)", PAGE),
            Timing("raw DuckDB LIMIT 1000", PAGE),
            PREVIEW_TARGET,
        )
        print("measuring case 3b memory ...", flush=True)
        b.memory = measure_memory(
            "DuckDB preview",
            lambda: studio_once(spec, conn, whole, args.poll, timer),
            args.repeat,
        )
        print(f"timing case 3b x{args.repeat} ...", flush=True)
        measure_pair(
            b.studio,
            lambda: studio_once(spec, conn, whole, args.poll, timer),
            b.baseline,
            lambda: raw_duckdb(raw, limited),
            args.repeat,
            expect_truncated=True,
        )
        c = Case(
            f"3c. DuckDB '{limited}', engine in a worker process",
            Timing("Studio path, worker (Arrow IPC)", PAGE),
            Timing("Studio path, in-process", PAGE),
            None,
        )
        print(f"timing case 3c x{args.repeat} ...", flush=True)
        measure_pair(
            c.studio,
            lambda: studio_once(worker_spec, worker, limited, args.poll, timer),
            c.baseline,
            lambda: studio_once(spec, conn, limited, args.poll, timer).rows,
            args.repeat,
            expect_truncated=False,
        )
        c.overhead_target_ms = WORKER_OVERHEAD_TARGET_MS
    finally:
        raw.close()
        conn.close()
        worker.close()
        isolation.shutdown()
    return [a, b, c]


def verdict(value: float, target: float) -> str:
    """PASS when the value is within its target."""
    return "PASS" if value <= target else "MISS"


def history_count(home: Path) -> int:
    """Entries in the temporary history (proves the runs recorded history there)."""
    return len(history.search(limit=1_000_000)) if (home / "history.db").exists() else 0


def report(args: argparse.Namespace, cases: list[Case], load_start: float) -> None:
    """Print the timings, the Studio phases, the ratios and the memory figures."""
    cpus = os.cpu_count() or 1
    load_end = os.getloadavg()[0]
    print()
    print("Studio 'Run -> result ready' benchmark (no browser)")
    print(
        f"Studio path: Run(spec, conn, [Statement.plain(sql)], limit={PAGE}) -> run.wait({args.poll}) "
        "until done -> display_frame(result.table)"
    )
    print(
        f"poll step {args.poll} s (the page uses 0.2 s; Event.wait returns as soon as the run "
        "finishes, so the step adds no latency)"
    )
    print(f"median of {args.repeat} interleaved runs after 1 warm-up; times in milliseconds")
    print(f"machine: {cpus} CPUs, 1-min load average {load_start:.2f} before, {load_end:.2f} after")
    if load_start > cpus / 2:
        print("NOTE: the machine was busy; timings (and the ratios) are noisy, run again when idle")
    head = f"{'measurement':<36} {'median':>9} {'min':>9} {'max':>9} {'runs':>5}  rows"
    for case in cases:
        print()
        print(case.name)
        print(head)
        print("-" * len(head))
        for t in (case.studio, case.baseline):
            rows = f"{t.rows[0]:,} " + ("ok" if t.rows_ok else f"WRONG (want {t.expected:,})")
            print(
                f"  {t.label:<34} {t.median * 1e3:>9.2f} {min(t.seconds) * 1e3:>9.2f}"
                f" {max(t.seconds) * 1e3:>9.2f} {len(t.seconds):>5}  {rows}"
            )
    print()
    print("Studio path phases (median ms; medians need not add up to the total)")
    names = "".join(f"{p:>10}" for p in PHASES)
    print(f"  {'case':<6}{names}{'total':>10}")
    for case in cases:
        t = case.studio
        cells = "".join(f"{t.phase_median(p) * 1e3:>10.2f}" for p in PHASES)
        print(f"  {case.name.split('.')[0]:<6}{cells}{t.median * 1e3:>10.2f}")
    for p in PHASES:
        print(f"    {p:<8} = {PHASE_NOTES[p]}")
    print()
    print("ratios: Studio path / baseline (lower is better for Tusk)")
    for case in cases:
        ratio = case.studio.median / case.baseline.median
        best = min(case.studio.seconds) / min(case.baseline.seconds)
        tail = (
            f"target <= {case.target:.1f}x  {verdict(ratio, case.target)}"
            if case.target
            else "(no target)"
        )
        label = f"{case.name.split('.')[0]} vs {case.baseline.label}"
        print(f"  {label:<36} {ratio:>7.2f}x   (min/min {best:.2f}x)   {tail}")
    for case in cases:
        if case.overhead_target_ms is None:
            continue
        extra = (case.studio.median - case.baseline.median) * 1e3
        print(
            f"  {case.name.split('.')[0]}: the worker adds {extra:.2f} ms per run "
            f"(target <= {case.overhead_target_ms:.0f} ms  "
            f"{verdict(extra, case.overhead_target_ms)})"
        )
    print()
    print("memory growth while previewing (peak RSS via ru_maxrss; Python heap via tracemalloc)")
    for case in cases:
        m = case.memory
        if m is None:
            continue
        tail = (
            f"target <= {case.memory_target:.0f} MB  "
            + verdict(max(m.rss_growth_mb, m.traced_mb), case.memory_target)
            if case.memory_target
            else "(info; tracemalloc does not see DuckDB's own allocations)"
        )
        print(
            f"  {m.label:<20} ru_maxrss {m.maxrss_before_kib / 1024:.1f} -> "
            f"{m.maxrss_after_kib / 1024:.1f} MB (+{m.rss_growth_mb:.1f} MB over {m.runs} runs), "
            f"tracemalloc peak +{m.traced_mb:.2f} MB in 1 run   {tail}"
        )
    if not all(t.rows_ok for c in cases for t in (c.studio, c.baseline)):
        print("WARNING: some measurement returned the wrong number of rows")


def main(argv: list[str] | None = None) -> int:
    """Run every case with history in a temporary TUSK_HOME and print the report."""
    args = parse_args(argv)
    if args.repeat < 1 or args.rows < 1 or args.poll <= 0:
        print("--repeat and --rows must be at least 1 and --poll positive")
        return 0
    cases: list[Case] = []
    with tempfile.TemporaryDirectory(prefix="tusk-bench-studio-") as tmp:
        folder = Path(tmp)
        home = folder / "tusk-home"
        os.environ["TUSK_HOME"] = str(home)
        load_start = os.getloadavg()[0]
        timer = HistoryTimer()
        with timer.installed():
            for group in (
                lambda: postgres_cases(args, timer),
                lambda: duckdb_cases(args, folder, timer),
            ):
                try:
                    cases.extend(group())
                except Exception as exc:  # a report, not a test: say what failed and go on
                    print(f"SKIPPED: {type(exc).__name__}: {exc}")
        written = history_count(home)
        if cases:
            report(args, cases, load_start)
        expected = (args.repeat + 1) * len(cases) + sum(c.memory.runs for c in cases if c.memory)
        # Case 3c's baseline is the Studio path too: it records history as well.
        expected += (args.repeat + 1) * sum(1 for c in cases if c.overhead_target_ms is not None)
        print()
        print(f"history: {written} entries in the temporary TUSK_HOME (expected {expected})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
