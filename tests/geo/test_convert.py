"""Conversion: shapely arrays, EPSG:3857 → 4326, PostGIS SQL wrapping, GeoJSON export."""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import shapely

from tests.conftest import HOSTILE
from tusk.engines.registry import connect
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput
from tusk.geo import detect, geometries, postgis_sql, to_4326, to_geojson, write_geojson
from tusk.geo.convert import lonlat_to_mercator
from tusk.geo.detect import GeoColumn

# PostGIS 3.3's ST_Transform(ST_SetSRID(ST_MakePoint(2.35, 48.85), 4326), 3857), as EWKB.
PARIS_3857_EWKB = "0101000020110F0000BA344A6D06EF0F417ABB2DF0F9D65741"
HALF_WORLD_M = 20037508.342789244  # π · 6378137


# --- to_4326 -----------------------------------------------------------------------------------


def test_web_mercator_inverse_matches_known_values() -> None:
    paris = shapely.from_wkb(np.array([PARIS_3857_EWKB], dtype=object))
    [back] = to_4326(paris, 3857)
    assert back.x == pytest.approx(2.35, abs=1e-9)
    assert back.y == pytest.approx(48.85, abs=1e-9)
    corners = shapely.points([0.0, HALF_WORLD_M, -HALF_WORLD_M], [0.0, HALF_WORLD_M, 0.0])
    out = shapely.get_coordinates(to_4326(corners, 3857))
    assert out[0] == pytest.approx([0.0, 0.0], abs=1e-12)
    # The square Mercator world ends at ±180° and ±85.0511287798°.
    assert out[1] == pytest.approx([180.0, 85.0511287798066], abs=1e-9)
    assert out[2] == pytest.approx([-180.0, 0.0], abs=1e-12)


def test_mercator_round_trip_keeps_z_shape_and_nulls() -> None:
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(-179, 179, 1000), rng.uniform(-84, 84, 1000)
    x, y = lonlat_to_mercator(lon, lat)
    geoms = np.array(
        [
            shapely.Point(x[0], y[0], 12.5),
            shapely.LineString(np.column_stack([x[1:4], y[1:4]])),
            shapely.Polygon(np.column_stack([x[4:8], y[4:8]])),
            None,
        ],
        dtype=object,
    )
    out = to_4326(geoms, 3857)
    assert shapely.get_type_id(out[:3]).tolist() == [0, 1, 3]
    assert out[3] is None
    assert shapely.get_coordinates(out[0], include_z=True)[0] == pytest.approx(
        [lon[0], lat[0], 12.5], abs=1e-9
    )
    assert shapely.get_coordinates(out[1]) == pytest.approx(np.column_stack([lon, lat])[1:4])
    points = to_4326(shapely.points(x, y), 3857)
    assert shapely.get_coordinates(points) == pytest.approx(np.column_stack([lon, lat]), abs=1e-9)


def test_other_srids_are_refused_with_the_server_side_remedy() -> None:
    geoms = shapely.points([1.0], [2.0])
    assert to_4326(geoms, None) is geoms
    assert to_4326(geoms, 4326) is geoms
    with pytest.raises(BadInput) as err:
        to_4326(geoms, 2154)
    assert "2154" in err.value.message and "ST_Transform" in err.value.message
    assert "always_xy" in err.value.message  # DuckDB's ST_Transform is lat/lon order otherwise
    assert "4326" in err.value.message and "3857" in err.value.message


# --- postgis_sql ---------------------------------------------------------------------------------


def test_postgis_sql_replaces_geometry_columns_in_place() -> None:
    sql = postgis_sql(
        "select id, geom, name from parcels -- mine", ["geom"], columns=["id", "geom", "name"]
    )
    assert sql == (
        'SELECT "tusk_geo"."id", ST_AsBinary(CASE WHEN ST_SRID("tusk_geo"."geom"::geometry) = 0 '
        'THEN "tusk_geo"."geom"::geometry ELSE ST_Transform("tusk_geo"."geom"::geometry, 4326) '
        'END) AS "geom", "tusk_geo"."name" FROM (\nselect id, geom, name from parcels -- mine\n'
        ') AS "tusk_geo"'
    )  # fmt: skip


