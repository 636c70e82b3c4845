"""PostgreSQL numeric without a precision (sum, avg, literals) is exact text marked as a number:
the grid aligns and sorts it as numbers, the quick chart plots it, the text keeps every digit."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tests.conftest import pg_spec
from tusk.engines.registry import connect
from tusk.engines.result import NUMERIC_TEXT, is_numeric_text
from tusk.ui.grid import display_frame
from tusk.ui.studio.chart import chart_plan


def _numeric_text_table() -> pa.Table:
    schema = pa.schema(
        [pa.field("city", pa.string()), pa.field("total", pa.string(), metadata=NUMERIC_TEXT)]
    )
    return pa.table({"city": ["a", "b"], "total": ["10.5", "9.25"]}, schema=schema)


def test_grid_and_chart_treat_numeric_text_as_numbers() -> None:
    table = _numeric_text_table()
    frame, kinds = display_frame(table)
    assert kinds == {"city": "text", "total": "number"}
    assert frame["total"].tolist() == ["10.5", "9.25"]  # every digit, as the server wrote it
    assert chart_plan(table) == ("bar", "city", ["total"])


@pytest.mark.postgres
def test_postgres_aggregates_come_marked(pg_database: str) -> None:
    conn = connect(pg_spec(pg_database))
    try:
        sql = (
            "select sum(x) over () as s, avg(x) over () as a, 0.1 + 0.2 as lit, x as m "
            "from (select v::numeric(5, 2) as x from (values (1.25), (2.5)) v(v)) t"
        )
        page = conn.execute(sql).table
        stream = pa.Table.from_batches(list(conn.stream_arrow(sql)))
    finally:
        conn.close()
    for table in (page, stream):
        marked = [f.name for f in table.schema if is_numeric_text(f)]
        assert marked == ["s", "a", "lit"]
        assert table.schema.field("m").type == pa.decimal128(5, 2)
        assert table.column("lit").to_pylist() == ["0.3", "0.3"]  # exact, not 0.30000000000000004
