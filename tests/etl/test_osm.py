"""OSM reader: small OSM files written here with pyosmium, converted once into Parquet layers
whose rows, coordinates, tags and members are checked; the cache, bad files and odd names."""

from __future__ import annotations

import bz2
import json
import os
import stat
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import osmium
import polars as pl
import pyarrow.parquet as pq
import pytest
import shapely
from osmium.osm.mutable import Node, Relation, Way

from tusk.errors import BadInput
from tusk.etl import osm

# (id, lon, lat, tags): a square for a building, a line, and a tagged node with a non-ASCII name
NODES = [
    (1, 13.4, 52.5, {"name": "Café Zürich", "amenity": "cafe"}),
    (2, 13.401, 52.5, {}),
    (3, 13.401, 52.501, {}),
    (4, 13.4, 52.501, {}),
    (5, 13.41, 52.51, {"highway": "traffic_signals"}),
    (6, -0.1275, 51.5072, {}),
]
WAYS = [
    (10, [1, 2, 3, 4, 1], {"building": "yes", "name": "Haus"}),  # closed area
    (11, [1, 5, 6], {"highway": "primary", "name": "Unter den Linden"}),  # open line
    (12, [2, 3, 4, 2], {"highway": "residential"}),  # closed, but a loop road: still a line
    (13, [5, 99], {"highway": "service"}),  # node 99 is not in the file
]
RELATIONS = [
    (
        20,
        [("n", 1, "stop"), ("w", 11, ""), ("r", 21, "sub")],
        {"type": "route", "route": "bus", "name": "100"},
    ),
    (21, [("w", 10, "outer")], {"type": "multipolygon", "landuse": "grass"}),
]


def write_osm(
    path: Path,
    nodes: Iterable[tuple[int, float, float, dict[str, str]]] = NODES,
    ways: Iterable[tuple[int, list[int], dict[str, str]]] = WAYS,
    relations: Iterable[tuple[int, list[tuple[str, int, str]], dict[str, str]]] = RELATIONS,
) -> Path:
    """Write an OSM file with pyosmium (format from the suffix) and return its path."""
    path.unlink(missing_ok=True)
    with osmium.SimpleWriter(str(path)) as writer:
        for node_id, lon, lat, tags in nodes:
            writer.add_node(Node(id=node_id, location=(lon, lat), tags=tags))
        for way_id, refs, tags in ways:
            writer.add_way(Way(id=way_id, nodes=refs, tags=tags))
        for rel_id, members, tags in relations:
            writer.add_relation(Relation(id=rel_id, members=members, tags=tags))
    return path


def rows(path: Path, layer: str) -> dict[int, dict[str, Any]]:
    """A layer's rows by id."""
    frame = pl.read_parquet(osm.layer_parquet(path, layer))
    return {row["id"]: row for row in frame.iter_rows(named=True)}


def flat(coords: Iterable[tuple[float, ...]]) -> list[float]:
    """Coordinates as one flat list (pytest.approx compares flat sequences only)."""
    return [value for point in coords for value in point]


@pytest.fixture
def pbf(tmp_path: Path) -> Path:
    return write_osm(tmp_path / "city.osm.pbf")


