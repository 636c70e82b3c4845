"""Two full results compared by a key: rows only in A, only in B, and changed rows with the
cells that changed.

Both sides arrive as Arrow batches (a statement's full result streamed by its engine, or a
snapshot read back) and are loaded into a scratch in-memory DuckDB, where the comparison is
three joins on the key. NULL keys match each other (IS NOT DISTINCT FROM), and a cell changed
when its values are distinct (NULL → 1 is a change, NULL → NULL is not). Columns of one side
only are reported, not compared; a column whose type differs between the sides is compared as
text. Only generated SQL runs in the scratch database: names are quoted, nothing of a user's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

import pyarrow as pa

from tusk import auth
from tusk.completion import quote_name
from tusk.engines.base import Connection
from tusk.engines.registry import connect
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput
from tusk.export import write_batches

if TYPE_CHECKING:
    from tusk.auth.schema import User

SAMPLE_ROWS = 200  # rows of each kind kept for display; exports have all of them
ONLY_A = "only in A"
ONLY_B = "only in B"
CHANGED = "changed"
_SCRATCH = ConnectionSpec("result diff", "duckdb", path=":memory:", options={"extensions": ""})


@dataclass(frozen=True)
class ResultDiff:
    """Counts up top, the first rows of each kind, and which cells changed."""

    key: tuple[str, ...]
    compared: tuple[str, ...]  # non-key columns present on both sides
    only_in_a_columns: tuple[str, ...]
    only_in_b_columns: tuple[str, ...]
    rows_a: int
    rows_b: int
    only_a: int
    only_b: int
    changed: int
    only_a_sample: pa.Table
    only_b_sample: pa.Table
    # key columns, then for each compared column "<name> (A)", "<name> (B)" and
    # "<name> changed" (bool), for the first SAMPLE_ROWS changed rows by key
    changed_sample: pa.Table

    @property
    def same(self) -> int:
        """Rows present on both sides with no cell changed."""
        return self.rows_a - self.only_a - self.changed


class Comparison:
    """Both sides loaded in a scratch DuckDB and joined on the key: `summary()` for the page,
    `rows()` for export. Close it (or use `with`) to free the memory."""

    def __init__(
        self,
        a: Iterable[pa.RecordBatch] | pa.Table,
        b: Iterable[pa.RecordBatch] | pa.Table,
        key: Sequence[str],
    ) -> None:
        if not key:
            raise BadInput(
                "Choose the key: the columns that identify a row on both sides.", "No key"
            )
        self.key = tuple(dict.fromkeys(key))
        self._conn: Connection = connect(_SCRATCH)
        try:
            self._conn.load_arrow("a", a, mode="replace")
            self._conn.load_arrow("b", b, mode="replace")
            self.schema_a = self._schema("a")
            self.schema_b = self._schema("b")
            self._check_columns()
            self._join()
        except BaseException:
            self._conn.close()
            raise

    def __enter__(self) -> Comparison:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Free the scratch database."""
        self._conn.close()

    @property
    def compared(self) -> tuple[str, ...]:
        """The non-key columns both sides have, in A's order."""
        return tuple(
            n for n in self.schema_a.names if n in self.schema_b.names and n not in self.key
        )

    def summary(self, sample: int = SAMPLE_ROWS) -> ResultDiff:
        """Counts and the first `sample` rows of each kind, ordered by key."""
        keys = [quote_name(k) for k in self.key]
        order = ", ".join(keys)
        a_values = [quote_name(f"{n} (A)") for n in self.compared]
        b_values = [quote_name(f"{n} (B)") for n in self.compared]
        changes = [
            f"{quote_name(f'{n} (A)')}, {quote_name(f'{n} (B)')}, {quote_name(f'{n} changed')}"
            for n in self.compared
        ]

        def part(kind: str, columns: list[str], names: list[str]) -> pa.Table:
            select = ", ".join(
                keys + [f"{c} as {quote_name(n)}" for c, n in zip(columns, names, strict=True)]
            )
            return self._table(
                f"select {select} from tusk_diff where kind = '{kind}' "
                f"order by {order} limit {int(sample)}"
            )

        return ResultDiff(
            key=self.key,
            compared=self.compared,
            only_in_a_columns=tuple(c for c in self.schema_a.names if c not in self.schema_b.names),
            only_in_b_columns=tuple(c for c in self.schema_b.names if c not in self.schema_a.names),
            rows_a=self._counts["rows_a"],
            rows_b=self._counts["rows_b"],
            only_a=self._counts[ONLY_A],
            only_b=self._counts[ONLY_B],
            changed=self._counts[CHANGED],
            only_a_sample=part(ONLY_A, a_values, list(self.compared)),
            only_b_sample=part(ONLY_B, b_values, list(self.compared)),
            changed_sample=self._table(
                f"select {', '.join(keys + changes)} from tusk_diff where kind = '{CHANGED}' "
                f"order by {order} limit {int(sample)}"
            ),
        )

    def rows(self) -> Iterator[pa.RecordBatch]:
        """Every differing row, for export: a `difference` column (only in A / only in B /
        changed), the key, and each compared column's A and B values, ordered by key."""
        keys = [quote_name(k) for k in self.key]
        pairs = [quote_name(f"{n} ({side})") for n in self.compared for side in "AB"]
        columns = ", ".join(["kind as difference", *keys, *pairs])
        yield from self._conn.stream_arrow(
            f"select {columns} from tusk_diff order by {', '.join(keys)}, kind"
        )

    def export(self, fmt: str, target: BinaryIO, *, actor: User | None = None) -> int:
        """Write every differing row (see `rows`) as `fmt` into `target` (needs
        queries.export); the number of rows written."""
        auth.require(actor, "queries.export")
        rows, _ = write_batches(self.rows(), fmt, target)
        return rows

    # --- the one join --------------------------------------------------------------------------

    def _join(self) -> None:
        """Join A and B on the key: the differing rows into table tusk_diff, and the
        counts, which also tell whether a key value matched more than one row. (A plain table:
        the scratch database is private, and a stream reads through another cursor.)"""
        match = " and ".join(
            f"a.{quote_name(k)} is not distinct from b.{quote_name(k)}" for k in self.key
        )
        keys, values, flags = [], [], []
        for k in self.key:
            col = quote_name(k)
            keys.append(f"case when a.__tusk_a then a.{col} else b.{col} end as {col}")
        for name in self.compared:
            col = quote_name(name)
            a_value, b_value = f"a.{col}", f"b.{col}"
            if self.schema_a.field(name).type != self.schema_b.field(name).type:
                a_value, b_value = f"cast({a_value} as varchar)", f"cast({b_value} as varchar)"
            flag = f"({a_value} is distinct from {b_value})"
            values += [
                f"{a_value} as {quote_name(f'{name} (A)')}",
                f"{b_value} as {quote_name(f'{name} (B)')}",
                f"coalesce(a.__tusk_a and b.__tusk_b and {flag}, false) "
                f"as {quote_name(f'{name} changed')}",
            ]
            flags.append(flag)
        changed = " or ".join(flags) or "false"
        kind = (
            f"case when b.__tusk_b is null then '{ONLY_A}' when a.__tusk_a is null then "
            f"'{ONLY_B}' when {changed} then '{CHANGED}' else 'same' end"
        )
        joined = (
            f"select {kind} as kind, {', '.join(keys + values)} "
            "from (select *, true as __tusk_a from a) as a "
            f"full join (select *, true as __tusk_b from b) as b on {match}"
        )
        # Two passes over the join beat materializing it: the counts, then the differing rows.
        counts = self._table(
            "select count(*) filter (where kind <> 'only in B') as left_rows, "
            "count(*) filter (where kind <> 'only in A') as right_rows, "
            f"count(*) filter (where kind = '{ONLY_A}') as only_a, "
            f"count(*) filter (where kind = '{ONLY_B}') as only_b, "
            f"count(*) filter (where kind = '{CHANGED}') as changed, "
            "(select count(*) from a) as rows_a, (select count(*) from b) as rows_b "
            f"from (select kind from ({joined}))"
        ).to_pylist()[0]
        # Unique keys: every row of A appears once in the join, and so does every row of B.
        # A row of B that appears twice matched two rows of A: A's key is not unique.
        for side, seen, rows in (
            ("A", counts["right_rows"], counts["rows_b"]),
            ("B", counts["left_rows"], counts["rows_a"]),
        ):
            if seen != rows:
                raise BadInput(
                    f"The key ({', '.join(self.key)}) is not unique in result {side}: a key "
                    "value matches more than one row. Add columns to the key.",
                    "Key not unique",
                )
        self._conn.execute(
            f"create table tusk_diff as select * from ({joined}) where kind <> 'same'",
            limit=None,
        )
        self._counts = {
            "rows_a": counts["rows_a"],
            "rows_b": counts["rows_b"],
            ONLY_A: counts["only_a"],
            ONLY_B: counts["only_b"],
            CHANGED: counts["changed"],
        }

    # --- plumbing ----------------------------------------------------------------------------

    def _schema(self, name: str) -> pa.Schema:
        return self._conn.execute(f"select * from {name} limit 0", limit=None).table.schema

    def _check_columns(self) -> None:
        for side, schema in (("A", self.schema_a), ("B", self.schema_b)):
            missing = [k for k in self.key if k not in schema.names]
            if missing:
                raise BadInput(
                    f"Result {side} has no column {', '.join(map(repr, missing))}: the key must "
                    "be columns of both results.",
                    "Key not in both results",
                )
            if any(n.startswith("__tusk_") for n in schema.names):
                raise BadInput("Column names starting with __tusk_ are Tusk's own.", "Bad name")

    def _table(self, sql: str) -> pa.Table:
        return self._conn.execute(sql, limit=None).table


def diff_results(
    a: Iterable[pa.RecordBatch] | pa.Table,
    b: Iterable[pa.RecordBatch] | pa.Table,
    key: Sequence[str],
    sample: int = SAMPLE_ROWS,
) -> ResultDiff:
    """Compare two results by `key` (see Comparison) and free the scratch database."""
    with Comparison(a, b, key) as comparison:
        return comparison.summary(sample)
