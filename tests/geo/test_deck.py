"""The pydeck Deck: layer types, feature counts, view, styling, limits and offline safety."""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pytest
import shapely

from tusk.errors import BadInput
from tusk.geo import EMPTY_STYLE, MapPlan, build_deck, detect, tiles_style
from tusk.geo.convert import lonlat_to_mercator
from tusk.geo.hexbin import hexbin
from tusk.geo.layers import HEX_ACROSS, PALETTE, RAMP

MIXED = [
    "POINT (2.35 48.85)",
    "MULTIPOINT ((2.30 48.86), (2.31 48.87))",
    "LINESTRING (2.25 48.80, 2.40 48.90)",
    "MULTILINESTRING ((2.2 48.7, 2.3 48.7), (2.2 48.6, 2.3 48.6))",
    "POLYGON ((2.30 48.83, 2.38 48.83, 2.38 48.88, 2.30 48.83), (2.33 48.84, 2.35 48.84, 2.35 48.85, 2.33 48.84))",
    "MULTIPOLYGON (((2.20 48.78, 2.24 48.78, 2.24 48.81, 2.20 48.78)), ((2.42 48.87, 2.46 48.87, 2.46 48.90, 2.42 48.87)))",
    "GEOMETRYCOLLECTION (POINT (2.5 48.5), LINESTRING (2.5 48.5, 2.6 48.6))",
    None,
    "garbage",
]  # fmt: skip


def mixed_table() -> pa.Table:
    n = len(MIXED)
    return pa.table(
        {
            "id": list(range(n)),
            "kind": ["a", "b", "c", "a", "b", "c", "a", "b", "c"],
            "score": [float(i) for i in range(n)],
            "geom": MIXED,
        }
    )


def deck_json(plan: MapPlan) -> dict[str, Any]:
    return json.loads(plan.deck.to_json())


def layers_by_type(plan: MapPlan) -> dict[str, dict[str, Any]]:
    return {layer["@@type"]: layer for layer in deck_json(plan)["layers"]}


def test_mixed_geometry_gets_one_layer_per_kind_with_parts_split() -> None:
    t = mixed_table()
    [geo] = detect(t)
    plan = build_deck(t, geo)
    assert plan.layers == ["PolygonLayer", "PathLayer", "ScatterplotLayer"]
    assert (plan.shown, plan.total, plan.sampled, plan.aggregated) == (7, 7, False, False)
    assert plan.notice == "2 of 9 rows have no valid geometry and are not drawn."
    layers = layers_by_type(plan)
    polygons = layers["PolygonLayer"]["data"]
    paths = layers["PathLayer"]["data"]
    points = layers["ScatterplotLayer"]["data"]
    # Multi-parts and collections are split; each part remembers its row.
    assert [d["row"] for d in polygons] == [4, 5, 5]
    assert [d["row"] for d in paths] == [2, 3, 3, 6]
    assert [d["row"] for d in points] == [0, 1, 1, 6]
    # The polygon keeps its hole: outer ring first, then the hole.
    assert len(polygons[0]["polygon"]) == 2
    assert polygons[0]["polygon"][1][0] == [2.33, 48.84]
    assert points[0]["position"] == [2.35, 48.85]
    assert paths[0]["path"] == [[2.25, 48.8], [2.4, 48.9]]
    assert plan.row_index == {
        "tusk-polygons": [4, 5, 5],
        "tusk-lines": [2, 3, 3, 6],
        "tusk-points": [0, 1, 1, 6],
    }


def test_every_layer_is_pickable_with_an_id_and_a_tooltip() -> None:
    t = mixed_table()
    [geo] = detect(t)
    plan = build_deck(t, geo)
    spec = deck_json(plan)
    assert [layer["id"] for layer in spec["layers"]] == plan.layer_ids
    assert plan.layer_ids == ["tusk-polygons", "tusk-lines", "tusk-points"]
    assert all(layer["pickable"] is True for layer in spec["layers"])
    assert plan.deck._tooltip == {"text": "{tip}"}  # what st.pydeck_chart reads
    first = spec["layers"][2]["data"][0]
    assert first["tip"] == "id: 0\nkind: a\nscore: 0"
    # String props reach deck.gl as values, accessors as expressions.
    assert spec["layers"][2]["radiusUnits"] == "pixels"
    assert spec["layers"][2]["getPosition"] == "@@=position"


