"""PostGIS on the local PostgreSQL 15: detection and conversion of real geometry columns."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import shapely

from tests.conftest import HOSTILE, pg_spec
from tusk.engines.registry import connect
from tusk.errors import BadInput
from tusk.geo import build_deck, detect, geometries, postgis_sql, to_4326, write_geojson

pytestmark = pytest.mark.postgres

# The known shapes, in longitude/latitude; the 3857 and 2154 tables are made from these by
# PostGIS itself, so converting back must land on these coordinates.
SHAPES = [
    (1, "POINT (2.35 48.85)"),
    (2, "LINESTRING (2.29 48.86, 2.35 48.85, 2.40 48.87)"),
    (3, "POLYGON ((2.30 48.83, 2.38 48.83, 2.38 48.88, 2.30 48.88, 2.30 48.83), (2.33 48.84, 2.35 48.84, 2.35 48.85, 2.33 48.84))"),
    (4, "MULTIPOLYGON (((-0.2 51.4, 0.1 51.4, 0.1 51.6, -0.2 51.4)), ((-74.1 40.6, -73.8 40.6, -73.8 40.9, -74.1 40.6)))"),
    (5, None),
]  # fmt: skip


@pytest.fixture
def gis(db: str) -> Iterator[Any]:
    """A connection to a fresh database with PostGIS and the shapes in three SRIDs."""
    conn = connect(pg_spec(db))
    conn.execute("create extension postgis")
    conn.execute(
        "create table shapes_4326 (id int primary key, name text, geom geometry(Geometry, 4326))"
    )
    for i, wkt in SHAPES:
        conn.execute(
            "insert into shapes_4326 values (%s, %s, ST_GeomFromText(%s, 4326))",
            (i, f"shape {i}", wkt),
        )
    for srid in (3857, 2154):
        conn.execute(
            f"create table shapes_{srid} as select id, name, "
            f"ST_Transform(geom, {srid})::geometry(Geometry, {srid}) as geom from shapes_4326"
        )
    conn.execute(
        "create table places (id int, g geography(Point, 4326)); "
        "insert into places values (1, 'POINT(2.35 48.85)'), (2, NULL)"
    )
    yield conn
    conn.close()


def expected() -> np.ndarray:
    return shapely.from_wkt(np.array([w for _, w in SHAPES], dtype=object))


def assert_same_shapes(geoms: np.ndarray, tolerance: float = 1e-9) -> None:
    want = expected()
    assert geoms[4] is None
    for got, exp in zip(geoms[:4], want[:4], strict=True):
        assert shapely.get_type_id(got) == shapely.get_type_id(exp)
        assert shapely.get_num_coordinates(got) == shapely.get_num_coordinates(exp)
        assert shapely.equals_exact(got, exp, tolerance=tolerance), (got, exp)


@pytest.mark.parametrize("srid", [4326, 3857])
def test_postgis_columns_are_detected_and_converted(gis: Any, srid: int) -> None:
    result = gis.execute(f"select id, name, geom from shapes_{srid} order by id")
    [geo] = detect(result.table)
    # psycopg hands PostGIS geometry over as hex EWKB, SRID included.
    assert (geo.name, geo.kind, geo.srid) == ("geom", "wkb", srid)
    assert (geo.parsed, geo.invalid, geo.nulls) == (4, 0, 1)
    [hinted] = detect(result.table, hints={"geom": "geometry"})
    assert (hinted.kind, hinted.srid, hinted.parsed) == ("postgis", srid, 4)
    geoms, mask = geometries(result.table, geo)
    assert mask.tolist() == [True, True, True, True, False]
    assert_same_shapes(to_4326(geoms, geo.srid), 1e-9)


def test_geography_is_wgs84(gis: Any) -> None:
    result = gis.execute("select * from places order by id")
    [geo] = detect(result.table, hints={"g": "geography"})
    assert (geo.kind, geo.srid, geo.parsed, geo.nulls) == ("postgis", 4326, 1, 1)
    geoms, _ = geometries(result.table, geo)
    assert geoms[0].equals(shapely.Point(2.35, 48.85))


def test_other_srids_are_transformed_by_the_server(gis: Any) -> None:
    sql = "select id, name, geom from shapes_2154 order by id"
    first = gis.execute(sql)
    [geo] = detect(first.table)
    assert geo.srid == 2154
    geoms, _ = geometries(first.table, geo)
    with pytest.raises(BadInput):
        to_4326(geoms, geo.srid)
    wrapped = gis.execute(postgis_sql(sql, [geo.name], columns=first.columns))
    assert wrapped.columns == ["id", "name", "geom"]
    assert wrapped.table["id"].to_pylist() == [1, 2, 3, 4, 5]  # the user's ORDER BY holds
    [geo] = detect(wrapped.table)
    assert (geo.kind, geo.srid, geo.parsed) == ("wkb", None, 4)
    geoms, _ = geometries(wrapped.table, geo)
    # Lambert-93 and back through PROJ: equal to the originals within a micro-degree.
    assert_same_shapes(to_4326(geoms, geo.srid), 1e-6)


def test_postgis_sql_quotes_hostile_names_for_the_server(gis: Any) -> None:
    sql = (
        f'select id, geom as "{HOSTILE.replace(chr(34), chr(34) * 2)}" from shapes_3857 order by id'
    )
    first = gis.execute(sql)
    assert first.columns == ["id", HOSTILE]
    wrapped = gis.execute(postgis_sql(sql, [HOSTILE], columns=first.columns))
    [geo] = detect(wrapped.table)
    assert geo.name == HOSTILE
    geoms, _ = geometries(wrapped.table, geo)
    assert_same_shapes(to_4326(geoms, geo.srid), 1e-9)
    assert gis.execute("select count(*) from shapes_3857").table.column(0)[0].as_py() == 5


def test_full_result_streams_to_geojson(gis: Any) -> None:
    sql = "select id, name, geom from shapes_3857 order by id"
    first = gis.execute(sql, limit=2)
    [geo] = detect(first.table)
    wrapped = postgis_sql(sql, [geo.name], columns=first.columns)
    [plain] = detect(gis.execute(wrapped, limit=2).table)
    out = io.BytesIO()
    summary = write_geojson(gis.stream_arrow(wrapped), plain, out)
    assert (summary.features, summary.skipped) == (4, 1)
    data = json.loads(out.getvalue())
    assert [f["properties"] for f in data["features"]] == [
        {"id": i, "name": f"shape {i}"} for i in (1, 2, 3, 4)
    ]
    shapes = shapely.from_geojson(
        np.array([json.dumps(f["geometry"]) for f in data["features"]], dtype=object)
    )
    assert_same_shapes(np.append(shapes, None), 1e-9)


def test_whole_table_stream_needs_the_typmod_hint_for_its_srid(gis: Any) -> None:
    # The bulk path (DuckDB's postgres scanner) hands geometry over as plain WKB: the SRID is
    # lost, so the column's type (with its typmod) must name it.
    batches = list(gis.stream_arrow("select * from shapes_3857"))
    table = pa.Table.from_batches(batches).sort_by("id")
    [geo] = detect(table, hints={"geom": "geometry(Geometry,3857)"})
    assert (geo.kind, geo.srid, geo.parsed) == ("postgis", 3857, 4)
    geoms, _ = geometries(table, geo)
    assert_same_shapes(to_4326(geoms, geo.srid), 1e-9)


def test_postgis_result_on_a_map(gis: Any) -> None:
    result = gis.execute("select id, name, geom from shapes_3857 order by id")
    [geo] = detect(result.table)
    plan = build_deck(result.table, geo, color_by="name")
    assert plan.layers == ["PolygonLayer", "PathLayer", "ScatterplotLayer"]
    assert (plan.shown, plan.total) == (4, 4)
    spec = json.loads(plan.deck.to_json())
    polygons = spec["layers"][0]["data"]
    assert [d["row"] for d in polygons] == [2, 3, 3]
    assert polygons[0]["polygon"][0][0] == pytest.approx([2.30, 48.83], abs=1e-6)
    assert spec["layers"][2]["data"][0]["position"] == pytest.approx([2.35, 48.85], abs=1e-6)
    assert spec["layers"][2]["data"][0]["tip"] == "id: 1\nname: shape 1"