def test_postgis_sql_quotes_names_and_checks_its_input() -> None:
    sql = postgis_sql("select 1;", [HOSTILE], columns=[HOSTILE])
    assert '"x""; DROP TABLE t; --"' in sql
    appended = postgis_sql("select * from t", ["geom"])
    assert appended.startswith('SELECT "tusk_geo".*, ST_AsBinary(')
    assert appended.count('AS "geom_4326"') == 1
    with pytest.raises(BadInput):
        postgis_sql("select 1; select 2", ["g"])
    with pytest.raises(BadInput):
        postgis_sql("select 1", [])
    with pytest.raises(BadInput):
        postgis_sql("select 1", ["g"], columns=["id"])


# --- geometries --------------------------------------------------------------------------------


def test_geometries_never_changes_the_shared_parse() -> None:
    t = pa.table({"g": ["SRID=3857;POINT (0 0)", "SRID=4326;POINT (1 1)"]})
    [geo] = detect(t)
    geoms, mask = geometries(t, geo)
    assert mask.tolist() == [True, False] and geoms[1] is None
    # The row in another SRID is hidden from this column, not erased from the memoised parse.
    other = GeoColumn("g", "ewkt", srid=4326)
    geoms, mask = geometries(t, other)
    assert mask.tolist() == [False, True]


def test_geometries_needs_the_column() -> None:
    with pytest.raises(BadInput):
        geometries(pa.table({"a": [1]}), GeoColumn("geom", "wkb"))


# --- GeoJSON -------------------------------------------------------------------------------------


def sample_table() -> pa.Table:
    return pa.table(
        {
            "id": pa.array([1, 2, 3, 4], pa.int64()),
            "name": ["Zürich 🐘", None, "c", "d"],
            "price": pa.array([Decimal("12.34"), Decimal("0.10"), None, Decimal("7")], pa.decimal128(10, 2)),
            "big": pa.array([Decimal("12345678901234567.89")] * 4, pa.decimal128(38, 2)),
            "ratio": [0.5, float("nan"), float("inf"), 1.0],
            "day": [dt.date(2024, 1, 2)] * 4,
            "at": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)] * 4, pa.timestamp("us", "UTC")),
            "raw": pa.array([b"\x00\x01", None, b"", b"x"]),
            "tags": pa.array([["a", "b"], [], None, ["c"]]),
            "meta": pa.array([{"k": 1.5, "when": dt.date(2020, 1, 1)}] * 4),
            "geom": [
                "POINT (2.35 48.85)",
                "MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), ((5 5, 6 5, 6 6, 5 5)))",
                None,
                "LINESTRING (0 0, 1 1)",
            ],
        }
    )  # fmt: skip


def test_to_geojson_round_trips_geometries_and_json_safe_properties() -> None:
    t = sample_table()
    geo = next(g for g in detect(t) if g.name == "geom")
    fc = to_geojson(t, geo)
    text = json.dumps(fc, allow_nan=False)  # strict JSON: no NaN, no bytes, no Decimal
    back = json.loads(text)
    assert back["type"] == "FeatureCollection"
    assert [f["properties"]["id"] for f in back["features"]] == [1, 2, 4]
    shapes = shapely.from_geojson(np.array([json.dumps(f["geometry"]) for f in back["features"]]))
    expected = shapely.from_wkt(np.array([t["geom"][i].as_py() for i in (0, 1, 3)]))
    assert all(a.equals(b) for a, b in zip(shapes, expected, strict=True))
    first, second = back["features"][0]["properties"], back["features"][1]["properties"]
    assert "geom" not in first
    assert first == {
        "id": 1,
        "name": "Zürich 🐘",
        "price": 12.34,
        "big": "12345678901234567.89",
        "ratio": 0.5,
        "day": "2024-01-02",
        "at": "2024-01-02T03:04:05.000000+00:00",  # Arrow's digits for microseconds
        "raw": "AAE=",
        "tags": ["a", "b"],
        "meta": {"k": 1.5, "when": "2020-01-01"},
    }
    assert second["ratio"] is None and second["name"] is None and second["raw"] is None


