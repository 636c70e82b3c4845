"""The Geo page and the Studio's Map tab with AppTest: the deck JSON that reaches the browser."""

from __future__ import annotations

import json
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import pg_spec, server_connection
from tests.ui.conftest import GEO, STUDIO, open_page, result_view, settle
from tusk import connections, files
from tusk.ui.studio import tabs as qtabs


def _decks(at: AppTest) -> list[dict[str, Any]]:
    """The deck.gl JSON of every map on the page."""
    return [json.loads(e.proto.json) for e in at.get("deck_gl_json_chart")]


def _layers(deck: dict[str, Any]) -> dict[str, int]:
    """Layer type → number of objects it draws."""
    return {layer["@@type"]: len(layer.get("data") or []) for layer in deck["layers"]}


def test_demo_cities_on_the_map_with_no_basemap() -> None:
    """The demo query maps every city as a point; no tile server is referenced."""
    at = open_page(GEO)
    at.button(key="geo_run").click().run()
    assert not at.exception and not at.error
    (deck,) = _decks(at)
    conn = connections.open_for(connections.ensure_demo())  # the page's worker holds it
    try:
        cities = conn.execute("select count(*) from cities").table.column(0)[0].as_py()
    finally:
        conn.close()
    assert _layers(deck) == {"ScatterplotLayer": cities}
    text = json.dumps(deck)
    assert "http" not in text.replace("http://www.w3.org", "")  # nothing fetched offline


def test_geojson_file_with_points_and_polygons() -> None:
    """A GeoJSON file in a data root: a point layer and a polygon layer, view fitted."""
    root = files.roots()[0].name
    files.resolve(root).mkdir(parents=True, exist_ok=True)
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "Tower", "height": 324},
                "geometry": {"type": "Point", "coordinates": [2.2945, 48.8584]},
            },
            {
                "type": "Feature",
                "properties": {"name": "Park", "height": None},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[2.29, 48.85], [2.30, 48.85], [2.30, 48.86], [2.29, 48.85]]],
                },
            },
        ],
    }
    files.resolve(root, "paris.geojson").write_text(json.dumps(doc), encoding="utf-8")
    at = open_page(GEO)
    at.selectbox(key="geo_root").set_value(root).run()
    at.selectbox(key="geo_file").set_value("paris.geojson").run()
    at.button(key="geo_open").click().run()
    assert not at.exception and not at.error
    (deck,) = _decks(at)
    layers = _layers(deck)
    assert layers.get("ScatterplotLayer") == 1 and layers.get("PolygonLayer") == 1
    view = deck["initialViewState"]
    assert 48.8 < view["latitude"] < 48.9 and 2.2 < view["longitude"] < 2.4


def test_studio_map_tab_draws_on_demand() -> None:
    """A Studio result with lat/lon: the Map tab offers the map and draws it when asked."""
    at = open_page(STUDIO)
    active = at.session_state[qtabs.ACTIVE_KEY]
    tab = next(t for t in at.session_state["studio_tabs"] if t.id == active)
    tab.sql = "select name, lat, lon from cities"
    tab.editor_version += 1
    settle(at.button(key="studio_run").click().run())
    if tab.run is not None:
        tab.run.wait(30)
        at.run()
    assert not _decks(at)  # nothing sent until asked
    result_view(at, "Map")
    assert not _decks(at)  # the Map view is open; the map itself is drawn on request
    at.toggle(key=f"map_{tab.id}_0_show").set_value(True).run()
    assert not at.exception
    (deck,) = _decks(at)
    assert "ScatterplotLayer" in _layers(deck)


def test_no_geometry_says_so() -> None:
    """A result without places gets a plain message, not an empty map."""
    at = open_page(GEO)
    at.text_area(key="geo_sql_demo").set_value("select 1 as a, 'x' as b").run()
    at.button(key="geo_run").click().run()
    assert not at.exception
    assert not _decks(at)
    assert any("No geometry found" in c.value for c in at.caption)


def _postgis_map(db: str, create: str, insert: str, query: str) -> AppTest:
    """A PostGIS table made by `create` and `insert`, then `query` run on the Geo page."""
    with server_connection(db) as c:
        c.execute("create extension if not exists postgis")
        c.execute(create)
        c.execute(insert)
    connections.add(pg_spec(db, name="gis"))
    at = open_page(GEO)
    at.selectbox(key="geo_conn").set_value("gis").run()
    at.text_area(key="geo_sql_gis").set_value(query).run()
    at.button(key="geo_run").click().run()
    return at


@pytest.mark.postgres
def test_postgis_3857_points_are_converted(db: str) -> None:
    """PostGIS points stored in web mercator come out at their longitude/latitude."""
    at = _postgis_map(
        db,
        "create table spots (name text, geom geometry(Point, 3857))",
        "insert into spots values ('zurich', "
        "ST_Transform(ST_SetSRID(ST_MakePoint(8.5417, 47.3769), 4326), 3857))",
        "select name, geom from spots",
    )
    assert not at.exception and not at.error
    (deck,) = _decks(at)
    view = deck["initialViewState"]
    assert abs(view["latitude"] - 47.3769) < 0.01 and abs(view["longitude"] - 8.5417) < 0.01


@pytest.mark.postgres
def test_postgis_full_export_is_streamed_in_4326(db: str) -> None:
    """The full-result GeoJSON export of a PostGIS query (streamed through the engine, not the
    first page) has every feature, at its longitude/latitude."""
    at = _postgis_map(
        db,
        "create table spots (id int, geom geometry(Point, 3857))",
        "insert into spots select g, ST_Transform(ST_SetSRID(ST_MakePoint(8 + g / 1000.0,"
        " 47), 4326), 3857) from generate_series(1, 1500) g",
        "select id, geom from spots order by id",
    )
    at.button(key="geo_map_geojson_full").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    data, count = at.session_state["geo_map_geojson_file"]
    doc = json.loads(data)
    assert count == 1500 and len(doc["features"]) == 1500
    first = doc["features"][0]
    lon, lat = first["geometry"]["coordinates"][:2]
    assert abs(lon - 8.001) < 1e-6 and abs(lat - 47) < 1e-6
    assert first["properties"]["id"] == 1


def test_csv_with_lat_lon_file() -> None:
    """A CSV with lat/lon columns in a data root is read (head only) and mapped as points."""
    root = files.roots()[0].name
    files.resolve(root).mkdir(parents=True, exist_ok=True)
    files.resolve(root, "stops.csv").write_text(
        "name,lat,lon\nA,47.37,8.54\nB,48.85,2.35\nC,,\n", encoding="utf-8"
    )
    at = open_page(GEO)
    at.selectbox(key="geo_root").set_value(root).run()
    at.selectbox(key="geo_file").set_value("stops.csv").run()
    at.button(key="geo_open").click().run()
    assert not at.exception and not at.error
    (deck,) = _decks(at)
    assert _layers(deck) == {"ScatterplotLayer": 2}  # the row without a place is skipped
