"""Geometry detection on Arrow tables, DuckDB (spatial), SQLite and CSV data."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import shapely

from tusk.engines.registry import connect
from tusk.engines.spec import ConnectionSpec
from tusk.geo import GeoColumn, detect, encoding, geometries, to_4326
from tusk.geo.detect import name_tokens

POINT_HEX = shapely.to_wkb(shapely.Point(2.35, 48.85), hex=True)
EWKB_3857 = "0101000020110F0000BA344A6D06EF0F417ABB2DF0F9D65741"  # PostGIS: Paris in 3857


def by_name(found: list[GeoColumn]) -> dict[str, GeoColumn]:
    return {g.name: g for g in found}


# --- Arrow tables ------------------------------------------------------------------------------


def test_wkt_with_invalid_and_null_values_is_counted_not_fatal() -> None:
    t = pa.table(
        {
            "id": [1, 2, 3, 4, 5],
            "shape": ["POINT (1 2)", "LINESTRING (0 0, 1 1)", "not a shape", None, "POLYGON ((0 0"],
        }
    )
    [geo] = detect(t)
    assert (geo.name, geo.kind, geo.srid) == ("shape", "wkt", None)
    assert (geo.parsed, geo.invalid, geo.nulls) == (2, 2, 1)
    geoms, mask = geometries(t, geo)
    assert mask.tolist() == [True, True, False, False, False]
    assert geoms[0].equals(shapely.Point(1, 2))
    assert geoms[2] is None and geoms[3] is None


def test_ewkt_srid_prefix_is_read_and_mixed_srids_are_skipped() -> None:
    t = pa.table(
        {
            "g": [
                "SRID=3857;POINT(261600.8 6249447.7)",
                "srid=3857; POINT(0 0)",
                "POINT(1 1)",  # no SRID: taken to be in the column's SRID
                "SRID=4326;POINT(2 2)",  # another SRID: skipped, counted invalid
            ]
        }
    )
    [geo] = detect(t)
    assert (geo.kind, geo.srid, geo.parsed, geo.invalid) == ("ewkt", 3857, 3, 1)
    geoms, mask = geometries(t, geo)
    assert mask.tolist() == [True, True, True, False]
    assert geoms[0].equals(shapely.Point(261600.8, 6249447.7))


def test_hex_and_binary_wkb_with_ewkb_srid() -> None:
    binary = [shapely.to_wkb(shapely.LineString([(0, 0), (1, 1)])), b"\x00garbage", None]
    t = pa.table(
        {
            "hex": pa.array([POINT_HEX, "ABCDEF", None], pa.string()),
            "bin": pa.array(binary, pa.binary()),
            "ewkb": pa.array([EWKB_3857, EWKB_3857, EWKB_3857], pa.string()),
        }
    )
    found = by_name(detect(t, min_share=0.3))
    assert found["hex"].kind == "wkb" and found["hex"].srid is None
    assert (found["hex"].parsed, found["hex"].invalid, found["hex"].nulls) == (1, 1, 1)
    assert found["bin"].kind == "wkb"
    assert (found["bin"].parsed, found["bin"].invalid, found["bin"].nulls) == (1, 1, 1)
    assert found["ewkb"].kind == "wkb" and found["ewkb"].srid == 3857
    assert found["ewkb"].parsed == 3


def test_geojson_text_and_struct_objects() -> None:
    t = pa.table(
        {
            "text": [
                '{"type":"Point","coordinates":[1,2]}',
                '{"type":"Feature","geometry":{"type":"LineString","coordinates":[[0,0],[1,1]]},'
                '"properties":{"a":1}}',
                '{"type":"Nope"}',
                None,
            ],
            "obj": pa.array(
                [
                    {"type": "Point", "coordinates": [3.0, 4.0]},
                    {"type": "Point", "coordinates": [5.0, 6.0]},
                    None,
                    {"type": "Point", "coordinates": [7.0, 8.0]},
                ]
            ),
        }
    )
    found = by_name(detect(t))
    assert found["text"].kind == "geojson"
    assert (found["text"].parsed, found["text"].invalid, found["text"].nulls) == (2, 1, 1)
    assert found["obj"].kind == "geojson" and found["obj"].parsed == 3
    geoms, _ = geometries(t, found["obj"])
    assert geoms[3].equals(shapely.Point(7, 8))
    geoms, _ = geometries(t, found["text"])
    assert geoms[1].equals(shapely.LineString([(0, 0), (1, 1)]))


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        ("lat", "lon"),
        ("latitude", "longitude"),
        ("pickup_lat", "pickup_lng"),
        ("startLat", "startLong"),
        ("Y", "X"),
    ],
)
def test_lat_lon_pairs_by_name_and_range(lat: str, lon: str) -> None:
    t = pa.table(
        {
            "id": [1, 2, 3, 4, 5],
            lat: [48.85, 51.5, 95.0, None, 40.7],  # 95 is out of range: invalid
            lon: [2.35, -0.12, 10.0, 3.0, -74.0],
        }
    )
    [geo] = detect(t)
    assert (geo.kind, geo.lat, geo.lon, geo.name) == ("latlon", lat, lon, f"{lat}/{lon}")
    assert (geo.parsed, geo.invalid, geo.nulls, geo.srid) == (3, 1, 1, 4326)
    assert geo.columns == (lat, lon)
    geoms, mask = geometries(t, geo)
    assert mask.tolist() == [True, True, False, False, True]
    assert geoms[1].equals(shapely.Point(-0.12, 51.5))


def test_lat_lon_pairs_need_both_names_and_values_in_range() -> None:
    chart = pa.table({"x": [10.0, 500.0, 900.0], "y": [300.0, 120.0, 700.0]})  # pixels
    assert detect(chart) == []
    lonely = pa.table({"latitude": [48.0, 49.0], "height": [2.0, 3.0]})
    assert detect(lonely) == []
    words = pa.table({"latency": [1.0, 2.0], "long_name": ["a", "b"]})
    assert detect(words) == []


def test_lat_lon_as_text_numbers_with_junk() -> None:
    t = pa.table({"lat": ["48.85", " 51.5 ", "n/a", ""], "lon": ["2.35", "-0.12", "1", "2"]})
    [geo] = detect(t)
    assert (geo.kind, geo.parsed, geo.invalid, geo.nulls) == ("latlon", 2, 2, 0)


def test_a_lat_column_pairs_once_with_its_best_partner() -> None:
    t = pa.table({"lat": [1.0, 2.0], "lon": [3.0, 4.0], "lng": [None, 5.0]})
    [geo] = detect(t)
    assert (geo.lat, geo.lon) == ("lat", "lon")


def test_plain_tables_have_no_geometry() -> None:
    t = pa.table(
        {
            "id": [1, 2, 3],
            "name": ["Point of sale", "POLYGON shop", "{not json"],
            "code": ["01", "00", "0A"],
            "blob": pa.array([b"\x01\x02", b"", None]),
            "flag": [True, False, None],
        }
    )
    assert detect(t) == []
    assert detect(pa.table({"g": pa.array([None, None], pa.string())})) == []


def test_dictionary_encoded_and_chunked_columns() -> None:
    wkt = pa.array(["POINT (1 1)", "POINT (2 2)", "POINT (1 1)"]).dictionary_encode()
    chunked = pa.chunked_array([["POINT (0 0)"], ["LINESTRING (0 0, 1 1)", None]])
    t = pa.table({"d": pa.chunked_array([wkt.slice(0, 2), wkt.slice(2)]), "c": chunked})
    found = by_name(detect(t))
    assert found["d"].kind == "wkt" and found["d"].parsed == 3
    assert found["c"].parsed == 2 and found["c"].nulls == 1
    geoms, _ = geometries(t, found["c"])
    assert geoms[1].equals(shapely.LineString([(0, 0), (1, 1)]))


def test_hints_from_engines() -> None:
    t = pa.table({"g": pa.array([EWKB_3857, None], pa.string()), "h": ["x", "y"]})
    [geo] = detect(t, hints={"g": "geometry"})
    assert (geo.kind, geo.srid, geo.parsed, geo.nulls) == ("postgis", 3857, 1, 1)
    # A typmod names the SRID when the values do not carry it (plain WKB).
    plain = pa.table({"g": pa.array([shapely.to_wkb(shapely.Point(1, 2))], pa.binary())})
    [geo] = detect(plain, hints={"g": "geometry(Point,3857)"})
    assert (geo.kind, geo.srid) == ("postgis", 3857)
    [geo] = detect(plain, hints={"g": "geography"})
    assert (geo.kind, geo.srid) == ("postgis", 4326)
    [geo] = detect(plain, hints={"g": "GEOMETRY('EPSG:3857')"})
    assert (geo.kind, geo.srid) == ("duckdb_geometry", 3857)
    # A hinted column is reported even when nothing parses; an unknown hint changes nothing.
    geo = by_name(detect(t, hints={"h": "wkb"}))["h"]
    assert (geo.kind, geo.parsed, geo.invalid) == ("wkb", 0, 2)
    assert detect(pa.table({"h": ["x"]}), hints={"h": "text"}) == []


def test_summary_and_name_tokens() -> None:
    geo = GeoColumn("geom", "wkb", parsed=1200, invalid=3, nulls=2, srid=3857)
    assert geo.summary == "geom — WKB, SRID 3857: 1,200 parsed (3 invalid, 2 NULL)"
    assert name_tokens("pickupLatitude") == ["pickup", "latitude"]
    assert name_tokens("START_LNG_2") == ["start", "lng", "2"]


def test_counts_add_up_on_a_large_mixed_column() -> None:
    rng = np.random.default_rng(3)
    n = 20_000
    values = shapely.to_wkt(shapely.points(rng.uniform(-10, 10, n), rng.uniform(-10, 10, n)))
    values = values.astype(object)
    values[::7] = None
    values[::11] = "garbage"
    t = pa.table({"g": pa.array(values.tolist(), pa.string())})
    [geo] = detect(t)
    nulls = sum(1 for i in range(n) if i % 7 == 0 and i % 11 != 0)
    invalid = sum(1 for i in range(n) if i % 11 == 0)
    assert (geo.nulls, geo.invalid, geo.parsed) == (nulls, invalid, n - nulls - invalid)


# --- DuckDB (spatial), SQLite, CSV -------------------------------------------------------------


@pytest.fixture
def duck(tmp_path: Path):
    c = connect(ConnectionSpec("d", "duckdb", path=str(tmp_path / "geo.duckdb")))
    yield c
    c.close()


def test_duckdb_spatial_geometry_and_its_text_forms(duck) -> None:
    duck.execute(
        """
        create table places as select * from (values
            (1, 'POINT (2.35 48.85)'),
            (2, 'LINESTRING (0 0, 1 1, 2 0)'),
            (3, 'POLYGON ((0 0, 4 0, 4 4, 0 4, 0 0), (1 1, 2 1, 2 2, 1 1))'),
            (4, 'MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), ((5 5, 6 5, 6 6, 5 5)))'),
            (5, NULL)
        ) t(id, wkt);
        """
    )
    result = duck.execute(
        "select id, ST_GeomFromText(wkt) as geom, ST_AsWKB(ST_GeomFromText(wkt)) as wkb, "
        "ST_AsText(ST_GeomFromText(wkt)) as wkt, ST_AsGeoJSON(ST_GeomFromText(wkt)) as gj, "
        "ST_Transform(ST_GeomFromText(wkt), 'EPSG:4326', 'EPSG:3857', always_xy := true)"
        "::GEOMETRY('EPSG:3857') as merc from places order by id"
    )
    found = by_name(detect(result.table))
    assert found["geom"].kind == "duckdb_geometry" and found["geom"].srid is None
    assert found["wkb"].kind == "wkb"
    assert found["wkt"].kind == "wkt"
    assert found["gj"].kind == "geojson"
    assert found["merc"].kind == "duckdb_geometry" and found["merc"].srid == 3857
    for name in ("geom", "wkb", "wkt", "gj", "merc"):
        assert (found[name].parsed, found[name].nulls, found[name].invalid) == (4, 1, 0), name
    originals = shapely.from_wkt(
        np.array(duck.execute("select wkt from places order by id").table["wkt"].to_pylist())
    )
    for name in ("geom", "wkb", "wkt", "gj"):
        geoms, mask = geometries(result.table, found[name])
        assert mask.tolist() == [True, True, True, True, False]
        assert all(a.equals(b) for a, b in zip(geoms[:4], originals[:4], strict=True)), name
    # DuckDB's own 4326 → 3857 (PROJ), back through Tusk's spherical Mercator inverse.
    geoms, _ = geometries(result.table, found["merc"])
    back = to_4326(geoms, found["merc"].srid)
    for a, b in zip(back[:4], originals[:4], strict=True):
        assert shapely.equals_exact(a, b, tolerance=1e-9), (a, b)


def test_duckdb_reads_a_csv_with_wkt_and_lat_lon(duck, tmp_path: Path) -> None:
    csv = tmp_path / "stops.csv"
    csv.write_text(
        "name,lat,lon,where\n"
        "a,48.85,2.35,POINT (2.35 48.85)\n"
        "b,51.5,-0.12,POINT (-0.12 51.5)\n"
        "c,,,\n"
        "d,123,4,POINT (oops)\n"
    )
    result = duck.execute(f"select * from read_csv('{csv}')")
    found = by_name(detect(result.table))
    assert set(found) == {"lat/lon", "where"}
    assert (found["lat/lon"].parsed, found["lat/lon"].invalid, found["lat/lon"].nulls) == (2, 1, 1)
    assert (found["where"].parsed, found["where"].invalid, found["where"].nulls) == (2, 1, 1)


def test_sqlite_text_blob_and_real_columns(tmp_path: Path) -> None:
    conn = connect(ConnectionSpec("s", "sqlite", path=str(tmp_path / "geo.sqlite")))
    try:
        conn.execute("create table t (id integer, wkt text, wkb blob, gj text, lat real, lng real)")
        rows = [
            (1, "POINT (1 2)", shapely.to_wkb(shapely.Point(1, 2)), '{"type":"Point","coordinates":[1,2]}', 2.0, 1.0),
            (2, "bad", b"\x01bad", "[]", 91.0, 1.0),
            (3, None, None, None, None, None),
            (4, "LINESTRING (0 0, 3 4)", shapely.to_wkb(shapely.LineString([(0, 0), (3, 4)])), json.dumps({"type": "LineString", "coordinates": [[0, 0], [3, 4]]}), 4.0, 3.0),
        ]  # fmt: skip
        for row in rows:
            conn.execute("insert into t values (?, ?, ?, ?, ?, ?)", row)
        table = conn.execute("select * from t order by id").table
    finally:
        conn.close()
    found = by_name(detect(table))
    assert {n: g.kind for n, g in found.items()} == {
        "wkt": "wkt",
        "wkb": "wkb",
        "gj": "geojson",
        "lat/lng": "latlon",
    }
    for g in found.values():
        assert (g.parsed, g.invalid, g.nulls) == (2, 1, 1), g
    line = shapely.LineString([(0, 0), (3, 4)])
    for g in found.values():
        geoms, _ = geometries(table, g)
        assert geoms[3].equals(line if g.kind != "latlon" else shapely.Point(3, 4)), g


def test_numeric_decimal_lat_lon(tmp_path: Path) -> None:
    t = pa.table(
        {
            "lat": pa.array([Decimal("48.850000"), None], pa.decimal128(9, 6)),
            "lon": pa.array([Decimal("2.350000"), Decimal("1")], pa.decimal128(9, 6)),
        }
    )
    [geo] = detect(t)
    assert (geo.parsed, geo.nulls) == (1, 1)
    geoms, _ = geometries(t, geo)
    assert geoms[0].equals(shapely.Point(2.35, 48.85))


# --- the parse memo ------------------------------------------------------------------------------


def test_detect_then_geometries_parses_the_column_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = encoding.parse_wkb

    def counting(col):  # noqa: ANN001, ANN202 - a thin spy
        calls.append(len(col))
        return real(col)

    monkeypatch.setattr(encoding, "parse_wkb", counting)
    encoding.clear_cache()
    wkb = shapely.to_wkb(shapely.points(np.arange(5000.0), np.zeros(5000)))
    t = pa.table({"g": pa.array(list(wkb), pa.binary())})
    [geo] = detect(t)
    geometries(t, geo)
    geometries(t, geo)
    assert calls == [1000, 5000]  # the sample to sniff, then the whole column once
    # Same shape, different data: a new parse, never the memoised one.
    other = pa.table({"g": pa.array(list(wkb[::-1]), pa.binary())})
    geoms, _ = geometries(other, geo)
    assert calls == [1000, 5000, 5000]
    assert geoms[0].equals(shapely.Point(4999, 0))


def test_the_memo_is_capped_by_rows() -> None:
    memo = encoding._Memo(4, max_rows=10)
    a, b, c = pa.array(range(6)), pa.array(range(4)), pa.array(range(11))
    memo.put("a", "A", a)
    memo.put("b", "B", b)
    assert (memo.get("a"), memo.get("b")) == ("A", "B")
    memo.put("c", "C", c)  # bigger than the cap: not kept, nothing evicted
    assert (memo.get("a"), memo.get("b"), memo.get("c")) == ("A", "B", None)
    memo.put("d", "D", pa.array(range(3)))  # 6 + 4 + 3 > 10: the oldest goes
    assert (memo.get("a"), memo.get("b"), memo.get("d")) == (None, "B", "D")
