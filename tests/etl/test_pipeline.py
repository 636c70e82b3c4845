"""Validation, preview, row count, JSON and the sources: files, queries (DuckDB, PostgreSQL)
and OSM layers; bad input gives a clear message that points at the source or the step."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.conftest import PG_PASSWORD, pg_spec
from tests.etl.conftest import PEOPLE, Data, check, run_code
from tusk import connections
from tusk.engines.registry import connect
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput
from tusk.etl import codegen, pipeline, sources
from tusk.etl.pipeline import Pipeline
from tusk.etl.sources import OsmSource, QuerySource
from tusk.etl.steps import (
    Agg,
    Condition,
    Filter,
    GroupBy,
    Join,
    Limit,
    Rename,
    Select,
    Sort,
    SortKey,
    StepError,
)

# --- validation and preview -------------------------------------------------------------------


def test_column_renamed_away_marks_the_step_and_the_rest_is_still_checked(data: Data) -> None:
    p = Pipeline(
        source=data.source("people.csv"),
        steps=[
            Rename(mapping={"name": "who"}),
            Filter(conditions=[Condition(column="name", op="==", value="Ann")]),  # gone
            Select(columns=["who", "city"]),  # fine: checked against what is known
            Sort(by=[SortKey(column="amount")]),  # dropped by the select
        ],
    )
    issues = pipeline.validate(p)
    assert [(i.step_id, i.index) for i in issues] == [(p.steps[1].id, 1), (p.steps[3].id, 3)]
    assert "Column 'name' does not exist here" in issues[0].message
    assert "Step 1 (rename) renamed 'name' to 'who'." in issues[0].message
    assert "Step 3 (select) removed 'amount'." in issues[1].message

    shown = pipeline.preview(p)  # the preview goes on without the broken steps
    assert shown.issues == issues
    assert_frame_equal(shown.frame, PEOPLE.select(who="name", city="city"))

    with pytest.raises(StepError, match=r"^Step 2 \(filter\): Column 'name'") as caught:
        pipeline.lazy(p)
    assert caught.value.step_id == p.steps[1].id


def test_preview_after_each_step_and_of_the_source(data: Data) -> None:
    p = Pipeline(
        source=data.source("people.csv"),
        steps=[
            Filter(conditions=[Condition(column="city", op="==", value="Oslo")]),
            Select(columns=["id"]),
        ],
    )
    assert pipeline.preview(p, upto=-1).frame.shape == (6, 6)
    assert pipeline.preview(p, upto=0).frame.shape == (2, 6)
    last = pipeline.preview(p)
    assert last.frame["id"].to_list() == [1, 3]
    assert last.schema == {"id": "Int64"}
    assert pipeline.preview(p, n=1).frame.height == 1
    with pytest.raises(BadInput, match="no step 5"):
        pipeline.lazy(p, upto=4)


def test_row_count_is_a_full_run(data: Data) -> None:
    lines = "\n".join(f"{i},{i % 7}" for i in range(25_000))
    data.write("many.csv", "a,b\n" + lines + "\n")
    p = Pipeline(
        source=data.source("many.csv"),
        steps=[Filter(conditions=[Condition(column="b", op="==", value=3)])],
    )
    assert pipeline.row_count(p) == sum(1 for i in range(25_000) if i % 7 == 3)
    assert pipeline.preview(p, n=10).frame.height == 10


def test_zero_row_result_is_not_an_error(data: Data) -> None:
    p = Pipeline(
        source=data.source("people.csv"),
        steps=[
            Filter(conditions=[Condition(column="amount", op=">", value=1000)]),
            Select(columns=["id", "name"]),
        ],
    )
    shown = pipeline.preview(p)
    assert shown.issues == []
    assert shown.frame.height == 0
    assert shown.schema == {"id": "Int64", "name": "String"}
    assert shown.note and "0 rows" in shown.note
    assert pipeline.row_count(p) == 0
    check(p, pl.DataFrame(schema={"id": pl.Int64, "name": pl.String}))


def test_empty_file_is_clear(data: Data) -> None:
    data.write("empty.csv", "")
    p = Pipeline(source=data.source("empty.csv"), steps=[Select(columns=["a"])])
    shown = pipeline.preview(p)
    assert [i.step_id for i in shown.issues] == [None]
    assert shown.issues[0].message == "data/empty.csv is empty (0 bytes): there is nothing to read."
    with pytest.raises(BadInput, match="is empty"):
        pipeline.lazy(p)
    assert pipeline.validate(p)[0].message == shown.issues[0].message


def test_blank_lines_only_file_is_clear(data: Data) -> None:
    data.write("blank.csv", "\n\n")
    p = Pipeline(source=data.source("blank.csv"))
    shown = pipeline.preview(p)
    assert shown.issues and shown.issues[0].step_id is None
    assert "data/blank.csv" in shown.issues[0].message
    assert str(data.path) not in shown.issues[0].message  # root/relative, never the server path


def test_wrong_delimiter_gives_a_hint(data: Data) -> None:
    data.write("semi.csv", "id;name\n1;Ann\n2;Bob\n")
    p = Pipeline(source=data.source("semi.csv"), steps=[Select(columns=["name"])])
    shown = pipeline.preview(p)
    assert len(shown.issues) == 1
    message = shown.issues[0].message
    assert "Column 'name' does not exist" in message
    assert "is the separator ';'?" in message
    assert shown.note and "one column named 'id;name'" in shown.note
    fixed = p.model_copy(update={"source": data.source("semi.csv", separator=";")})
    check(fixed, pl.DataFrame({"name": ["Ann", "Bob"]}))


def test_missing_file_and_path_escape(data: Data) -> None:
    with pytest.raises(BadInput, match="data/ghost.csv does not exist"):
        pipeline.lazy(Pipeline(source=data.source("ghost.csv")))
    with pytest.raises(BadInput, match="climbs out"):
        pipeline.lazy(Pipeline(source=data.source("../secret.csv")))


def test_bad_value_deep_in_the_file_is_a_clear_run_error(data: Data) -> None:
    # far enough down (~7 MB) that reading the head never reaches it
    body = "\n".join(str(i) for i in range(1_000_000)) + "\nnot-a-number\n"
    data.write("late.csv", "n\n" + body)
    p = Pipeline(source=data.source("late.csv"), steps=[Limit(n=10)])
    assert pipeline.preview(p).frame.height == 10  # only the head is read
    with pytest.raises(BadInput) as caught:
        pipeline.collect(p.model_copy(update={"steps": []}))
    assert "not-a-number" in caught.value.message
    assert str(data.path) not in caught.value.message


def test_runtime_failure_in_preview_points_at_a_step(data: Data) -> None:
    # Polars only finds this at run time: the join's right side has a bad row past the
    # rows it infers types from.
    right = "city,pop\n" + "\n".join(f"c{i},{i}" for i in range(300)) + "\nOslo,many\n"
    data.write("bad_right.csv", right)
    p = Pipeline(
        source=data.source("people.csv"),
        steps=[
            Select(columns=["id", "city"]),
            Join(right=data.source("bad_right.csv"), left_on=["city"], right_on=["city"]),
        ],
    )
    shown = pipeline.preview(p)
    assert len(shown.issues) == 1
    assert shown.issues[0].step_id == p.steps[1].id
    assert "many" in shown.issues[0].message


# --- JSON -----------------------------------------------------------------------------------


def test_json_round_trip_keeps_every_step(data: Data) -> None:
    p = Pipeline(
        name="all",
        source=data.source("people.csv", separator=",", has_header=True),
        steps=[
            Filter(conditions=[Condition(column="city", op="in", value=["Oslo"])], combine="or"),
            Rename(mapping={"name": "who"}),
            GroupBy(keys=["city"], aggs=[Agg(column="who", fn="first", alias="x")]),
            Join(
                right=data.source("cities.csv"),
                how="anti",
                left_on=["city"],
                right_on=["city"],
                enabled=False,
            ),
        ],
    )
    text = pipeline.to_json(p)
    assert json.loads(text)["version"] == pipeline.VERSION
    assert pipeline.from_json(text) == p


def test_newer_version_is_refused_clearly(data: Data) -> None:
    doc = json.loads(pipeline.to_json(Pipeline(source=data.source("people.csv"))))
    doc["version"] = pipeline.VERSION + 1
    doc["steps"] = [{"kind": "pivot", "id": "x"}]  # a step this Tusk does not know
    with pytest.raises(BadInput) as caught:
        pipeline.from_json(json.dumps(doc))
    assert caught.value.message == (
        f"This pipeline was saved by a newer Tusk (format version {pipeline.VERSION + 1}); "
        f"this Tusk reads versions up to {pipeline.VERSION}. Upgrade Tusk to open it."
    )


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{not json", "JSON is invalid"),
        ("[1, 2]", "expected a JSON object"),
        ('{"version": "one", "source": {}}', "unreadable format version"),
        ('{"version": 1}', "source: Field required"),
        (
            '{"source": {"kind": "file", "root": "data", "relative": "a.csv"},'
            ' "steps": [{"kind": "pivot"}]}',
            "steps.0",
        ),
        (
            '{"source": {"kind": "file", "root": "data", "relative": "a.csv", "sep": ";"}}',
            "Extra inputs are not permitted",
        ),
    ],
)
def test_malformed_pipeline_json(text: str, words: str) -> None:
    with pytest.raises(BadInput, match="pipeline") as caught:
        pipeline.from_json(text)
    assert words in caught.value.message


# --- query sources --------------------------------------------------------------------------


@pytest.fixture
def duck(tmp_path: Path) -> str:
    """A saved DuckDB connection with a sales table."""
    path = tmp_path / "shop.duckdb"
    spec = ConnectionSpec("shop", "duckdb", path=str(path))
    conn = connect(spec)
    try:
        conn.execute(
            "create table sales as select i as id, 'p' || (i % 3) as product, "
            "(i * 1.5)::decimal(10, 2) as price, date '2024-01-01' + i::integer as day "
            "from range(1, 21) t(i)",
            limit=None,
        )
    finally:
        conn.close()
    connections.add(spec)
    return "shop"


def test_duckdb_query_source(duck: str, data: Data) -> None:
    p = Pipeline(
        source=QuerySource(connection=duck, sql="select * from sales"),
        steps=[
            Filter(conditions=[Condition(column="price", op=">=", value="27")]),
            GroupBy(keys=["product"], aggs=[Agg(fn="count", alias="n")]),
            Sort(by=[SortKey(column="product")]),
        ],
    )
    # ids 18, 19, 20 have price >= 27.00: products p0, p1, p2
    check(
        p,
        pl.DataFrame({"product": ["p0", "p1", "p2"], "n": pl.Series([1, 1, 1], dtype=pl.UInt32)}),
    )
    assert pipeline.preview(p).sampled


def test_query_preview_fetches_only_the_first_rows(duck: str) -> None:
    p = Pipeline(source=QuerySource(connection=duck, sql="select * from range(10000000) t(i)"))
    lf = sources.lazy(p.source, preview_rows=50)
    assert lf.collect().height == 50  # the engine stopped at limit + 1 rows
    assert pipeline.preview(p, n=5).frame["i"].to_list() == [0, 1, 2, 3, 4]


def test_query_source_errors_are_clear(duck: str) -> None:
    bad = Pipeline(source=QuerySource(connection=duck, sql="select * from nowhere"))
    shown = pipeline.preview(bad)
    assert shown.issues and shown.issues[0].step_id is None
    assert "nowhere" in shown.issues[0].message
    missing = Pipeline(source=QuerySource(connection="ghost", sql="select 1"))
    assert "no connection called 'ghost'" in pipeline.validate(missing)[0].message
    empty = Pipeline(source=QuerySource(connection=duck, sql="  "))
    assert "Write the query" in pipeline.validate(empty)[0].message


def test_duckdb_query_with_no_rows_keeps_its_columns(duck: str) -> None:
    p = Pipeline(
        source=QuerySource(connection=duck, sql="select id, product from sales where id < 0")
    )
    got = pipeline.collect(p)
    assert got.height == 0 and got.columns == ["id", "product"]
    assert_frame_equal(run_code(p), got)


def test_join_a_file_with_a_query(duck: str, data: Data) -> None:
    data.write("products.csv", "product,label\np0,Zero\np2,Two\n")
    p = Pipeline(
        source=data.source("products.csv"),
        steps=[
            Join(
                right=QuerySource(connection=duck, sql="select product, id from sales"),
                left_on=["product"],
                right_on=["product"],
            ),
            GroupBy(keys=["label"], aggs=[Agg(column="id", fn="max")]),
        ],
    )
    check(
        p,
        pl.DataFrame({"label": ["Zero", "Two"], "id_max": [18, 20]}),
    )


@pytest.mark.postgres
def test_postgres_query_source_and_code_without_the_password(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = pg_spec(db, name="warehouse")
    conn = connect(spec)
    try:
        conn.execute(
            "create table orders (id int4 primary key, customer text, total numeric(10,2), "
            "placed timestamptz, note text);"
            "insert into orders select i, 'c' || (i % 4), i * 2.5, "
            "timestamptz '2024-01-01 00:00+00' + i * interval '1 hour', "
            "case when i % 5 = 0 then null else 'n' || i end from generate_series(1, 40) i",
            limit=None,
        )
    finally:
        conn.close()
    connections.add(spec)
    p = Pipeline(
        source=QuerySource(connection="warehouse", sql="select * from orders"),
        steps=[
            Filter(
                conditions=[
                    Condition(column="placed", op=">=", value="2024-01-02 10:00"),
                    Condition(column="note", op="is_not_null"),
                ]
            ),
            GroupBy(
                keys=["customer"],
                aggs=[Agg(column="total", fn="sum"), Agg(fn="count", alias="n")],
            ),
            Sort(by=[SortKey(column="customer")]),
        ],
    )
    text = codegen.code(p)
    assert f"password={PG_PASSWORD!r}" not in text and f"password={PG_PASSWORD} " not in text
    assert text.count("password=") == 1
    assert "os.environ.get('TUSK_PASSWORD', '')" in text
    # ids 34..40 are placed from 2024-01-02 10:00; 35 and 40 have no note.
    kept = [i for i in range(34, 41) if i % 5]
    expected = (
        pl.DataFrame({"customer": [f"c{i % 4}" for i in kept], "total": [i * 2.5 for i in kept]})
        .group_by("customer")
        .agg(pl.col("total").sum().alias("total_sum"), pl.len().alias("n"))
        .sort("customer")
    )
    got = pipeline.collect(p)
    assert_frame_equal(
        got.with_columns(pl.col("total_sum").cast(pl.Float64)), expected, check_column_order=True
    )
    monkeypatch.setenv("TUSK_PASSWORD", PG_PASSWORD)
    assert_frame_equal(run_code(p), got)


# --- OSM ------------------------------------------------------------------------------------

HAS_OSM = importlib.util.find_spec("tusk.etl.osm") is not None


@pytest.mark.skipif(not HAS_OSM, reason="tusk/etl/osm.py (the OSM reader) is not there yet")
def test_osm_layers_as_sources(data: Data) -> None:
    import osmium
    from osmium.osm.mutable import Node, Relation, Way

    path = data.path / "tiny.osm.pbf"
    with osmium.SimpleWriter(str(path)) as writer:
        writer.add_node(Node(id=1, location=(10.0, 59.0), tags={"name": "A", "amenity": "cafe"}))
        writer.add_node(Node(id=2, location=(10.1, 59.0), tags={}))
        writer.add_node(Node(id=3, location=(10.1, 59.1), tags={"name": "C"}))
        writer.add_way(Way(id=10, nodes=[1, 2, 3, 1], tags={"building": "yes", "name": "Hall"}))
        writer.add_relation(
            Relation(id=100, members=[("w", 10, "outer")], tags={"type": "site", "name": "R"})
        )
    nodes = Pipeline(
        source=OsmSource(root=data.root, relative="tiny.osm.pbf", layer="nodes"),
        steps=[
            Filter(conditions=[Condition(column="name", op="is_not_null")]),
            Select(columns=["id", "lat", "lon", "name"]),
        ],
    )
    check(
        nodes,
        pl.DataFrame({"id": [1, 3], "lat": [59.0, 59.1], "lon": [10.0, 10.1], "name": ["A", "C"]}),
    )
    ways = pipeline.collect(
        Pipeline(source=OsmSource(root=data.root, relative="tiny.osm.pbf", layer="ways"))
    )
    assert ways["id"].to_list() == [10]
    assert ways["geometry_wkt"][0].startswith("POLYGON")
    relations = Pipeline(
        source=OsmSource(root=data.root, relative="tiny.osm.pbf", layer="relations"),
        steps=[Select(columns=["id", "name", "type"])],
    )
    check(relations, pl.DataFrame({"id": [100], "name": ["R"], "type": ["site"]}))