def test_selection_maps_back_to_table_rows() -> None:
    t = mixed_table()
    [geo] = detect(t)
    plan = build_deck(t, geo)
    selection = {
        "indices": {"tusk-polygons": [2], "tusk-points": [0, 1], "unknown": [0]},
        "objects": {},
    }
    assert plan.selected_rows(selection) == [5, 0, 1]
    assert plan.selected_rows({"indices": {"tusk-points": [99]}}) == []
    assert plan.selected_rows(None) == []


def test_offline_deck_names_no_basemap_and_no_provider() -> None:
    t = mixed_table()
    [geo] = detect(t)
    plan = build_deck(t, geo)
    spec = deck_json(plan)
    assert spec["mapStyle"] == EMPTY_STYLE
    assert "mapProvider" not in spec
    assert json.loads(unquote(EMPTY_STYLE.split(",", 1)[1])) == {
        "version": 8,
        "sources": {},
        "layers": [],
    }
    text = plan.deck.to_json()
    for host in ("cartocdn", "mapbox://", "api.mapbox", "googleapis", "http://", "https://"):
        assert host not in text
    assert "\n" not in text  # compact: no indentation sent to the browser


def test_tiles_url_becomes_an_inline_raster_style() -> None:
    t = mixed_table()
    [geo] = detect(t)
    plan = build_deck(t, geo, tiles="https://{s}.tiles.example.org/{z}/{x}/{y}.png?key=a#b")
    style = deck_json(plan)["mapStyle"]
    assert style.startswith("data:application/json,")
    decoded = json.loads(unquote(style.split(",", 1)[1]))
    assert decoded["sources"]["tiles"]["type"] == "raster"
    assert decoded["sources"]["tiles"]["tiles"] == [
        f"https://{s}.tiles.example.org/{{z}}/{{x}}/{{y}}.png?key=a#b" for s in "abc"
    ]
    assert decoded["layers"] == [{"id": "tiles", "type": "raster", "source": "tiles"}]
    assert "#" not in style  # a raw # would end the data URL
    with pytest.raises(BadInput):
        tiles_style("https://tiles.example.org/tile.png")


def test_view_is_fitted_to_the_data() -> None:
    paris = pa.table({"lat": [48.80, 48.90], "lon": [2.25, 2.45]})
    [geo] = detect(paris)
    view = deck_json(build_deck(paris, geo))["initialViewState"]
    assert view["longitude"] == pytest.approx(2.35)
    assert view["latitude"] == pytest.approx(48.85, abs=0.01)
    assert 10 < view["zoom"] < 13
    world = pa.table({"lat": [-60.0, 70.0], "lon": [-170.0, 170.0]})
    [geo] = detect(world)
    assert deck_json(build_deck(world, geo))["initialViewState"]["zoom"] < 2
    one = pa.table({"lat": [10.0], "lon": [20.0]})
    [geo] = detect(one)
    assert deck_json(build_deck(one, geo))["initialViewState"] == {
        "latitude": 10.0,
        "longitude": 20.0,
        "zoom": 12.0,
    }


def test_colour_by_category_is_the_same_in_every_layer() -> None:
    t = mixed_table()
    [geo] = detect(t)
    plan = build_deck(t, geo, color_by="kind")
    kinds = t["kind"].to_pylist()
    colour_of = {"a": list(PALETTE[0]), "b": list(PALETTE[1]), "c": list(PALETTE[2])}
    layers = layers_by_type(plan)
    for layer, key in (
        ("PolygonLayer", "fill"),
        ("PathLayer", "color"),
        ("ScatterplotLayer", "color"),
    ):
        for d in layers[layer]["data"]:
            assert d[key][:3] == colour_of[kinds[d["row"]]], (layer, d["row"])
    assert plan.legend == [(k, c) for k, c in colour_of.items()]


