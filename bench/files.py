"""Tusk's file preview and row count on a ~1 GB CSV, against raw DuckDB on the same file.

- preview: `tusk.files.preview(root, name)` (schema + first 100 rows, through `resolve`, a fresh
  in-memory DuckDB and the typed fetch) vs raw DuckDB `SELECT * FROM read_csv_auto(…) LIMIT 100`
  on a fresh connection, fetched to Arrow.
- count: `tusk.files.row_count(root, name)` (a full scan) vs raw DuckDB `SELECT count(*) FROM
  read_csv_auto(…)` on a fresh connection.

The CSV (8 columns: integers, text with quotes and commas, dates, decimals, NULLs) is generated
by DuckDB on first run and reused afterwards (`--path`, default in the system temp folder). The
file's folder becomes the only data root of a temporary TUSK_HOME. Runs are interleaved (raw,
Tusk, raw, Tusk …) after one warm-up of each, so the OS page cache treats both alike; each
figure is the median of --repeat runs. It is a report, not a test: it always exits 0.

    .venv/bin/python bench/files.py --repeat 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
from rows import GENERATE, ROWS_PER_GB  # bench/rows.py, beside this script

from tusk.engines.duckdb import BASE_CONFIG

TARGET = 1.1  # Tusk / raw DuckDB, for both figures
DEFAULT_PATH = Path(tempfile.gettempdir()) / "tusk-bench-files" / "bench_1gb.csv"


def literal(text: str) -> str:
    """A SQL string literal (the path is ours, but quote it anyway)."""
    return "'" + text.replace("'", "''") + "'"


def ensure_csv(path: Path, gigabytes: float) -> None:
    """Generate the CSV unless a file of about the right size is already there."""
    want = int(gigabytes * 1e9)
    if path.exists() and path.stat().st_size >= want * 0.9:
        print(f"reusing {path} ({path.stat().st_size / 1e9:.2f} GB)")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".building.csv")
    print(f"generating {path} (~{gigabytes:g} GB) …", flush=True)
    start = time.perf_counter()
    con = duckdb.connect(config=dict(BASE_CONFIG))
    con.execute(
        GENERATE.format(rows=int(ROWS_PER_GB * gigabytes), path=literal(str(tmp)))  # noqa: S608
    )
    con.close()
    tmp.replace(path)
    print(f"  {path.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - start:.1f} s")


def raw_preview(path: Path) -> int:
    """Raw DuckDB: fresh connection, first 100 rows into Arrow."""
    con = duckdb.connect(config=dict(BASE_CONFIG))
    try:
        sql = f"SELECT * FROM read_csv_auto({literal(str(path))}) LIMIT 100"  # noqa: S608
        return con.execute(sql).to_arrow_table().num_rows
    finally:
        con.close()


def raw_count(path: Path) -> int:
    """Raw DuckDB: fresh connection, full count."""
    con = duckdb.connect(config=dict(BASE_CONFIG))
    try:
        sql = f"SELECT count(*) FROM read_csv_auto({literal(str(path))})"  # noqa: S608
        return int(con.execute(sql).fetchone()[0])  # type: ignore[index]
    finally:
        con.close()


def interleaved(
    raw: Callable[[], int], tusk: Callable[[], int], repeat: int
) -> tuple[list[float], list[float], int, int]:
    """Warm up both, then alternate raw and Tusk runs; seconds of each, and their results."""
    raw_result, tusk_result = raw(), tusk()
    raw_times: list[float] = []
    tusk_times: list[float] = []
    for _ in range(repeat):
        for fn, times in ((raw, raw_times), (tusk, tusk_times)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return raw_times, tusk_times, raw_result, tusk_result


def report(label: str, raw_times: list[float], tusk_times: list[float]) -> None:
    raw_med, tusk_med = statistics.median(raw_times), statistics.median(tusk_times)
    ratio = tusk_med / raw_med if raw_med else float("inf")
    verdict = "PASS" if ratio <= TARGET else "MISS"
    print(
        f"{label:<8} raw DuckDB {raw_med * 1000:9.1f} ms   Tusk {tusk_med * 1000:9.1f} ms   "
        f"ratio {ratio:5.2f}x  (target ≤ {TARGET}x) {verdict}"
    )
    print(
        f"{'':<8} raw min/max {min(raw_times) * 1000:.1f}/{max(raw_times) * 1000:.1f} ms, "
        f"Tusk min/max {min(tusk_times) * 1000:.1f}/{max(tusk_times) * 1000:.1f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH, help="CSV to use or create")
    parser.add_argument("--gb", type=float, default=1.0, help="size to generate (GB)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each (median)")
    parser.add_argument("--count-repeat", type=int, default=3, help="timed full counts of each")
    args = parser.parse_args(argv)

    path = args.path.expanduser().resolve()
    ensure_csv(path, args.gb)

    with tempfile.TemporaryDirectory(prefix="tusk-bench-home-") as home:
        os.environ["TUSK_HOME"] = home
        from tusk import config, files

        config.set_value("data_roots", str(path.parent))
        [root] = [r.name for r in files.roots() if r.path == path.parent]
        files.roots()  # the demo files are written once per home: not part of any timing

        print(f"\nfile: {path} ({path.stat().st_size / 1e9:.2f} GB), root {root!r}")
        print(f"median of {args.repeat} runs (counts: {args.count_repeat}) after a warm-up\n")

        raw_t, tusk_t, raw_rows, tusk_rows = interleaved(
            lambda: raw_preview(path),
            lambda: files.preview(root, path.name).rows.num_rows,
            args.repeat,
        )
        report("preview", raw_t, tusk_t)
        if raw_rows != tusk_rows:
            print(f"  !! rows differ: raw {raw_rows}, Tusk {tusk_rows}")

        raw_t, tusk_t, raw_n, tusk_n = interleaved(
            lambda: raw_count(path),
            lambda: files.row_count(root, path.name),
            args.count_repeat,
        )
        report("count", raw_t, tusk_t)
        print(f"{'':<8} {tusk_n:,} rows" + ("" if raw_n == tusk_n else f" (raw: {raw_n:,})"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
