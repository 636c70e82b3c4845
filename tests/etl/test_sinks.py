"""Outputs: CSV/Parquet files in a data root (streamed, atomic), DuckDB and PostgreSQL tables
(bulk load: counts and checksums match, append doubles, a type clash leaves no half table)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.conftest import pg_spec
from tests.etl.conftest import PEOPLE, Data
from tusk.engines.duckdb import DuckDBConnection
from tusk.engines.registry import connect
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput, PermissionDenied, QueryFailed
from tusk.etl import pipeline, sinks
from tusk.etl.pipeline import Pipeline
from tusk.etl.steps import Condition, Filter, Rename, Select

BIG_ROWS = 300_000


@pytest.fixture
def big(data: Data) -> Pipeline:
    """A pipeline over a generated 300,000-row CSV: enough rows for several batches."""
    frame = pl.DataFrame(
        {
            "id": range(BIG_ROWS),
            "group": [f"g{i % 17}" for i in range(BIG_ROWS)],
            "value": [i * 0.25 for i in range(BIG_ROWS)],
        }
    )
    frame.write_csv(data.path / "big.csv")
    return Pipeline(
        name="big",
        source=data.source("big.csv"),
        steps=[Filter(conditions=[Condition(column="group", op="!=", value="g3")])],
    )


def expected_big() -> pl.DataFrame:
    kept = [i for i in range(BIG_ROWS) if i % 17 != 3]
    return pl.DataFrame(
        {"id": kept, "group": [f"g{i % 17}" for i in kept], "value": [i * 0.25 for i in kept]}
    )


# --- files ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("with_progress", [False, True])
def test_write_file_streams_the_whole_result(
    data: Data, big: Pipeline, fmt: str, with_progress: bool
) -> None:
    seen: list[int] = []
    progress = seen.append if with_progress else None
    entry = sinks.write_file(big, fmt, data.root, "result", progress=progress)
    assert entry.relative == f"result.{fmt}" and entry.kind == fmt
    path = data.path / entry.relative
    back = pl.read_csv(path) if fmt == "csv" else pl.read_parquet(path)
    assert_frame_equal(back, expected_big())
    if with_progress:
        assert seen and seen[-1] == expected_big().height
        assert seen == sorted(seen)
    assert not list(data.path.glob(".tusk-*"))  # no temp file left behind


def test_write_file_refuses_to_overwrite_unless_asked(data: Data) -> None:
    p = Pipeline(source=data.source("people.csv"), steps=[Select(columns=["id"])])
    sinks.write_file(p, "csv", data.root, "ids.csv")
    with pytest.raises(BadInput, match="already exists"):
        sinks.write_file(p, "csv", data.root, "ids.csv")
    p2 = p.model_copy(update={"steps": [Select(columns=["name"])]})
    sinks.write_file(p2, "csv", data.root, "ids.csv", overwrite=True)
    assert (data.path / "ids.csv").read_text().splitlines()[:2] == ["name", "Ann"]


def test_write_file_paths_stay_inside_the_root(data: Data) -> None:
    p = Pipeline(source=data.source("people.csv"))
    with pytest.raises(BadInput, match="climbs out"):
        sinks.write_file(p, "csv", data.root, "../escape.csv")
    with pytest.raises(BadInput, match="not a folder|No such folder|is not a folder"):
        sinks.write_file(p, "csv", data.root, "nowhere/x.csv")
    with pytest.raises(BadInput, match="CSV or Parquet"):
        sinks.write_file(p, "xlsx", data.root, "x.xlsx")  # type: ignore[arg-type]


def test_zero_rows_write_a_header_and_an_empty_parquet(data: Data) -> None:
    p = Pipeline(
        source=data.source("people.csv"),
        steps=[
            Filter(conditions=[Condition(column="id", op=">", value=99)]),
            Select(columns=["id", "name"]),
        ],
    )
    for progress in (None, lambda n: None):
        csv = sinks.write_file(p, "csv", data.root, "none.csv", overwrite=True, progress=progress)
        assert (data.path / csv.relative).read_text() == "id,name\n"
        pq = sinks.write_file(p, "parquet", data.root, "none", overwrite=True, progress=progress)
        back = pl.read_parquet(data.path / pq.relative)
        assert back.height == 0 and back.schema == pl.Schema({"id": pl.Int64, "name": pl.String})


def test_a_failing_run_leaves_no_file(data: Data) -> None:
    body = "\n".join(str(i) for i in range(1_000_000)) + "\nnot-a-number\n"
    data.write("late.csv", "n\n" + body)
    p = Pipeline(source=data.source("late.csv"))
    for progress in (None, lambda n: None):
        with pytest.raises(BadInput, match="not-a-number"):
            sinks.write_file(p, "parquet", data.root, "late.parquet", progress=progress)
        assert not (data.path / "late.parquet").exists()
        assert not list(data.path.glob(".tusk-*"))


def test_write_file_needs_data_export(data: Data, users: dict[str, object]) -> None:
    p = Pipeline(source=data.source("people.csv"))
    with pytest.raises(PermissionDenied, match="data.export"):
        sinks.write_file(p, "csv", data.root, "x.csv", actor=users["viewer"])  # type: ignore[arg-type]
    entry = sinks.write_file(p, "csv", data.root, "x.csv", actor=users["analyst"])  # type: ignore[arg-type]
    assert entry.size > 0


def test_write_path_for_the_cli(data: Data, tmp_path: Path) -> None:
    p = Pipeline(source=data.source("people.csv"))
    out = sinks.write_path(p, tmp_path / "people.parquet")
    assert_frame_equal(pl.read_parquet(out), PEOPLE)
    with pytest.raises(BadInput, match="already exists"):
        sinks.write_path(p, out)
    with pytest.raises(BadInput, match="CSV or Parquet"):
        sinks.write_path(p, tmp_path / "people.txt")


# --- DuckDB ---------------------------------------------------------------------------------


@pytest.fixture
def duck(tmp_path: Path) -> Iterator[DuckDBConnection]:
    conn = connect(ConnectionSpec("analytics", "duckdb", path=str(tmp_path / "analytics.duckdb")))
    assert isinstance(conn, DuckDBConnection)
    yield conn
    conn.close()


def table_frame(conn: object, table: str) -> pl.DataFrame:
    """The whole table back through the engine, sorted by id."""
    batches = list(conn.stream_arrow(f'select * from "{table}"'))  # type: ignore[attr-defined]
    return pl.from_arrow(batches).sort("id")  # type: ignore[return-value]


def checksum(conn: object, table: str) -> tuple[int, int, float]:
    result = conn.execute(  # type: ignore[attr-defined]
        f'select count(*), sum(id), sum(value) from "{table}"', limit=1
    )
    row = result.table.to_pylist()[0]
    return tuple(float(v) if isinstance(v, float) else int(v) for v in row.values())  # type: ignore[return-value]


def test_duckdb_create_append_replace(big: Pipeline, duck: DuckDBConnection) -> None:
    want = expected_big()
    total = (want.height, int(want["id"].sum()), float(want["value"].sum()))
    assert sinks.to_duckdb(big, duck, "facts") == want.height
    assert checksum(duck, "facts") == total
    assert_frame_equal(table_frame(duck, "facts"), want)
    assert sinks.to_duckdb(big, duck, "facts", mode="append") == want.height
    assert checksum(duck, "facts") == (2 * total[0], 2 * total[1], 2 * total[2])
    assert sinks.to_duckdb(big, duck, "facts", mode="replace") == want.height
    assert checksum(duck, "facts") == total


def test_duckdb_create_over_an_existing_table_is_refused(
    big: Pipeline, duck: DuckDBConnection
) -> None:
    sinks.to_duckdb(big, duck, "facts")
    with pytest.raises(BadInput, match="already exists: choose append or replace"):
        sinks.to_duckdb(big, duck, "facts")


def test_duckdb_append_type_clash_leaves_the_table_alone(
    data: Data, duck: DuckDBConnection
) -> None:
    duck.execute("create table people (id integer, name integer)", limit=None)
    duck.execute("insert into people values (1, 10)", limit=None)
    p = Pipeline(source=data.source("people.csv"), steps=[Select(columns=["id", "name"])])
    with pytest.raises(BadInput) as caught:
        sinks.to_duckdb(p, duck, "people", mode="append")
    assert caught.value.message == (
        "Cannot append to 'people': column 'name' is String in the result but INTEGER in the "
        "table. Nothing was written."
    )
    assert duck.execute("select count(*) from people", limit=1).table.to_pylist() == [
        {"count_star()": 1}
    ]


def test_duckdb_append_engine_error_is_clear_and_atomic(data: Data, duck: DuckDBConnection) -> None:
    # Both are integers, so only the engine finds that 3e9 does not fit an INTEGER.
    data.write("wide.csv", "id\n1\n2\n3000000000\n")
    duck.execute("create table narrow (id integer)", limit=None)
    duck.execute("insert into narrow values (7)", limit=None)
    with pytest.raises(QueryFailed) as caught:
        sinks.to_duckdb(Pipeline(source=data.source("wide.csv")), duck, "narrow", mode="append")
    assert caught.value.message.startswith(
        "Could not load the rows into DuckDB table 'narrow' (it was left as it was): "
    )
    assert duck.execute("select id from narrow", limit=None).table.to_pylist() == [{"id": 7}]


def test_duckdb_append_reorders_columns_and_checks_names(
    data: Data, duck: DuckDBConnection
) -> None:
    duck.execute("create table t (name varchar, id bigint)", limit=None)
    p = Pipeline(source=data.source("people.csv"), steps=[Select(columns=["id", "name"])])
    assert sinks.to_duckdb(p, duck, "t", mode="append") == 6
    first = duck.execute("select name, id from t order by id limit 1", limit=None)
    assert first.table.to_pylist() == [{"name": "Ann", "id": 1}]
    renamed = p.model_copy(update={"steps": [*p.steps, Rename(mapping={"name": "who"})]})
    with pytest.raises(BadInput, match="the result has 'who' which the table lacks"):
        sinks.to_duckdb(renamed, duck, "t", mode="append")
    with pytest.raises(BadInput, match="no DuckDB table 'ghost' to append to"):
        sinks.to_duckdb(p, duck, "ghost", mode="append")


def test_duckdb_zero_rows_and_hostile_name(data: Data, duck: DuckDBConnection) -> None:
    p = Pipeline(
        source=data.source("people.csv"),
        steps=[Filter(conditions=[Condition(column="id", op="<", value=0)])],
    )
    name = 'x"; drop table t; --'
    assert sinks.to_duckdb(p, duck, name) == 0
    cols = duck.execute(f'select * from "{name.replace(chr(34), chr(34) * 2)}"', limit=None)
    assert cols.table.num_rows == 0
    assert cols.table.column_names == ["id", "name", "city", "amount", "day", "active"]


def test_import_needs_data_import(
    data: Data, duck: DuckDBConnection, users: dict[str, object]
) -> None:
    p = Pipeline(source=data.source("people.csv"))
    with pytest.raises(PermissionDenied, match="data.import"):
        sinks.to_duckdb(p, duck, "t", actor=users["analyst"])  # type: ignore[arg-type]
    assert sinks.to_duckdb(p, duck, "t", actor=users["engineer"]) == 6  # type: ignore[arg-type]


def test_wrong_engine_is_refused(data: Data, duck: DuckDBConnection) -> None:
    with pytest.raises(BadInput, match="needs a PostgreSQL connection"):
        sinks.to_postgres(Pipeline(source=data.source("people.csv")), duck, "t")


def test_a_failing_run_creates_no_duckdb_table(data: Data, duck: DuckDBConnection) -> None:
    body = "\n".join(str(i) for i in range(1_000_000)) + "\nnot-a-number\n"
    data.write("late.csv", "n\n" + body)
    with pytest.raises(BadInput, match="not-a-number"):
        sinks.to_duckdb(Pipeline(source=data.source("late.csv")), duck, "late")
    assert duck.execute("select count(*) from duckdb_tables()", limit=1).table.to_pylist() == [
        {"count_star()": 0}
    ]


# --- PostgreSQL -----------------------------------------------------------------------------


@pytest.fixture
def pgconn(db: str) -> Iterator[object]:
    conn = connect(pg_spec(db))
    yield conn
    conn.close()


@pytest.mark.postgres
def test_postgres_create_append_replace(big: Pipeline, pgconn: object) -> None:
    want = expected_big()
    total = (want.height, int(want["id"].sum()), float(want["value"].sum()))
    assert sinks.to_postgres(big, pgconn, "facts") == want.height  # type: ignore[arg-type]
    assert checksum(pgconn, "facts") == total
    back = table_frame(pgconn, "facts")
    assert_frame_equal(back, want)
    assert sinks.to_postgres(big, pgconn, "facts", mode="append") == want.height  # type: ignore[arg-type]
    assert checksum(pgconn, "facts") == (2 * total[0], 2 * total[1], 2 * total[2])
    assert sinks.to_postgres(big, pgconn, "facts", mode="replace") == want.height  # type: ignore[arg-type]
    assert checksum(pgconn, "facts") == total


@pytest.mark.postgres
def test_postgres_types_are_mapped(data: Data, pgconn: object) -> None:
    sinks.to_postgres(Pipeline(source=data.source("people.csv")), pgconn, "people")  # type: ignore[arg-type]
    types = pgconn.execute(  # type: ignore[attr-defined]
        "select column_name, data_type from information_schema.columns "
        "where table_name = 'people' order by ordinal_position",
        limit=None,
    ).table.to_pylist()
    assert [(t["column_name"], t["data_type"]) for t in types] == [
        ("id", "bigint"),
        ("name", "character varying"),
        ("city", "character varying"),
        ("amount", "double precision"),
        ("day", "date"),
        ("active", "boolean"),
    ]
    back = table_frame(pgconn, "people")
    assert_frame_equal(back, PEOPLE)


@pytest.mark.postgres
def test_postgres_type_clash_leaves_no_half_table(data: Data, pgconn: object) -> None:
    pgconn.execute(  # type: ignore[attr-defined]
        "create table people (id int4, name text); insert into people values (1, 'x')",
        limit=None,
    )
    p = Pipeline(source=data.source("people.csv"), steps=[Select(columns=["id", "name"])])
    assert sinks.to_postgres(p, pgconn, "people", mode="append") == 6  # type: ignore[arg-type]
    data.write("wide.csv", "id,name\n1,a\n3000000000,b\n")
    with pytest.raises(QueryFailed) as caught:
        sinks.to_postgres(Pipeline(source=data.source("wide.csv")), pgconn, "people", mode="append")  # type: ignore[arg-type]
    assert "(it was left as it was)" in caught.value.message
    assert "out of range" in caught.value.message
    count = pgconn.execute("select count(*) as n from people", limit=1)  # type: ignore[attr-defined]
    assert count.table.to_pylist() == [{"n": 7}]
    leftovers = pgconn.execute(  # type: ignore[attr-defined]
        "select count(*) as n from pg_tables where tablename like '__tusk_load_%'", limit=1
    )
    assert leftovers.table.to_pylist() == [{"n": 0}]
    clash = Pipeline(source=data.source("people.csv"), steps=[Select(columns=["name", "day"])])
    with pytest.raises(BadInput, match="the result has 'day' which the table lacks"):
        sinks.to_postgres(clash, pgconn, "people", mode="append")  # type: ignore[arg-type]
    text_id = Pipeline(
        source=data.source("people.csv"),
        steps=[Select(columns=["name"]), Rename(mapping={"name": "id"})],
    )
    with pytest.raises(BadInput, match="the table has 'name' which the result lacks"):
        sinks.to_postgres(text_id, pgconn, "people", mode="append")  # type: ignore[arg-type]


@pytest.mark.postgres
def test_postgres_zero_rows_creates_an_empty_table(data: Data, pgconn: object) -> None:
    p = Pipeline(
        source=data.source("people.csv"),
        steps=[
            Filter(conditions=[Condition(column="id", op="<", value=0)]),
            Select(columns=["id", "name"]),
        ],
    )
    assert sinks.to_postgres(p, pgconn, "nobody") == 0  # type: ignore[arg-type]
    result = pgconn.execute("select * from nobody", limit=None)  # type: ignore[attr-defined]
    assert result.table.num_rows == 0 and result.table.column_names == ["id", "name"]
    assert pipeline.row_count(p) == 0