def test_colour_by_number_is_a_ramp_and_size_by_number_scales() -> None:
    n = 5
    t = pa.table(
        {"lat": [0.0, 1.0, 2.0, 3.0, 4.0], "lon": [0.0] * n, "v": [0.0, 1.0, None, 3.0, 4.0]}
    )
    [geo] = detect(t)
    plan = build_deck(t, geo, color_by="v", size_by="v")
    data = layers_by_type(plan)["ScatterplotLayer"]["data"]
    assert data[0]["color"][:3] == list(RAMP[0])
    assert data[4]["color"][:3] == list(RAMP[-1])
    assert data[2]["color"][:3] == [200, 200, 200]  # NULL
    assert [d["radius"] for d in data] == [3.0, 10.5, 3.0, 15.99, 18.0]
    assert plan.legend[0] == ("0", list(RAMP[0])) and plan.legend[-1] == ("4", list(RAMP[-1]))
    with pytest.raises(BadInput):
        build_deck(t, geo, size_by="lat" + "x")
    text = pa.table({"lat": [1.0], "lon": [1.0], "s": ["big"]})
    [geo] = detect(text)
    with pytest.raises(BadInput):
        build_deck(text, geo, size_by="s")


def test_many_points_are_counted_into_hexagons() -> None:
    rng = np.random.default_rng(5)
    n = 5000
    t = pa.table({"lat": rng.normal(48.85, 0.05, n), "lon": rng.normal(2.35, 0.08, n)})
    [geo] = detect(t)
    plan = build_deck(t, geo, max_features=1000)
    assert plan.layers == ["ColumnLayer"] and plan.aggregated and not plan.sampled
    assert (plan.shown, plan.total) == (n, n)
    assert plan.notice is not None and "hexagons" in plan.notice
    layer = deck_json(plan)["layers"][0]
    assert sum(d["count"] for d in layer["data"]) == n
    assert layer["diskResolution"] == 6 and layer["radiusUnits"] == "common"
    assert layer["extruded"] is False and layer["pickable"] is True
    assert layer["data"][0]["tip"] == f"{layer['data'][0]['count']:,} rows"
    # Picking a hexagon selects the rows counted into it: as many, all inside that hexagon.
    top = layer["data"][0]
    picked = plan.selected_rows({"indices": {"tusk-hexagons": [0]}})
    assert len(picked) == top["count"]
    lon, lat = t.column("lon").to_numpy(), t.column("lat").to_numpy()
    mx, my = lonlat_to_mercator(lon[picked], lat[picked])
    hx, hy = lonlat_to_mercator(np.array([top["position"][0]]), np.array([top["position"][1]]))
    size = hexbin(lon, lat, HEX_ACROSS)[3]  # centre-to-corner, Mercator metres
    assert np.hypot(mx - hx[0], my - hy[0]).max() <= size * 1.0001
    both = plan.selected_rows({"indices": {"tusk-hexagons": [0, 1]}})
    assert len(both) == top["count"] + layer["data"][1]["count"]
    # Under the limit the same points are drawn one by one.
    plan = build_deck(t, geo, max_features=n)
    assert plan.layers == ["ScatterplotLayer"] and len(deck_json(plan)["layers"][0]["data"]) == n


def test_hexagon_and_heatmap_on_request() -> None:
    t = mixed_table()
    [geo] = detect(t)
    hexes = build_deck(t, geo, layer="hexagon")
    assert hexes.layers == ["ColumnLayer"] and hexes.aggregated
    # Every part becomes one point (lines and polygons by a point on them): 11 parts.
    assert sum(d["count"] for d in deck_json(hexes)["layers"][0]["data"]) == 11
    heat = build_deck(t, geo, layer="heatmap")
    assert heat.layers == ["HeatmapLayer"]
    assert len(deck_json(heat)["layers"][0]["data"]) == 11