class Counter:
    """Counts conversions by wrapping the module's writer."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = osm._write_layers

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(osm, "_write_layers", counted)


# --- the three layers -------------------------------------------------------------------------


def test_summary_counts_every_layer(pbf: Path) -> None:
    assert osm.summary(pbf) == {"nodes": 6, "ways": 4, "relations": 2}
    assert osm.LAYERS == ("nodes", "ways", "relations")


def test_nodes_have_coordinates_tags_and_name(pbf: Path) -> None:
    nodes = rows(pbf, "nodes")
    assert set(nodes) == {1, 2, 3, 4, 5, 6}
    for node_id, lon, lat, tags in NODES:
        assert nodes[node_id]["lon"] == pytest.approx(lon, abs=1e-7)
        assert nodes[node_id]["lat"] == pytest.approx(lat, abs=1e-7)
        assert json.loads(nodes[node_id]["tags"]) == tags
    assert nodes[1]["name"] == "Café Zürich"
    assert nodes[2]["name"] is None
    schema = pq.read_schema(osm.layer_parquet(pbf, "nodes"))
    assert str(schema.field("id").type) == "int64"
    assert str(schema.field("lat").type) == "double"


def test_closed_area_way_is_a_polygon_with_the_nodes_as_vertices(pbf: Path) -> None:
    way = rows(pbf, "ways")[10]
    assert way["node_ids"] == [1, 2, 3, 4, 1]
    assert way["building"] == "yes" and way["name"] == "Haus"
    assert json.loads(way["tags"]) == {"building": "yes", "name": "Haus"}
    polygon = shapely.from_wkt(way["geometry_wkt"])
    assert polygon.geom_type == "Polygon"
    expected = [(13.4, 52.5), (13.401, 52.5), (13.401, 52.501), (13.4, 52.501), (13.4, 52.5)]
    assert flat(polygon.exterior.coords) == pytest.approx(flat(expected), abs=1e-7)
    assert polygon.is_valid and polygon.area > 0


def test_open_way_is_a_linestring_through_its_nodes(pbf: Path) -> None:
    way = rows(pbf, "ways")[11]
    assert way["highway"] == "primary" and way["node_ids"] == [1, 5, 6]
    line = shapely.from_wkt(way["geometry_wkt"])
    assert line.geom_type == "LineString"
    expected = [(13.4, 52.5), (13.41, 52.51), (-0.1275, 51.5072)]
    assert flat(line.coords) == pytest.approx(flat(expected), abs=1e-7)


def test_closed_way_without_area_tags_stays_a_line(pbf: Path) -> None:
    geometry = shapely.from_wkt(rows(pbf, "ways")[12]["geometry_wkt"])
    assert geometry.geom_type == "LineString" and geometry.is_closed


def test_way_with_a_missing_node_has_null_geometry_and_is_counted(pbf: Path) -> None:
    way = rows(pbf, "ways")[13]
    assert way["node_ids"] == [5, 99] and way["geometry_wkt"] is None
    gaps = osm.missing_geometry(pbf)
    assert gaps["ways_missing_nodes"] == 1
    assert gaps["ways_too_short"] == 0 and gaps["relations_not_assembled"] == 0


@pytest.mark.parametrize(
    ("tags", "kind"),
    [
        ({"area": "yes", "highway": "pedestrian"}, "Polygon"),
        ({"building": "yes", "area": "no"}, "LineString"),
        ({"natural": "coastline"}, "LineString"),
        ({"natural": "water"}, "Polygon"),
        ({"waterway": "riverbank"}, "Polygon"),
        ({"waterway": "stream"}, "LineString"),
        ({}, "LineString"),
    ],
)
def test_area_tags_decide_polygon_or_line(tmp_path: Path, tags: dict[str, str], kind: str) -> None:
    path = write_osm(tmp_path / "a.osm.pbf", ways=[(10, [1, 2, 3, 4, 1], tags)], relations=[])
    assert shapely.from_wkt(rows(path, "ways")[10]["geometry_wkt"]).geom_type == kind


def test_relations_have_tags_members_and_multipolygons(pbf: Path) -> None:
    relations = rows(pbf, "relations")
    route = relations[20]
    assert route["type"] == "route" and route["name"] == "100"
    assert json.loads(route["tags"]) == {"type": "route", "route": "bus", "name": "100"}
    assert route["members"] == [
        {"type": "node", "ref": 1, "role": "stop"},
        {"type": "way", "ref": 11, "role": ""},
        {"type": "relation", "ref": 21, "role": "sub"},
    ]
    assert route["geometry_wkt"] is None
    area = shapely.from_wkt(relations[21]["geometry_wkt"])
    assert area.geom_type == "MultiPolygon"
    assert area.equals(shapely.from_wkt(rows(pbf, "ways")[10]["geometry_wkt"]))


def test_multipolygon_that_cannot_be_assembled_is_null_and_counted(tmp_path: Path) -> None:
    path = write_osm(
        tmp_path / "broken.osm.pbf",
        relations=[(30, [("w", 11, "outer")], {"type": "multipolygon", "natural": "wood"})],
    )
    assert rows(path, "relations")[30]["geometry_wkt"] is None
    assert osm.missing_geometry(path)["relations_not_assembled"] == 1


def test_small_batches_write_many_row_groups_with_the_same_rows(
    pbf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = {layer: pl.read_parquet(osm.layer_parquet(pbf, layer)) for layer in osm.LAYERS}
    monkeypatch.setattr(osm, "_BATCH_ROWS", 2)
    copy = write_osm(tmp_path / "copy.osm.pbf")
    assert pq.ParquetFile(osm.layer_parquet(copy, "nodes")).num_row_groups == 3
    for layer in osm.LAYERS:
        got = pl.read_parquet(osm.layer_parquet(copy, layer))
        assert got.sort("id").equals(expected[layer].sort("id"))


def test_progress_reports_objects_read(pbf: Path) -> None:
    seen: list[int] = []
    osm.convert(pbf, progress=seen.append)
    assert seen and seen[-1] == 12  # 6 nodes + 4 ways + 2 relations


# --- clipped extracts: nodes missing from the file --------------------------------------------
# A city cut from a planet file keeps ways that cross its edge, without their outside nodes.
# Such a way has no true shape in the file: NULL, counted under ways_missing_nodes, wherever
# the missing nodes sit (libosmium silently drops a leading run of them: see osm._way_row).


def ways_ok(path: Path) -> int:
    """Ways that got a geometry."""
    return sum(row["geometry_wkt"] is not None for row in rows(path, "ways").values())


def test_issue_minimal_opl_case(tmp_path: Path) -> None:
    path = tmp_path / "clipped.opl"
    path.write_text(
        "n1 v1 x13.4 y52.5\n"
        "n2 v1 x13.401 y52.5\n"
        "n3 v1 x13.401 y52.501\n"
        "w10 v1 Nn1,n2,n99\n"
        "w11 v1 Nn99,n1,n2,n3\n"
        "w12 v1 Nn99,n3\n",
        encoding="utf-8",
    )
    ways = rows(path, "ways")
    assert [ways[i]["geometry_wkt"] for i in (10, 11, 12)] == [None, None, None]
    gaps = osm.missing_geometry(path)
    assert gaps["ways_missing_nodes"] == 3 and gaps["ways_too_short"] == 0


@pytest.mark.parametrize(
    "refs",
    [
        pytest.param([99, 1, 5, 6], id="first"),
        pytest.param([98, 99, 1, 5, 6], id="first-two"),
        pytest.param([1, 5, 99, 6], id="middle"),
        pytest.param([1, 5, 6, 99], id="last"),
        pytest.param([99, 1, 5, 6, 98], id="first-and-last"),
        pytest.param([97, 98, 99], id="all"),
        pytest.param([99], id="all-single"),
        pytest.param([99, 6], id="one-node-left"),
        pytest.param([99, 6, 6], id="one-point-left"),
    ],
)
def test_way_missing_nodes_anywhere_is_null_and_counted(tmp_path: Path, refs: list[int]) -> None:
    path = write_osm(
        tmp_path / "w.osm.pbf", ways=[(40, refs, {"highway": "service"})], relations=[]
    )
    assert rows(path, "ways")[40]["geometry_wkt"] is None
    gaps = osm.missing_geometry(path)
    assert (gaps["ways_missing_nodes"], gaps["ways_too_short"]) == (1, 0)


def test_every_placement_of_missing_nodes_is_null(tmp_path: Path) -> None:
    # Every non-empty set of missing positions in a 4-node line and a 5-node closed building.
    ways = []
    for mask in range(1, 16):
        line = [99 if mask >> i & 1 else node for i, node in enumerate([1, 2, 3, 4])]
        ring = [98 if mask >> i & 1 else node for i, node in enumerate([1, 2, 3, 4])]
        ways.append((100 + mask, line, {"highway": "service"}))
        ways.append((200 + mask, [*ring, ring[0]], {"building": "yes"}))
    ways.sort()  # libosmium's area pass refuses ways out of id order
    path = write_osm(tmp_path / "all.osm.pbf", ways=ways, relations=[])
    assert {i: w["geometry_wkt"] for i, w in rows(path, "ways").items()} == dict.fromkeys(
        [way_id for way_id, _, _ in ways]
    )
    gaps = osm.missing_geometry(path)
    assert (gaps["ways_missing_nodes"], gaps["ways_too_short"]) == (30, 0)


@pytest.mark.parametrize(
    "refs",
    [
        pytest.param([99, 1, 2, 3, 4, 99], id="first-and-last"),
        pytest.param([1, 2, 99, 3, 4, 1], id="middle"),
        pytest.param([97, 98, 99, 97], id="all"),
        pytest.param([99, 1, 2, 3, 4, 1], id="first-ring-closes-without-it"),
    ],
)
def test_area_with_a_missing_node_is_null_and_counted(tmp_path: Path, refs: list[int]) -> None:
    path = write_osm(tmp_path / "a.osm.pbf", ways=[(40, refs, {"building": "yes"})], relations=[])
    assert rows(path, "ways")[40]["geometry_wkt"] is None
    gaps = osm.missing_geometry(path)
    assert (gaps["ways_missing_nodes"], gaps["ways_too_short"]) == (1, 0)


def test_multipolygon_of_a_way_with_missing_nodes_is_null_and_counted(tmp_path: Path) -> None:
    outer = {"type": "multipolygon", "landuse": "grass"}
    path = write_osm(
        tmp_path / "mp.osm.pbf",
        ways=[
            (40, [99, 1, 2, 3, 4, 1], {}),  # the ring closes once the missing node is dropped
            (41, [1, 2, 99, 3, 4, 1], {}),
            (42, [1, 2, 3], {}),
            (43, [3, 4, 1], {}),
            (44, [1, 2, 3, 4, 1], {}),
        ],
        relations=[
            (50, [("w", 40, "outer")], outer),
            (51, [("w", 41, "outer")], outer),
            (52, [("w", 42, "outer"), ("w", 77, "outer")], outer),  # way 77 is not in the file
            (53, [("w", 42, "outer"), ("w", 43, "outer")], outer),  # assembled from two ways
            (54, [("w", 42, "outer")], outer),  # all there, but an open ring
            (55, [("w", 40, ""), ("n", 1, "stop")], {"type": "route", "route": "bus"}),
        ],
    )
    relations = rows(path, "relations")
    assert [relations[i]["geometry_wkt"] for i in (50, 51, 52, 54, 55)] == [None] * 5
    square = shapely.Polygon([(13.4, 52.5), (13.401, 52.5), (13.401, 52.501), (13.4, 52.501)])
    assert shapely.from_wkt(relations[53]["geometry_wkt"]).equals(square)
    gaps = osm.missing_geometry(path)
    assert gaps["relations_missing_members"] == 3  # 50, 51, 52; a route has no geometry
    assert gaps["relations_not_assembled"] == 1  # 54


def test_clipped_extract_counts_add_up_to_the_ways(tmp_path: Path) -> None:
    # Nodes on a 10 x 10 grid; the extract keeps only the right half (x >= 5), as a clip at a
    # city edge would. Rows run both ways across the edge, so their missing nodes lead or
    # trail; columns and buildings sit on either side of it or on it.
    def node_id(x: int, y: int) -> int:
        return 1 + x + 10 * y

    nodes = [
        (node_id(x, y), 13.0 + x * 1e-3, 52.0 + y * 1e-3, {})
        for y in range(10)
        for x in range(5, 10)
    ]
    ways: list[tuple[int, list[int], dict[str, str]]] = []
    for y in range(10):
        row = [node_id(x, y) for x in range(10)]
        ways.append((1000 + y, row if y % 2 else row[::-1], {"highway": "residential"}))
    for x in range(10):
        ways.append((2000 + x, [node_id(x, y) for y in range(10)], {"highway": "service"}))
    for x in range(9):
        square = [node_id(x, 0), node_id(x + 1, 0), node_id(x + 1, 1), node_id(x, 1)]
        ways.append((3000 + x, [*square, square[0]], {"building": "yes"}))
    ways.append((4000, [node_id(7, 7), node_id(7, 7)], {"barrier": "gate"}))  # one point
    relations = [
        (5000 + x, [("w", 3000 + x, "outer")], {"type": "multipolygon", "landuse": "grass"})
        for x in range(9)
    ]
    path = write_osm(tmp_path / "clip.osm.pbf", nodes=nodes, ways=ways, relations=relations)

    present = {n[0] for n in nodes}
    clipped = {way_id for way_id, refs, _ in ways if not set(refs) <= present}
    got = rows(path, "ways")
    assert {i for i, w in got.items() if w["geometry_wkt"] is None} == clipped | {4000}
    gaps = osm.missing_geometry(path)
    assert gaps["ways_missing_nodes"] == len(clipped) == 10 + 5 + 5
    assert gaps["ways_too_short"] == 1
    assert ways_ok(path) + gaps["ways_missing_nodes"] + gaps["ways_too_short"] == len(ways)
    assert osm.summary(path)["ways"] == len(ways)
    assert gaps["relations_missing_members"] == 5 and gaps["relations_not_assembled"] == 0
    assembled = [r for r in rows(path, "relations").values() if r["geometry_wkt"] is not None]
    assert len(assembled) == 4


# --- formats and names ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["city.osm", "city.osm.bz2", "city.osm.gz", "city.opl"])
def test_xml_opl_and_compressed_files_read_the_same(tmp_path: Path, name: str) -> None:
    path = write_osm(tmp_path / name)
    assert osm.summary(path) == {"nodes": 6, "ways": 4, "relations": 2}
    assert shapely.from_wkt(rows(path, "ways")[10]["geometry_wkt"]).geom_type == "Polygon"


def test_format_is_sniffed_not_taken_from_the_name(tmp_path: Path) -> None:
    xml = write_osm(tmp_path / "real.osm")
    upload = tmp_path / "upload.bin"
    upload.write_bytes(xml.read_bytes())
    assert osm.summary(upload)["nodes"] == 6
    misnamed = tmp_path / "really-xml.pbf"
    misnamed.write_bytes(xml.read_bytes())
    assert osm.summary(misnamed)["ways"] == 4


def test_path_with_spaces_and_quotes(tmp_path: Path) -> None:
    folder = tmp_path / 'my data\'s "folder"'
    folder.mkdir()
    path = write_osm(folder / 'it\'s a "city" map; -x.osm.pbf')
    assert osm.summary(path) == {"nodes": 6, "ways": 4, "relations": 2}
    assert rows(path, "nodes")[1]["name"] == "Café Zürich"


# --- the cache --------------------------------------------------------------------------------


def test_cache_is_under_home_private_and_reused(
    pbf: Path, tusk_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = Counter(monkeypatch)
    first = osm.convert(pbf)
    assert counter.calls == 1
    folder = first["nodes"].parent
    assert folder.parent == tusk_home / "cache" / "osm"
    for level in (tusk_home / "cache", folder.parent, folder):
        assert stat.S_IMODE(level.stat().st_mode) == 0o700
    assert {p.name for p in folder.iterdir()} >= {f"{layer}.parquet" for layer in osm.LAYERS}
    mtimes = {layer: p.stat().st_mtime_ns for layer, p in first.items()}

    assert osm.convert(pbf) == first
    assert osm.layer_parquet(pbf, "ways") == first["ways"]
    assert osm.summary(pbf)["nodes"] == 6
    assert counter.calls == 1
    assert {layer: p.stat().st_mtime_ns for layer, p in first.items()} == mtimes
    # no temp folders left beside the cache
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]


def test_cache_hit_still_reports_progress(pbf: Path) -> None:
    osm.convert(pbf)
    seen: list[int] = []
    osm.convert(pbf, progress=seen.append)
    assert seen == [12]


def test_changed_file_converts_again_and_drops_the_old_cache(
    pbf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = Counter(monkeypatch)
    old = osm.convert(pbf)["nodes"].parent
    before = pbf.stat().st_mtime_ns
    write_osm(pbf, nodes=[*NODES, (7, 1.0, 2.0, {"name": "new"})])
    os.utime(pbf, ns=(before + 10**9, before + 10**9))  # a later mtime even on coarse clocks
    assert osm.summary(pbf)["nodes"] == 7
    assert rows(pbf, "nodes")[7]["name"] == "new"
    assert counter.calls == 2
    assert not old.exists()


def test_same_size_new_mtime_is_a_new_version(pbf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = Counter(monkeypatch)
    osm.convert(pbf)
    st = pbf.stat()
    os.utime(pbf, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    osm.convert(pbf)
    assert counter.calls == 2


def test_damaged_cache_is_rebuilt(pbf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = Counter(monkeypatch)
    paths = osm.convert(pbf)
    paths["ways"].unlink()
    assert osm.summary(pbf)["ways"] == 4
    assert counter.calls == 2


def test_two_threads_at_once_convert_once(pbf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = Counter(monkeypatch)
    results: list[dict[str, Path]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(osm.convert(pbf))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 4 and all(r == results[0] for r in results)
    assert counter.calls == 1


# --- bad input --------------------------------------------------------------------------------


def bad(path: Path) -> BadInput:
    with pytest.raises(BadInput) as info:
        osm.convert(path)
    return info.value


def assert_no_cache_left(tusk_home: Path) -> None:
    cache = tusk_home / "cache" / "osm"
    assert not cache.exists() or list(cache.iterdir()) == []


def test_empty_file(tmp_path: Path, tusk_home: Path) -> None:
    path = tmp_path / "empty.osm.pbf"
    path.write_bytes(b"")
    error = bad(path)
    assert "empty.osm.pbf is empty" in error.message and error.title == "Empty file"
    assert_no_cache_left(tusk_home)


def test_not_an_osm_file(tmp_path: Path, tusk_home: Path) -> None:
    path = tmp_path / "notes.osm.pbf"
    path.write_text("hello, these are notes\n" * 20)
    error = bad(path)
    assert "not an OpenStreetMap file" in error.message and error.title == "Not an OSM file"
    bz = tmp_path / "notes.bz2"
    bz.write_bytes(bz2.compress(b"hello\n" * 20))
    assert "not an OpenStreetMap file" in bad(bz).message
    assert_no_cache_left(tusk_home)


def test_corrupt_pbf(pbf: Path, tmp_path: Path, tusk_home: Path) -> None:
    data = pbf.read_bytes()
    truncated = tmp_path / "truncated.osm.pbf"
    truncated.write_bytes(data[: len(data) // 2])
    error = bad(truncated)
    assert error.title == "Corrupt OSM file"
    assert "truncated.osm.pbf could not be read" in error.message
    garbled = tmp_path / "garbled.osm.pbf"
    garbled.write_bytes(data[:20] + bytes(range(256)) * 8)
    assert bad(garbled).title == "Corrupt OSM file"
    assert_no_cache_left(tusk_home)


def test_corrupt_xml(tmp_path: Path, tusk_home: Path) -> None:
    path = tmp_path / "broken.osm"
    path.write_text("<osm><node id='1' lat='x'/>")
    assert bad(path).title == "Corrupt OSM file"
    assert_no_cache_left(tusk_home)


def test_file_changed_during_conversion_is_refused(pbf: Path, tusk_home: Path) -> None:
    def touch(_: int) -> None:
        st = pbf.stat()
        os.utime(pbf, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))

    with pytest.raises(BadInput, match="changed while it was being read"):
        osm.convert(pbf, progress=touch)
    assert_no_cache_left(tusk_home)
    assert osm.summary(pbf)["nodes"] == 6  # the next call converts the new version


def test_missing_file_folder_and_unknown_layer(pbf: Path, tmp_path: Path) -> None:
    assert bad(tmp_path / "nowhere.osm.pbf").title == "No such file"
    assert bad(tmp_path).title == "Not a file"
    with pytest.raises(BadInput, match="Unknown OSM layer 'areas'"):
        osm.layer_parquet(pbf, "areas")


def test_valid_file_without_objects_gives_empty_layers(tmp_path: Path) -> None:
    path = write_osm(tmp_path / "nothing.osm.pbf", nodes=[], ways=[], relations=[])
    assert osm.summary(path) == {"nodes": 0, "ways": 0, "relations": 0}
    assert pl.read_parquet(osm.layer_parquet(path, "ways")).columns == [
        "id",
        "name",
        "highway",
        "building",
        "node_ids",
        "geometry_wkt",
        "tags",
    ]
