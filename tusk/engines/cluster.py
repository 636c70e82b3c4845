"""The cluster as a Studio engine: SQL goes to Daft on a Ray head through tusk.cluster.

A connection names the head (`host`, `port`) and a folder (`path`) whose Parquet/CSV files
become tables named after them — the same path must exist on every node. Each statement runs
in its own process (tusk.cluster.client), so a dead head or a Daft panic never takes the
Studio down. The cluster.submit permission is checked by `tusk.queries.run`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import pyarrow as pa

from tusk.catalog import Catalog, CatalogBuilder
from tusk.engines.abilities import ClusterAbilities
from tusk.engines.base import Abilities, ConfiguredEngine
from tusk.engines.result import QueryResult
from tusk.errors import BadInput, ConnectionFailed
from tusk.sqltext import split

DEFAULT_PORT = 8814
_SUFFIXES = (".parquet", ".csv", ".tsv", ".csv.gz")


def _tables(folder: str | None) -> dict[str, str]:
    """Table name → absolute file path for the data files in `folder`."""
    if not folder:
        return {}
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise ConnectionFailed(
            f"{root} is not a folder: a cluster connection points at a folder of Parquet/CSV "
            "files (the same path on every node).",
            "Cannot open folder",
        )
    found = {}
    for file in sorted(root.iterdir()):
        name = file.name.lower()
        if file.is_file() and name.endswith(_SUFFIXES):
            stem = file.name.split(".")[0]
            if stem.isidentifier():
                found[stem] = str(file.resolve())
    return found


class ClusterConnection:
    """Statements submitted one at a time to the head; `cancel` kills the running one."""

    engine: ClassVar[str] = "cluster"
    abilities: ClassVar[type[Abilities]] = ClusterAbilities

    def __init__(self, address: str, tables: dict[str, str]) -> None:
        self.address = address
        self.tables = tables
        self._running: Any = None
        self._lock = threading.Lock()
        self._roots: tuple[Path, ...] | None = None  # set by confine

    def _run(self, sql: str) -> pa.Table:
        from tusk.cluster import client

        # tusk.queries.run checked cluster.submit for the signed-in user before calling us.
        if self._roots is not None:
            client.check_reads(sql, self.tables)  # the connection's own folder is allowed
        query = client.start_query(self.address, sql, self.tables)
        with self._lock:
            self._running = query
        try:
            return query.result()
        finally:
            with self._lock:
                self._running = None

    def execute(self, sql: str, params: Any = None, *, limit: int | None = 1000) -> QueryResult:
        """Run the statement on the cluster; at most `limit` rows are kept for display."""
        if params:
            raise BadInput("Cluster SQL takes no parameters.", "Parameters not supported")
        statements = split(sql, "cluster")
        if len(statements) != 1:
            raise BadInput("Send one statement at a time to the cluster.")
        start = time.perf_counter()
        table = self._run(statements[0].text)
        truncated = limit is not None and table.num_rows > limit
        if truncated:
            table = table.slice(0, limit)
        return QueryResult(table, truncated, time.perf_counter() - start, statements[0].text)

    def stream_arrow(self, sql: str, params: Any = None) -> Iterator[pa.RecordBatch]:
        """The whole result (it comes back from the cluster as one Arrow table)."""
        if params:
            raise BadInput("Cluster SQL takes no parameters.", "Parameters not supported")
        yield from self._run(sql).to_batches()

    def load_arrow(
        self,
        table: str,
        batches: Iterable[pa.RecordBatch],
        *,
        mode: Literal["create", "append", "replace"] = "create",
    ) -> int:
        """Not possible: the cluster reads files. Write a file into the data folder instead."""
        raise BadInput(
            "The cluster reads files: export the data as Parquet into the connection's folder.",
            "Not supported",
        )

    def cancel(self) -> None:
        """Kill the running statement's process (Ray ends its tasks)."""
        with self._lock:
            query = self._running
        if query is not None:
            query.cancel_unchecked()

    def catalog(self) -> Catalog:
        """The folder's files as tables, with their columns (read from file metadata)."""
        b = CatalogBuilder()
        for name, path in self.tables.items():
            try:
                if path.endswith(".parquet"):
                    import pyarrow.parquet as pq

                    schema = pq.read_schema(path)
                else:
                    import pyarrow.csv as pacsv

                    with pacsv.open_csv(path) as reader:
                        schema = reader.schema
            except (OSError, pa.ArrowException):
                continue
            for field in schema:
                b.add_column("default", name, "table", field.name, str(field.type), True, None)
        return b.build()

    def confine(self, roots: Sequence[Path], *, write: bool = True) -> None:
        """SQL may read only the connection's own tables (its folder is the connection's, like a
        database file); Daft's SQL would otherwise read any path it names."""
        self._roots = tuple(roots)

    @property
    def confined(self) -> bool:
        """True once `confine` ran: files only inside the data roots."""
        return self._roots is not None

    def set_read_only(self) -> None:
        """Nothing to add: cluster SQL is queries only (tusk.cluster.client refuses the rest)."""

    def close(self) -> None:
        """Stop a running statement; nothing else is held open."""
        self.cancel()


class ClusterEngine(ConfiguredEngine, ClusterAbilities):
    """Daft on a Ray cluster (see the module docstring)."""

    def connect(self) -> ClusterConnection:
        """Probe the head (ConnectionFailed in ≤ 5 s) and list the folder's tables."""
        from tusk.cluster import client

        address = f"{self.spec.host or '127.0.0.1'}:{self.spec.port or DEFAULT_PORT}"
        client.check_head(address)
        return ClusterConnection(address, _tables(self.spec.path))