def test_other_geometry_beyond_the_limit_is_sampled() -> None:
    n = 300
    lines = [f"LINESTRING ({i / 100} 0, {i / 100} 1)" for i in range(n)]
    t = pa.table({"id": list(range(n)), "g": lines})
    [geo] = detect(t)
    plan = build_deck(t, geo, max_features=100)
    assert plan.layers == ["PathLayer"]
    assert (plan.shown, plan.total, plan.sampled) == (100, 300, True)
    assert plan.notice is not None and "random sample of 100 of 300" in plan.notice
    rows = [d["row"] for d in deck_json(plan)["layers"][0]["data"]]
    assert len(set(rows)) == 100 and rows == sorted(rows)
    again = build_deck(t, geo, max_features=100)
    assert [d["row"] for d in deck_json(again)["layers"][0]["data"]] == rows  # stable


def test_scatter_and_path_choices_reshape_features() -> None:
    t = mixed_table()
    [geo] = detect(t)
    scatter = build_deck(t, geo, layer="scatter")
    assert scatter.layers == ["ScatterplotLayer"]
    points = deck_json(scatter)["layers"][0]["data"]
    assert len(points) == 11
    polygon_row = [d for d in points if d["row"] == 4][0]["position"]
    assert shapely.Polygon([(2.30, 48.83), (2.38, 48.83), (2.38, 48.88)]).contains(
        shapely.Point(polygon_row)
    )
    path = build_deck(t, geo, layer="path")
    assert path.layers == ["PathLayer", "ScatterplotLayer"]
    rows = [d["row"] for d in layers_by_type(path)["PathLayer"]["data"]]
    assert rows.count(4) == 2 and rows.count(5) == 2  # outer ring + hole; two parts


def test_web_mercator_geometry_is_drawn_in_degrees() -> None:
    x, y = lonlat_to_mercator(np.array([2.35, 2.45]), np.array([48.85, 48.95]))
    wkb = shapely.to_wkb(shapely.set_srid(shapely.points(x, y), 3857), include_srid=True)
    t = pa.table({"g": pa.array(list(wkb), pa.binary())})
    [geo] = detect(t)
    assert geo.srid == 3857
    data = deck_json(build_deck(t, geo))["layers"][0]["data"]
    assert data[0]["position"] == pytest.approx([2.35, 48.85], abs=1e-6)
    assert data[1]["position"] == pytest.approx([2.45, 48.95], abs=1e-6)


def test_projected_coordinates_without_srid_get_a_notice() -> None:
    t = pa.table({"g": ["POINT (261600 6249447)", "POINT (0 0)"]})
    [geo] = detect(t)
    plan = build_deck(t, geo)
    assert plan.notice is not None and "outside longitude/latitude" in plan.notice


def test_nothing_to_draw() -> None:
    t = pa.table({"g": ["POINT EMPTY", None, "nope", "POINT EMPTY"]})
    [geo] = detect(t, hints={"g": "wkt"})
    plan = build_deck(t, geo)
    assert plan.layers == [] and plan.shown == 0
    assert deck_json(plan)["layers"] == []
    with pytest.raises(BadInput):
        build_deck(t, geo, layer="bubbles")  # type: ignore[arg-type]
    with pytest.raises(BadInput):
        build_deck(t, geo, color_by="missing")


def test_hexbin_puts_each_point_in_its_nearest_hexagon() -> None:
    rng = np.random.default_rng(11)
    lon, lat = rng.uniform(-20, 40, 20_000), rng.uniform(-50, 60, 20_000)
    cx, cy, counts, size = hexbin(lon, lat, 40)
    assert counts.sum() == 20_000
    px, py = lonlat_to_mercator(lon, lat)
    hx, hy = lonlat_to_mercator(cx, cy)
    # The centre-to-point distance never exceeds the hexagon's circumradius…
    tree = shapely.STRtree(shapely.points(hx, hy))
    nearest = tree.nearest(shapely.points(px, py))
    dist = np.hypot(px - hx[nearest], py - hy[nearest])
    assert dist.max() <= size * (1 + 1e-9)
    # …and neighbouring centres are √3 · size apart: no two bins share a cell.
    centres = shapely.points(hx, hy)
    pairs = shapely.STRtree(centres).query(
        centres, predicate="dwithin", distance=size * math.sqrt(3) * 0.999
    )
    assert all(i == j for i, j in pairs.T)
