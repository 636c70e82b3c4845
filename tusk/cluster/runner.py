"""The isolated query process: `python -m tusk.cluster.runner SPEC.json` (one query), or
`python -m tusk.cluster.runner --serve` (a warm process: spec paths on stdin, one per line).

It connects to Ray, runs Daft SQL and writes each result as Arrow IPC. It runs apart from Tusk
because a dead head makes Daft's client process exit and Daft panics are BaseExceptions;
whatever happens here, the caller only reads two files. A warm process keeps its Ray
connection between queries (connecting costs ~4 s) and exits after any failure, so a broken
Daft state is never reused.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv")


def is_csv(path: str) -> bool:
    """True when a table path names CSV files (else Parquet)."""
    return path.lower().rstrip("/").endswith(CSV_SUFFIXES)


def read_table(path: str) -> Any:
    """A lazy Daft DataFrame over Parquet/CSV at `path`, DECIMAL columns cast to DOUBLE."""
    import daft

    frame = daft.read_csv(path) if is_csv(path) else daft.read_parquet(path)
    # Daft's decimal arithmetic overflows (TPC-H Q1/Q8/Q9/Q14 fail); doubles match DuckDB.
    casts = {
        field.name: daft.col(field.name).cast(daft.DataType.float64())
        for field in frame.schema()
        if field.dtype.is_decimal128()
    }
    return frame.with_columns(casts) if casts else frame


_connected: list[str] = []  # the address this process's Daft runner points at


def run(spec: dict[str, Any], marks: dict[str, float] | None = None) -> Any:
    """Run the spec's SQL on Ray and return a pyarrow Table; `marks` gets the monotonic
    time each phase ended (connected, tables, executed)."""
    import daft

    marks = {} if marks is None else marks

    if not _connected:
        daft.set_runner_ray(address=spec["address"])
        _connected.append(spec["address"])
    elif _connected[0] != spec["address"]:
        raise RuntimeError("this query process is connected to another cluster")
    marks["connected"] = time.monotonic()
    tables = {name: read_table(path) for name, path in spec["tables"].items()}
    marks["tables"] = time.monotonic()
    table = daft.sql(spec["sql"], **tables).to_arrow()
    marks["executed"] = time.monotonic()
    return table


def answer(spec_path: str) -> bool:
    """Run one spec and write its result and status files; True when it succeeded."""
    # Monotonic times (one clock for every process on the host) of each phase's end, so the
    # caller can tell where a query's time went (bench/cluster.py prints them).
    marks = {"received": time.monotonic()}
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    status = Path(spec["status"])
    try:
        table = run(spec, marks)
        import pyarrow as pa

        with pa.OSFile(spec["output"], "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
            w.write_table(table)
        marks["written"] = time.monotonic()
        report = {"ok": True, "rows": table.num_rows, "marks": marks}
    except BaseException as exc:  # noqa: BLE001 - Daft panics are BaseExceptions
        report = {
            "ok": False,
            "kind": type(exc).__name__,
            "error": str(exc) or type(exc).__name__,
            "traceback": traceback.format_exc(limit=5),
        }
    tmp = status.with_suffix(".tmp")
    tmp.write_text(json.dumps(report), encoding="utf-8")
    os.replace(tmp, status)  # the caller never reads half a status
    sys.stdout.flush()
    sys.stderr.flush()
    notify()
    return bool(report["ok"])


def notify() -> None:
    """Wake the caller waiting for this answer (tusk.cluster.client passes a pipe's fd)."""
    fd = os.environ.get("TUSK_RUNNER_NOTICE_FD", "")
    if fd.isdigit():
        with contextlib.suppress(OSError):  # the caller is gone or polls instead
            os.write(int(fd), b"\n")


def main(argv: list[str]) -> int:
    """Entry point: one spec, or serve specs from stdin until EOF or a failure."""
    if argv[1:] == ["--serve"]:
        for line in sys.stdin:
            if line.strip() and not answer(line.strip()):
                break
    else:
        answer(argv[1])
    # Skip Ray's atexit shutdown: with a dead head it can wait a minute for nothing.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