def test_to_geojson_options_and_lat_lon_properties() -> None:
    t = sample_table()
    geo = next(g for g in detect(t) if g.name == "geom")
    fc = to_geojson(t, geo, properties=False, include_null=True)
    assert [f["geometry"] is None for f in fc["features"]] == [False, False, True, False]
    assert all(f["properties"] == {} for f in fc["features"])
    pts = pa.table({"lat": [48.85, None], "lon": [2.35, 1.0], "n": [1, 2]})
    [geo] = detect(pts)
    fc = to_geojson(pts, geo)
    assert fc["features"] == [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [2.35, 48.85]},
            "properties": {"lat": 48.85, "lon": 2.35, "n": 1},
        }
    ]


def test_empty_geometries_are_written_as_null() -> None:
    t = pa.table({"g": ["POLYGON EMPTY", "POINT (1 2)"], "n": [1, 2]})
    [geo] = detect(t)
    fc = to_geojson(t, geo)
    assert [f["geometry"] for f in fc["features"]] == [
        None,
        {"type": "Point", "coordinates": [1.0, 2.0]},
    ]


def test_to_geojson_converts_web_mercator() -> None:
    t = pa.table({"g": pa.array([PARIS_3857_EWKB], pa.string()), "n": ["paris"]})
    [geo] = detect(t)
    [feature] = to_geojson(t, geo)["features"]
    assert feature["geometry"]["coordinates"] == pytest.approx([2.35, 48.85], abs=1e-9)


def test_write_geojson_streams_batches_into_one_valid_collection() -> None:
    t = sample_table()
    geo = next(g for g in detect(t) if g.name == "geom")
    batches = pa.Table.from_batches(t.to_batches(max_chunksize=1)).to_batches()
    assert len(batches) == 4
    out = io.BytesIO()
    seen: list[int] = []
    summary = write_geojson(iter(batches), geo, out, progress=seen.append)
    assert (summary.features, summary.skipped) == (3, 1)
    assert summary.bytes_written == len(out.getvalue())
    assert seen == [1, 2, 3, 4]
    streamed = json.loads(out.getvalue())
    assert streamed == json.loads(json.dumps(to_geojson(t, geo)))


def test_write_geojson_of_nothing_and_of_a_refused_srid() -> None:
    geo = GeoColumn("g", "wkt")
    out = io.BytesIO()
    summary = write_geojson(pa.table({"g": pa.array([], pa.string())}), geo, out)
    assert json.loads(out.getvalue()) == {"type": "FeatureCollection", "features": []}
    assert summary.features == 0
    out = io.BytesIO()
    with pytest.raises(BadInput):
        write_geojson(pa.table({"g": ["POINT (1 1)"]}), GeoColumn("g", "wkt", srid=2154), out)
    assert out.getvalue() == b""  # nothing written before the first batch converted


def test_write_geojson_from_a_duckdb_stream(tmp_path: Path) -> None:
    conn = connect(ConnectionSpec("d", "duckdb", path=str(tmp_path / "g.duckdb")))
    try:
        sql = (
            "select i as id, ST_Point(i % 360 - 180, (i % 170) - 85) as geom "
            "from range(250000) t(i)"
        )
        first = conn.execute(sql, limit=1000)
        [geo] = detect(first.table)
        target = tmp_path / "all.geojson"
        with target.open("wb") as fh:
            summary = write_geojson(conn.stream_arrow(sql), geo, fh)
    finally:
        conn.close()
    assert (summary.features, summary.skipped) == (250_000, 0)
    data = json.loads(target.read_text())
    assert len(data["features"]) == 250_000
    last = data["features"][-1]
    i = 249_999
    assert last["properties"] == {"id": i}
    assert last["geometry"]["coordinates"] == [i % 360 - 180, i % 170 - 85]
    assert not any(math.isnan(c) for c in last["geometry"]["coordinates"])
