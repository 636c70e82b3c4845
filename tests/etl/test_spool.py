"""Full runs of a query source: the engine's batches are spooled into a temporary Parquet file
under TUSK_HOME/cache/spool and scanned lazily; the file is gone after a success, a failing
query, a failing step and a cancel, and an empty result still has its columns."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from tests.conftest import pg_spec
from tests.etl.conftest import Data, run_code
from tusk import connections
from tusk.engines.duckdb import DuckDBConnection
from tusk.engines.registry import connect
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput, QueryCancelled, QueryFailed
from tusk.etl import pipeline, sinks, sources
from tusk.etl.pipeline import Pipeline
from tusk.etl.sources import QuerySource
from tusk.etl.steps import Condition, Filter, Join, Select, Sort, SortKey

ROWS = 250_000  # DuckDB streams 100,000-row batches: several batches, several row groups
QUERY = (
    "select i as id, 'p' || (i % 7) as product, i * 0.5 as value, "
    "date '2024-01-01' + (i % 366)::integer as day from range({rows}) t(i)"
)


@pytest.fixture
def shop(tmp_path: Path) -> str:
    """A saved DuckDB file connection (the queries make their own rows with range())."""
    path = tmp_path / "shop.duckdb"
    conn = connect(ConnectionSpec("shop", "duckdb", path=str(path)))
    conn.execute("create table sales as select 1 as id, 'p0' as product", limit=None)
    conn.close()
    connections.add(ConnectionSpec("shop", "duckdb", path=str(path)))
    return "shop"


def runs(home: Path) -> list[Path]:
    """The run folders left in the spool (each holds one run's files)."""
    return sorted((home / "cache" / "spool").glob("run-*"))


def expected(rows: int, keep: int = 3) -> pl.DataFrame:
    """The query's rows whose product is not p<keep>, written out in Python."""
    kept = [i for i in range(rows) if i % 7 != keep]
    return pl.DataFrame(
        {
            "id": kept,
            "product": [f"p{i % 7}" for i in kept],
            "value": [i * 0.5 for i in kept],
            "day": [date.fromordinal(date(2024, 1, 1).toordinal() + i % 366) for i in kept],
        }
    )


def query_pipeline(connection: str, rows: int = ROWS) -> Pipeline:
    return Pipeline(
        name="spooled",
        source=QuerySource(connection=connection, sql=QUERY.format(rows=rows)),
        steps=[Filter(conditions=[Condition(column="product", op="!=", value="p3")])],
    )


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_full_export_of_a_duckdb_query(
    shop: str, tusk_home: Path, tmp_path: Path, fmt: str
) -> None:
    p = query_pipeline(shop)
    out = sinks.write_path(p, tmp_path / f"out.{fmt}")
    back = pl.read_parquet(out) if fmt == "parquet" else pl.read_csv(out, try_parse_dates=True)
    want = expected(ROWS)
    # DuckDB's `i * 0.5` is DECIMAL(21,1): Parquet keeps it, CSV reads it back as a float.
    assert back.schema["value"] == (pl.Decimal(21, 1) if fmt == "parquet" else pl.Float64)
    assert_frame_equal(back, want, check_dtypes=False)
    assert runs(tusk_home) == []


def test_a_full_run_reads_the_spool_file_lazily(shop: str, tusk_home: Path) -> None:
    p = Pipeline(
        source=QuerySource(connection=shop, sql=QUERY.format(rows=ROWS)),
        steps=[
            Join(
                right=QuerySource(connection=shop, sql="select 'p6' as product, 'six' as word"),
                left_on=["product"],
                right_on=["product"],
                how="left",
            ),
            Sort(by=[SortKey(column="id", descending=True)]),
        ],
    )
    with pipeline.running(p) as lf:
        files = sorted((tusk_home / "cache" / "spool").glob("run-*/*.parquet"))
        assert len(files) == 2  # the source and the joined query, each in its own file
        row_groups = sorted(pq.ParquetFile(f).metadata.num_row_groups for f in files)
        assert row_groups[0] == 1 and row_groups[1] >= 2  # written batch by batch
        assert os.stat(files[0].parent).st_mode & 0o777 == 0o700
        top = lf.head(2).collect()
        sixes = lf.filter(pl.col("word") == "six").select(pl.len()).collect().item()
    assert top["id"].to_list() == [ROWS - 1, ROWS - 2]
    assert sixes == len(range(6, ROWS, 7))
    assert runs(tusk_home) == []
    assert pipeline.row_count(p) == ROWS
    assert runs(tusk_home) == []


def test_head_collect_and_generated_code_agree(shop: str, tusk_home: Path) -> None:
    p = query_pipeline(shop, rows=1_000)
    got = pipeline.collect(p)
    assert_frame_equal(got, expected(1_000), check_dtypes=False)
    assert got.schema["value"] == pl.Decimal(21, 1)  # the type pl.from_arrow gives
    assert_frame_equal(run_code(p), got)
    assert_frame_equal(pipeline.head(p, 5), got.head(5))
    assert runs(tusk_home) == []


def test_empty_result_exports_its_columns(shop: str, tusk_home: Path, tmp_path: Path) -> None:
    p = Pipeline(source=QuerySource(connection=shop, sql=QUERY.format(rows=0)))
    out = sinks.write_path(p, tmp_path / "none.parquet")
    back = pl.read_parquet(out)
    assert back.height == 0
    assert back.schema == pl.Schema(
        {"id": pl.Int64, "product": pl.String, "value": pl.Decimal(21, 1), "day": pl.Date}
    )
    csv = sinks.write_path(p, tmp_path / "none.csv")
    assert csv.read_text() == "id,product,value,day\n"
    assert_frame_equal(run_code(p), pipeline.collect(p))
    assert runs(tusk_home) == []


def test_a_failing_query_names_the_source_and_leaves_nothing(
    shop: str, tusk_home: Path, tmp_path: Path
) -> None:
    # error() fires on row 150,000: after the first batches were already spooled.
    sql = "select i, case when i = 150000 then error('boom at 150000') else i end as v " + (
        "from range(300000) t(i)"
    )
    p = Pipeline(source=QuerySource(connection=shop, sql=sql))
    with pytest.raises(QueryFailed) as caught:
        sinks.write_path(p, tmp_path / "out.parquet")
    assert "query on shop" in caught.value.message
    assert "boom at 150000" in caught.value.message
    assert not (tmp_path / "out.parquet").exists()
    assert not list(tmp_path.glob(".tusk-*"))
    assert runs(tusk_home) == []
    with pytest.raises(QueryFailed, match="query on shop"):
        pipeline.row_count(Pipeline(source=QuerySource(connection=shop, sql="select * from nope")))
    assert runs(tusk_home) == []


def test_a_failing_step_leaves_no_spool_file(
    shop: str, tusk_home: Path, data: Data, duck: DuckDBConnection
) -> None:
    # The joined file has a bad row past the rows Polars infers its types from.
    right = "product,n\n" + "\n".join(f"x{i},{i}" for i in range(300)) + "\np1,many\n"
    data.write("bad_right.csv", right)
    p = Pipeline(
        source=QuerySource(connection=shop, sql=QUERY.format(rows=ROWS)),
        steps=[Join(right=data.source("bad_right.csv"), left_on=["product"], right_on=["product"])],
    )
    with pytest.raises(BadInput, match="many"):
        sinks.write_file(p, "parquet", data.root, "out.parquet")
    assert not (data.path / "out.parquet").exists()
    assert runs(tusk_home) == []
    with pytest.raises(BadInput, match="many"):
        sinks.to_duckdb(p, duck, "out")
    assert runs(tusk_home) == []


def test_cancel_stops_the_query_and_leaves_nothing(
    shop: str, tusk_home: Path, tmp_path: Path
) -> None:
    p = Pipeline(source=QuerySource(connection=shop, sql=QUERY.format(rows=10**10)))
    started = time.perf_counter()
    with sources.spooling() as spool, pytest.raises(QueryCancelled) as caught:
        threading.Timer(0.5, spool.cancel).start()
        sinks.write_path(p, tmp_path / "out.parquet")  # shares the outer block's spool
    assert time.perf_counter() - started < 30
    assert "query on shop" in caught.value.message and "cancelled" in caught.value.message
    assert not (tmp_path / "out.parquet").exists()
    assert runs(tusk_home) == []


def test_import_into_duckdb_from_a_query(
    shop: str, tusk_home: Path, duck: DuckDBConnection
) -> None:
    p = query_pipeline(shop)
    want = expected(ROWS)
    assert sinks.to_duckdb(p, duck, "facts") == want.height
    back = duck.execute("select count(*) as n, sum(id) as s from facts", limit=None).table
    assert back.to_pylist() == [{"n": want.height, "s": int(want["id"].sum())}]
    assert runs(tusk_home) == []


def test_a_spool_left_by_a_killed_run_is_swept(shop: str, tusk_home: Path) -> None:
    root = tusk_home / "cache" / "spool"
    stale = root / "run-dead"
    stale.mkdir(parents=True)
    (stale / "x.parquet").write_bytes(b"half")
    old = time.time() - sources.SPOOL_STALE_S - 60
    os.utime(stale, (old, old))
    fresh = root / "run-alive"  # another process's run in progress: kept
    fresh.mkdir()
    pipeline.row_count(query_pipeline(shop, rows=10))
    assert sorted(p.name for p in root.iterdir()) == ["run-alive"]


@pytest.mark.postgres
def test_full_export_of_a_postgres_query(db: str, tusk_home: Path, tmp_path: Path) -> None:
    spec = pg_spec(db, name="warehouse")
    conn = connect(spec)
    try:
        conn.execute(
            "create table items (id int8 primary key, product text, value float8, day date);"
            "insert into items select i, 'p' || (i % 7), i * 0.5, "
            "date '2024-01-01' + (i % 366) from generate_series(0, 249999) i",
            limit=None,
        )
    finally:
        conn.close()
    connections.add(spec)
    p = Pipeline(
        source=QuerySource(connection="warehouse", sql="select * from items where id >= 0"),
        steps=[
            Filter(conditions=[Condition(column="product", op="!=", value="p3")]),
            Select(columns=["id", "product", "value", "day"]),
        ],
    )
    out = sinks.write_path(p, tmp_path / "items.parquet")
    back = pl.read_parquet(out).sort("id")
    assert_frame_equal(back, expected(ROWS))
    assert runs(tusk_home) == []
    empty = Pipeline(
        source=QuerySource(connection="warehouse", sql="select id, product from items where false")
    )
    none = pl.read_parquet(sinks.write_path(empty, tmp_path / "none.parquet"))
    assert none.height == 0 and none.schema == pl.Schema({"id": pl.Int64, "product": pl.String})
    with pytest.raises(QueryFailed, match="query on warehouse"):
        sinks.write_path(
            Pipeline(source=QuerySource(connection="warehouse", sql="select 1/0 as x")),
            tmp_path / "bad.parquet",
        )
    assert runs(tusk_home) == []


@pytest.fixture
def duck(tmp_path: Path) -> Iterator[DuckDBConnection]:
    """A DuckDB connection to import into."""
    conn = connect(ConnectionSpec("analytics", "duckdb", path=str(tmp_path / "analytics.duckdb")))
    assert isinstance(conn, DuckDBConnection)
    yield conn
    conn.close()
