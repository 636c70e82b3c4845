"""The Admin page's per-tick server cost, idle and under pgbench load.

Measures what one refresh of each live view costs through the library the page calls
(`server.Monitor.tick`: the dashboard; `activity.sessions`; `locks.blocking_graph` +
`locks.locks`): first on an idle server, then while `pgbench -c 8 -T 30` runs against a
scratch database. The baseline, measured in the same run and the same way, is a raw psycopg
round trip of `select 1` under the same load. Target: dashboard tick under 0.5 s under load.
It is a report, not a test: it exits 0 whether the target is met or not.

    python bench/admin.py [--clients 8] [--seconds 30] [--scale 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from tusk import admin
from tusk.admin import activity, locks, server
from tusk.engines.spec import ConnectionSpec

TARGET_S = 0.5
DATABASE = "tusk_bench_admin"
HOST, PORT, USER = "127.0.0.1", 5432, "postgres"
PASSWORD = os.environ.get("TUSK_TEST_PG_PASSWORD", "tusk")


def pg_tool(name: str) -> str:
    """A PostgreSQL client program from PATH or the Debian location."""
    found = shutil.which(name) or str(Path("/usr/lib/postgresql/15/bin") / name)
    if not Path(found).exists():
        sys.exit(f"{name} not found (install postgresql-15 or put it on PATH)")
    return found


def timings(call: Callable[[], object], seconds: float, every: float = 0.25) -> list[float]:
    """Call repeatedly for `seconds` (one call per `every` s, as a page refresh would)."""
    out: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
        time.sleep(every)
    return out


def report(name: str, values: list[float], baseline: list[float]) -> None:
    """Median, p95 and max, and the median's ratio to the baseline's median."""
    values = sorted(values)
    p95 = values[int(0.95 * (len(values) - 1))]
    ratio = statistics.median(values) / statistics.median(baseline)
    print(
        f"  {name:<28} median {statistics.median(values) * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms"
        f"  max {values[-1] * 1000:7.1f} ms  ({len(values)} ticks, {ratio:5.1f}x select 1)"
    )


def main() -> None:
    """Measure idle, start pgbench, measure under load, report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--scale", type=int, default=10)
    args = parser.parse_args()
    env = {**os.environ, "PGPASSWORD": PASSWORD}
    common = ["-h", HOST, "-p", str(PORT), "-U", USER]
    with psycopg.connect(
        host=HOST, port=PORT, user=USER, password=PASSWORD, dbname="postgres", autocommit=True
    ) as c:
        if not c.execute("select 1 from pg_database where datname = %s", (DATABASE,)).fetchone():
            c.execute(f"create database {DATABASE}")  # noqa: S608 - fixed name
    print(f"pgbench -i -s {args.scale} {DATABASE} …", flush=True)
    subprocess.run(
        [pg_tool("pgbench"), *common, "-i", "-q", "-s", str(args.scale), DATABASE],
        env=env,
        check=True,
        capture_output=True,
    )
    spec = ConnectionSpec(
        "bench", "postgres", host=HOST, port=PORT, database=DATABASE, user=USER, password=PASSWORD
    )
    conn = admin.connect(spec)
    raw = psycopg.connect(
        host=HOST, port=PORT, user=USER, password=PASSWORD, dbname=DATABASE, autocommit=True
    )
    monitor = server.Monitor()
    views: dict[str, Callable[[], object]] = {
        "dashboard tick": lambda: monitor.tick(conn),
        "activity list": lambda: activity.sessions(conn),
        "locks (graph + pg_locks)": lambda: (locks.blocking_graph(conn), locks.locks(conn)),
    }
    window = min(args.seconds / 4, 6.0)

    def measure(label: str) -> None:
        print(label)
        baseline = timings(lambda: raw.execute("select 1").fetchone(), window / 2, every=0.05)
        for name, call in views.items():
            report(name, timings(call, window / len(views) * 2), baseline)
        report("raw select 1 (baseline)", baseline, baseline)

    measure("idle server:")
    bench = subprocess.Popen(
        [
            pg_tool("pgbench"),
            *common,
            "-c",
            str(args.clients),
            "-j",
            "2",
            "-T",
            str(int(args.seconds)),
            DATABASE,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    time.sleep(2)  # let the clients connect and reach steady state
    measure(f"under pgbench -c {args.clients} (running):")
    samples: list[float] = []
    while bench.poll() is None:  # then the dashboard alone, every 0.5 s, until pgbench ends
        start = time.perf_counter()
        monitor.tick(conn)
        samples.append(time.perf_counter() - start)
        time.sleep(0.5)
    out, _ = bench.communicate()
    tps = [line for line in out.splitlines() if line.startswith("tps")]
    print("dashboard ticks for the rest of the load window:")
    baseline = timings(lambda: raw.execute("select 1").fetchone(), 0.5, every=0.05)
    report("dashboard tick", samples, baseline)
    worst = max(samples)
    verdict = "meets" if worst < TARGET_S else "MISSES"
    print(f"worst dashboard tick {worst * 1000:.0f} ms {verdict} the {TARGET_S} s target")
    print("pgbench:", "; ".join(tps) or out.strip()[-300:])
    conn.close()
    raw.close()


if __name__ == "__main__":
    main()
