"""The demo shop's files (CSV, JSON Lines, Parquet, SQLite), written once into each home's demo
root."""

from __future__ import annotations

import logging
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from tusk import config
from tusk.engines.base import (
    quote_ident,
    sql_literal,
)
from tusk.engines.duckdb import DuckDBConnection, open_duckdb
from tusk.errors import TuskError

if TYPE_CHECKING:
    pass

log = logging.getLogger("tusk.files")
_demo_lock = threading.Lock()
_demo_files: dict[str, bytes] = {}  # built once per process, then copied into each new home
_demo_failed: list[str] = []  # why building them failed, if it did (then never retried)

_DEMO_MARKER = ".tusk-demo"
_DEMO_COPIES = {
    "cities.csv": ("cities", "(FORMAT csv, HEADER)"),
    "customers.csv": ("customers", "(FORMAT csv, HEADER)"),
    "products.json": ("products", "(FORMAT json)"),  # JSON Lines: DuckDB and DataFusion read it
    "orders.parquet": ("orders", "(FORMAT parquet)"),
    "order_items.parquet": ("order_items", "(FORMAT parquet)"),
}


def _ensure_demo_files(folder: Path) -> None:
    """Write the demo files once per home (deleted ones stay deleted: the marker says so).
    A file of that name already there — a user's — is never replaced, and processes starting
    at once take turns (the lock file)."""
    if (folder / _DEMO_MARKER).exists():
        return
    with _demo_lock:
        if (folder / _DEMO_MARKER).exists() or _demo_failed:
            return
        if not _demo_files:
            try:
                _demo_files.update(_build_demo_files())
            except (TuskError, OSError) as exc:
                # Without demo files the browser still works: say why once, do not retry.
                _demo_failed.append(str(exc))
                log.warning("Could not build the demo data files: %s", exc)
                return
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            with config.locked(folder):
                if (folder / _DEMO_MARKER).exists():
                    return  # another process wrote them while we waited
                for name, content in _demo_files.items():
                    config.write_new(folder / name, content, 0o644)
                config.write_new(folder / _DEMO_MARKER, "demo files written by Tusk\n", 0o644)
        except (TuskError, OSError) as exc:
            # A full disk: the browser still works without them; try again next time.
            log.warning("Could not write the demo data files: %s", exc)


def _build_demo_files() -> dict[str, bytes]:
    """The demo shop's tables as CSV, JSON Lines, Parquet and one SQLite database."""
    from tusk.demo import DEMO_TABLES, create_demo

    with tempfile.TemporaryDirectory(prefix="tusk-demo-") as tmp:
        work = Path(tmp)
        create_demo(str(work / "demo.duckdb"))
        conn = DuckDBConnection(open_duckdb(None, ["sqlite_scanner"]))
        try:
            conn.execute(
                "ATTACH " + sql_literal(str(work / "demo.duckdb")) + " AS d (READ_ONLY)", limit=None
            )
            for name, (table, options) in _DEMO_COPIES.items():
                target = sql_literal(str(work / name))
                source = "d.main." + quote_ident(table)
                conn.execute("COPY " + source + " TO " + target + " " + options, limit=None)
            conn.execute(
                "ATTACH " + sql_literal(str(work / "shop.sqlite")) + " AS s (TYPE sqlite)",
                limit=None,
            )
            for table in DEMO_TABLES:
                name = quote_ident(table)
                conn.execute(
                    "CREATE TABLE s." + name + " AS SELECT * FROM d.main." + name,  # noqa: S608
                    limit=None,
                )
            conn.execute("DETACH s", limit=None)
        finally:
            conn.close()
        return {name: (work / name).read_bytes() for name in [*_DEMO_COPIES, "shop.sqlite"]}
