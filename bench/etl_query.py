"""Peak memory and time of a full export of a pipeline whose source is a query, against raw DuckDB.

A ~5,000,000-row query (8 columns: integers, text with quotes and commas, dates, decimals,
NULLs — the columns of bench/etl.py) made with `range()` on a saved DuckDB file connection is
exported to Parquet three ways, each in a fresh Python process so `ru_maxrss` is its own peak:

- duckdb: raw `COPY (query) TO 'out.parquet' (FORMAT parquet)` on the same file — the baseline;
- in-memory: what Tusk did before the query spool — every `stream_arrow` batch in one Arrow table,
  `pl.from_arrow(…).lazy().sink_parquet(…)`;
- Tusk: `tusk.etl.sinks.write_path(pipeline, out)` — the batches spooled into a temporary
  Parquet file under TUSK_HOME/cache/spool, scanned lazily, `sink_parquet`, spool removed.

Every process imports the same modules (duckdb, polars, pyarrow, tusk.etl) before it starts,
so the imports weigh the same in each peak; the growth over that idle size is printed too.
Runs are interleaved (duckdb, in-memory, Tusk, …); each figure is the median of --repeat runs.
A report, not a test: it always exits 0.

    .venv/bin/python bench/etl_query.py --rows 5000000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rows import QUERY  # bench/rows.py, beside this script

PEAK_TARGET = 1.5  # Tusk peak RSS / raw DuckDB COPY peak RSS
DEFAULT_DIR = Path(tempfile.gettempdir()) / "tusk-bench-etl-query"
VARIANTS = ("duckdb", "in-memory", "tusk")


def literal(text: str) -> str:
    """A SQL string literal (the path is ours, but quote it anyway)."""
    return "'" + text.replace("'", "''") + "'"


def peak_mb() -> float:
    """This process's peak resident set size so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(variant: str, database: Path, rows: int, out: Path) -> dict[str, float]:
    """Run one export in this process; its time, idle and peak RSS, and rows written."""
    import duckdb
    import polars as pl
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tusk.engines.duckdb import BASE_CONFIG
    from tusk.engines.registry import connect
    from tusk.etl import sinks
    from tusk.etl.pipeline import Pipeline
    from tusk.etl.sources import QuerySource

    sql = QUERY.format(rows=rows)
    out.unlink(missing_ok=True)
    idle = peak_mb()
    start = time.perf_counter()
    if variant == "duckdb":
        con = duckdb.connect(str(database), read_only=True, config=dict(BASE_CONFIG))
        con.execute(f"COPY ({sql}) TO {literal(str(out))} (FORMAT parquet, COMPRESSION zstd)")
        con.close()
    elif variant == "in-memory":
        from tusk import connections

        conn = connect(connections.get("bench"))
        table = pa.Table.from_batches(list(conn.stream_arrow(sql)))
        conn.close()
        pl.from_arrow(table).lazy().sink_parquet(out)  # type: ignore[union-attr]
    else:
        p = Pipeline(name="bench", source=QuerySource(connection="bench", sql=sql))
        sinks.write_path(p, out)
    seconds = time.perf_counter() - start
    written = pq.ParquetFile(out).metadata.num_rows
    out.unlink()
    return {"seconds": seconds, "idle_mb": idle, "peak_mb": peak_mb(), "rows": written}


def measure(variant: str, database: Path, rows: int, out: Path) -> dict[str, float]:
    """One export in a fresh process (so the peak is that export's alone)."""
    argv = [sys.executable, __file__, "--child", variant, "--rows", str(rows)]
    argv += ["--database", str(database), "--out", str(out)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="rows the query returns")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each variant (median)")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="folder for the files")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--database", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(child(args.child, args.database, args.rows, args.out)))
        return 0

    folder = args.dir.expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "bench.duckdb"
    with tempfile.TemporaryDirectory(prefix="tusk-bench-home-") as home:
        os.environ["TUSK_HOME"] = home  # the children inherit it, with the saved connection
        import polars as pl

        from tusk import connections, etl
        from tusk.engines.spec import ConnectionSpec

        connections.add(ConnectionSpec("bench", "duckdb", path=str(database)))
        if not database.exists():
            from tusk.engines.registry import connect

            connect(connections.get("bench")).close()  # an empty file: the query is range()
        print(
            f"{args.rows:,}-row query on a DuckDB file; Polars {pl.__version__}, "
            f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
            f"Tusk from {Path(etl.__file__).parent.parent}"
        )
        print(f"median of {args.repeat} runs, each in a fresh process\n")
        results: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
        for _ in range(args.repeat):
            for variant in VARIANTS:
                results[variant].append(measure(variant, database, args.rows, folder / "out.pq"))
        left = list(Path(home, "cache", "spool").glob("run-*"))

    med: dict[str, dict[str, float]] = {
        v: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        for v, runs in results.items()
    }
    base = med["duckdb"]
    for variant in VARIANTS:
        m = med[variant]
        ok = "" if m["rows"] == args.rows else f"   !! {m['rows']:,.0f} rows written"
        print(
            f"{variant:<10} {m['seconds']:6.2f} s   peak RSS {m['peak_mb']:7.0f} MB "
            f"(+{m['peak_mb'] - m['idle_mb']:5.0f} MB over {m['idle_mb']:4.0f} MB idle)   "
            f"time {m['seconds'] / base['seconds']:5.2f}x   "
            f"peak {m['peak_mb'] / base['peak_mb']:5.2f}x raw DuckDB{ok}"
        )
    ratio = med["tusk"]["peak_mb"] / base["peak_mb"]
    verdict = "PASS" if ratio <= PEAK_TARGET else "MISS"
    saved = med["in-memory"]["peak_mb"] / med["tusk"]["peak_mb"]
    print(
        f"\nTusk peak / raw DuckDB COPY peak: {ratio:.2f}x (target ≤ {PEAK_TARGET}x) {verdict}; "
        f"in-memory / Tusk: {saved:.2f}x; spool folders left: {len(left)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
