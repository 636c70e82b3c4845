"""Which tables a cluster query sends to its runner (no cluster needed): only those the SQL
names, since the runner reads each table's schema before Daft plans — and all of them when
sqlglot cannot tell."""

from __future__ import annotations

import pytest

from tusk.cluster.client import used_tables

TABLES = {name: f"/data/{name}.parquet" for name in ("orders", "lineitem", "nation", "region")}


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("select count(*) from lineitem", {"lineitem"}),
        ("select * from Orders o join LINEITEM l on o.k = l.k", {"orders", "lineitem"}),
        ("select * from region where r in (select n from nation)", {"nation", "region"}),
        ("with x as (select * from orders) select * from x", {"orders"}),
        # A CTE that shadows a table: sending the table too is harmless.
        ("with nation as (select 1 as n) select * from nation", {"nation"}),
        ("select 1 as one", set()),
        # Statements sqlglot keeps as text, or cannot read: every table goes.
        ("show tables", set(TABLES)),
        ("select * from orders where (", set(TABLES)),
    ],
)
def test_only_named_tables_are_sent(sql: str, expected: set[str]) -> None:
    """The tables a statement names, compared without case; paths kept as given."""
    used = used_tables(sql, TABLES)
    assert set(used) == expected
    assert all(used[name] == TABLES[name] for name in used)
