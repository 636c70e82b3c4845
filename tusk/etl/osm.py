"""OpenStreetMap files (PBF, XML, OPL; bz2/gz) read with pyosmium into cached Parquet layers.

One pass over the file writes three tables under `home()/cache/osm/<key>/`:

- nodes: id, lat, lon, name, tags (JSON object as text)
- ways: id, name, highway, building, node_ids, geometry_wkt (LINESTRING, or POLYGON for a
  closed way whose tags make it an area), tags
- relations: id, name, type, members (list of {type, ref, role}), geometry_wkt
  (MULTIPOLYGON for multipolygon/boundary relations libosmium could assemble), tags

The key hashes the file's absolute path, size and mtime, so a changed file converts again and
an unchanged one is read from the cache. Rows are buffered per layer and written as Parquet
row groups, so a large file never sits in memory whole (the node location index does: see
`_LOCATIONS`).
"""

from __future__ import annotations

import bz2
import contextlib
import hashlib
import json
import os
import re
import shutil
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import osmium
import osmium.geom
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tusk import config
from tusk.errors import BadInput

LAYERS = ("nodes", "ways", "relations")

# Bump when the tables' columns or meaning change: the key includes it, so old caches are
# simply not found (and are removed when their file is converted again).
# 2: ways whose leading nodes are missing are NULL (version 1 drew them shortened);
# relations_missing_members counted apart from relations_not_assembled.
_CACHE_VERSION = 2
_MANIFEST = "manifest.json"
_BATCH_ROWS = 65_536
_BATCH_WEIGHT = 1_000_000  # node ids / members per batch: long ways and big relations flush early
_PROGRESS_EVERY = 100_000
# Every node's location is kept in memory for the ways (libosmium's flex_mem picks a sparse
# or dense table by itself, roughly 8-16 bytes a node): fine for city and region extracts; a
# planet-size file would need a disk-backed index, which this reader does not offer.
_LOCATIONS = "flex_mem"
_SNIFF_BYTES = 4096
_ABANDONED_S = 24 * 3600  # a temp folder this old belongs to a conversion that was killed

_MEMBER = pa.struct([("type", pa.string()), ("ref", pa.int64()), ("role", pa.string())])
_SCHEMAS = {
    "nodes": pa.schema(
        [
            ("id", pa.int64()),
            ("lat", pa.float64()),
            ("lon", pa.float64()),
            ("name", pa.string()),
            ("tags", pa.string()),
        ]
    ),
    "ways": pa.schema(
        [
            ("id", pa.int64()),
            ("name", pa.string()),
            ("highway", pa.string()),
            ("building", pa.string()),
            ("node_ids", pa.list_(pa.int64())),
            ("geometry_wkt", pa.string()),
            ("tags", pa.string()),
        ]
    ),
    "relations": pa.schema(
        [
            ("id", pa.int64()),
            ("name", pa.string()),
            ("type", pa.string()),
            ("members", pa.list_(_MEMBER)),
            ("geometry_wkt", pa.string()),
            ("tags", pa.string()),
        ]
    ),
}
_Node, _Way, _Relation, _Area = (
    osmium.osm.Node,
    osmium.osm.Way,
    osmium.osm.Relation,
    osmium.osm.Area,
)
_MEMBER_TYPES = {"n": "node", "w": "way", "r": "relation"}
# libosmium's area manager assembles relations of these types (and closed ways, unused here).
_AREA_RELATIONS = frozenset({"multipolygon", "boundary"})

# OSM has no area type: whether a closed way is a polygon or a ring-shaped line is a
# convention of its tags (the one renderers and editors follow). Keys whose any value makes
# an area, except the listed values...
_AREA_KEYS: dict[str, frozenset[str]] = {
    "building": frozenset({"no"}),
    "building:part": frozenset({"no"}),
    "landuse": frozenset(),
    "amenity": frozenset(),
    "leisure": frozenset({"track", "slipway"}),
    "natural": frozenset({"coastline", "cliff", "ridge", "arete", "tree_row", "valley"}),
    "place": frozenset(),
    "shop": frozenset(),
    "tourism": frozenset(),
    "office": frozenset(),
    "craft": frozenset(),
    "historic": frozenset(),
    "military": frozenset(),
    "area:highway": frozenset(),
    "man_made": frozenset({"cutline", "embankment", "pipeline", "dyke", "breakwater", "groyne"}),
    "aeroway": frozenset({"taxiway", "runway"}),
}
# ...and keys that make an area only with these values (a closed highway=residential is a loop).
_AREA_VALUES: dict[str, frozenset[str]] = {
    "waterway": frozenset({"riverbank", "dock", "boatyard"}),
    "highway": frozenset({"rest_area", "services"}),
    "railway": frozenset({"station", "platform"}),
    "public_transport": frozenset({"platform", "station"}),
    "power": frozenset({"plant", "substation", "generator"}),
}

_OPL_LINE = re.compile(rb"^[nwrc]-?\d+( |$)")
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


# --- public API -----------------------------------------------------------------------------


def layer_parquet(path: Path, layer: str) -> Path:
    """The cached Parquet file of one layer of an OSM file, converting the file on first use."""
    if layer not in LAYERS:
        raise BadInput(
            f"Unknown OSM layer {layer!r}: use one of {', '.join(LAYERS)}.", "Unknown layer"
        )
    return convert(path)[layer]


def convert(path: Path, *, progress: Callable[[int], object] | None = None) -> dict[str, Path]:
    """Convert an OSM file into one Parquet file per layer (once: a fresh cache is reused);
    `progress` gets the number of OSM objects read so far."""
    folder, _ = _cached(path, progress)
    return {layer: folder / f"{layer}.parquet" for layer in LAYERS}


def summary(path: Path) -> dict[str, int]:
    """Rows per layer of an OSM file (converting it first if needed), from the Parquet footers."""
    return {layer: pq.read_metadata(file).num_rows for layer, file in convert(path).items()}


def missing_geometry(path: Path) -> dict[str, int]:
    """Why geometry_wkt is NULL, counted: ways with nodes missing from the file, ways with fewer
    than two distinct points, multipolygon/boundary relations with a member way (or a node of
    one) missing from the file, and those whose members are all there but form no area.

    Every way is in exactly one of: a geometry, `ways_missing_nodes`, `ways_too_short`."""
    _, manifest = _cached(path, None)
    return {key: int(value) for key, value in manifest["missing_geometry"].items()}


def _cached(path: Path, progress: Callable[[int], object] | None) -> tuple[Path, dict[str, Any]]:
    """The cache folder of a file's current version and its manifest, converting if needed."""
    source, stat = _source(path)
    key = _key(source, stat)
    folder = _cache_root() / key
    with _lock(key):
        manifest = _read_manifest(folder)
        if manifest is None:
            manifest = _convert(source, stat, folder, progress)
            _drop_stale(source, key)
        elif progress is not None:
            progress(int(manifest["objects"]))
    return folder, manifest


# --- the source file ------------------------------------------------------------------------


def _source(path: Path) -> tuple[Path, os.stat_result]:
    """The file's absolute path and stat, or a BadInput saying why it is not there."""
    source = Path(path).expanduser().absolute()
    try:
        stat = source.stat()
    except FileNotFoundError:
        raise BadInput(f"{source.name} does not exist.", "No such file") from None
    except OSError as exc:
        raise BadInput(f"Cannot read {source.name}: {exc.strerror}.", "Cannot read file") from None
    if not source.is_file():
        raise BadInput(f"{source.name} is not a file.", "Not a file")
    return source, stat


def _format(source: Path) -> str:
    """The osmium format string, sniffed from the first bytes rather than trusted from the
    name (an upload may be called anything; a .pbf may hold XML)."""
    try:
        with open(source, "rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError as exc:
        raise BadInput(f"Cannot read {source.name}: {exc.strerror}.", "Cannot read file") from None
    if not head:
        raise BadInput(f"{source.name} is empty: it holds no OSM data.", "Empty file")
    # A PBF file starts with a 4-byte header length and the blob type "OSMHeader".
    if b"OSMHeader" in head[:16]:
        return "pbf"
    if head.startswith(b"BZh"):
        return _text_format(source, _unpacked(bz2.BZ2Decompressor().decompress, head)) + ".bz2"
    if head.startswith(b"\x1f\x8b"):
        # wbits 16+15: zlib reads the gzip wrapper and takes a partial stream
        inner = _unpacked(zlib.decompressobj(16 + zlib.MAX_WBITS).decompress, head)
        return _text_format(source, inner) + ".gz"
    return _text_format(source, head)


def _text_format(source: Path, head: bytes) -> str:
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<"):
        return "osm"
    if _OPL_LINE.match(text):
        return "opl"
    raise BadInput(
        f"{source.name} is not an OpenStreetMap file: expected PBF, OSM XML or OPL "
        "(optionally bz2 or gzip compressed).",
        "Not an OSM file",
    )


def _unpacked(decompress: Callable[[bytes], bytes], head: bytes) -> bytes:
    """The first bytes of a compressed file, or b"" if they do not decompress."""
    try:
        return decompress(head)
    except (OSError, EOFError, ValueError, zlib.error):
        return b""


# --- the cache ------------------------------------------------------------------------------


def _cache_root() -> Path:
    """home()/cache/osm, each level created 0700 (the tables may hold private data)."""
    try:
        folder = config.home()
    except FileExistsError:
        # config.home() checks, then creates: a thread that lost that race finds it made now.
        folder = config.home()
    for part in ("cache", "osm"):
        folder = folder / part
        folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _key(source: Path, stat: os.stat_result) -> str:
    ident = f"{_CACHE_VERSION}\0{source}\0{stat.st_size}\0{stat.st_mtime_ns}"
    return hashlib.sha256(ident.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def _lock(key: str) -> threading.Lock:
    """One lock per cache key, so two pages asking at once convert the file once."""
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def _manifest_json(folder: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of a complete cache folder, or None (missing or damaged: convert again)."""
    manifest = _manifest_json(folder)
    if manifest is None or not all((folder / f"{layer}.parquet").is_file() for layer in LAYERS):
        return None
    return manifest


def _drop_stale(source: Path, key: str) -> None:
    """Remove caches of earlier versions of the same file (they can never be hit again) and
    temp folders a killed conversion left behind."""
    now = time.time()
    for folder in _cache_root().iterdir():
        if folder.name == key:
            continue
        if folder.name.startswith("."):
            try:
                abandoned = now - folder.stat().st_mtime > _ABANDONED_S
            except OSError:
                continue
            if abandoned and folder.name.endswith(".tmp"):
                shutil.rmtree(folder, ignore_errors=True)
            continue
        manifest = _manifest_json(folder)
        if manifest is not None and manifest.get("source") == str(source):
            shutil.rmtree(folder, ignore_errors=True)


# --- conversion -----------------------------------------------------------------------------


def _convert(
    source: Path,
    stat: os.stat_result,
    folder: Path,
    progress: Callable[[int], object] | None,
) -> dict[str, Any]:
    """Write all layers into a temp folder, then rename it into place in one step."""
    fmt = _format(source)
    root = folder.parent
    tmp = root / f".{folder.name}.{uuid.uuid4().hex}.tmp"
    tmp.mkdir(mode=0o700)
    try:
        started = time.perf_counter()
        counts = _write_layers(source, fmt, tmp, progress)
        if _changed(source, stat):
            # The tables would mix two versions under the first one's key.
            raise BadInput(
                f"{source.name} changed while it was being read: try again.", "File changed"
            )
        manifest = {
            "version": _CACHE_VERSION,
            "source": str(source),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "format": fmt,
            "objects": counts.objects,
            "rows": counts.rows,
            "missing_geometry": counts.missing,
            "seconds": round(time.perf_counter() - started, 3),
        }
        config.atomic_write(tmp / _MANIFEST, json.dumps(manifest, indent=1), 0o600)
        if folder.exists():  # a damaged earlier attempt (no manifest or a lost layer)
            shutil.rmtree(folder)
        try:
            os.rename(tmp, folder)
        except OSError:
            # Another process finished the same conversion first: keep theirs.
            if _read_manifest(folder) is None:
                raise
        return manifest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _changed(source: Path, stat: os.stat_result) -> bool:
    try:
        now = source.stat()
    except OSError:
        return True
    return (now.st_size, now.st_mtime_ns) != (stat.st_size, stat.st_mtime_ns)


class _Counts:
    """What one conversion saw: objects read, rows written, geometries left NULL."""

    def __init__(self) -> None:
        self.objects = 0
        self.rows = dict.fromkeys(LAYERS, 0)
        self.missing = {
            "ways_missing_nodes": 0,
            "ways_too_short": 0,
            "relations_missing_members": 0,
            "relations_not_assembled": 0,
        }
        # Ids of ways with a missing node: only ways cut by the extract's edge, so few.
        self.ways_missing: set[int] = set()
        # Member way ids of each area relation left without geometry, sorted into the two
        # relation counts once every way has been seen (see _count_unassembled).
        self.unassembled: list[list[int]] = []


class _LayerWriter:
    """Buffers rows of one layer and writes them as Parquet row groups."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._schema = schema
        self._path = path
        self._writer = pq.ParquetWriter(path, schema, compression="zstd")
        self._rows: list[tuple[Any, ...]] = []
        self._weight = 0
        self.written = 0

    def add(self, row: tuple[Any, ...], weight: int = 0) -> None:
        rows = self._rows
        rows.append(row)
        if weight:
            self._weight += weight
            if self._weight >= _BATCH_WEIGHT:
                self.flush()
                return
        if len(rows) >= _BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self._rows:
            return
        columns = list(zip(*self._rows, strict=True))
        arrays = [
            pa.array(col, type=field.type) for col, field in zip(columns, self._schema, strict=True)
        ]
        self._writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self._schema))
        self.written += len(self._rows)
        self._rows = []
        self._weight = 0

    def close(self) -> None:
        self.flush()
        self._writer.close()
        os.chmod(self._path, 0o600)

    def abandon(self) -> None:
        """Close without writing the buffered rows (the folder is about to be removed)."""
        self._rows = []
        with contextlib.suppress(OSError):  # the reason the conversion failed matters more
            self._writer.close()


def _write_layers(
    source: Path, fmt: str, folder: Path, progress: Callable[[int], object] | None
) -> _Counts:
    counts = _Counts()
    writers = {
        layer: _LayerWriter(folder / f"{layer}.parquet", _SCHEMAS[layer]) for layer in LAYERS
    }
    factory = osmium.geom.WKTFactory()
    # Area relations and their assembled geometry arrive separately and in either order:
    # hold whichever comes first until its partner does (or the file ends).
    waiting_rows: dict[int, tuple[Any, ...]] = {}
    waiting_wkt: dict[int, str | None] = {}
    nodes, ways, relations = writers["nodes"], writers["ways"], writers["relations"]
    try:
        processor = (
            osmium.FileProcessor(osmium.io.File(str(source), fmt))
            .with_locations(_LOCATIONS)
            .with_areas()
        )
        seen = 0
        next_report = _PROGRESS_EVERY
        add_node = nodes.add
        # type() identity instead of the is_node()/is_way() methods: this loop runs once per
        # object and those calls were a visible share of the conversion time.
        for obj in _read(processor, source):
            kind = type(obj)
            if kind is _Area:
                if not obj.from_way():
                    _relation_area(obj, factory, relations, waiting_rows, waiting_wkt, counts)
                continue
            seen += 1
            if seen == next_report and progress is not None:
                progress(seen)
                next_report += _PROGRESS_EVERY
            if kind is _Node:
                add_node(_node_row(obj))
            elif kind is _Way:
                row = _way_row(obj, factory, counts)
                ways.add(row, len(row[4]))
            elif kind is _Relation:
                row = _relation_row(obj)
                rid = row[0]
                if row[2] not in _AREA_RELATIONS:
                    relations.add(row, len(row[3]))
                elif rid in waiting_wkt:
                    _add_area_relation(row, waiting_wkt.pop(rid), relations, counts)
                else:
                    waiting_rows[rid] = row
        counts.objects = seen
        for row in waiting_rows.values():  # no area came: a member missing, or no ring
            _add_area_relation(row, None, relations, counts)
        if progress is not None:
            progress(seen)
    except BaseException:
        for writer in writers.values():
            writer.abandon()
        raise
    for writer in writers.values():
        writer.close()
    counts.rows = {layer: writer.written for layer, writer in writers.items()}
    _count_unassembled(counts, folder / "ways.parquet")
    return counts


def _read(processor: osmium.FileProcessor, source: Path) -> Iterator[Any]:
    """The processor's objects, with libosmium's parse errors turned into a BadInput."""
    iterator = iter(processor)
    while True:
        try:
            obj = next(iterator)
        except StopIteration:
            return
        except RuntimeError as exc:  # libosmium reports corrupt input as RuntimeError
            raise BadInput(
                f"{source.name} could not be read as OpenStreetMap data: {exc}.",
                "Corrupt OSM file",
            ) from None
        yield obj


def _tags_json(tags: dict[str, str]) -> str:
    return json.dumps(tags, ensure_ascii=False, separators=(",", ":")) if tags else "{}"


def _node_row(node: Any) -> tuple[Any, ...]:
    location = node.location
    if location.valid():  # the checked .lat/.lon would test validity again
        lat, lon = location.lat_without_check(), location.lon_without_check()
    else:  # deleted nodes in history files carry no location
        lat = lon = None
    tag_list = node.tags
    if not tag_list:  # most nodes: skip building a dict
        return (node.id, lat, lon, None, "{}")
    tags = dict(tag_list)
    return (node.id, lat, lon, tags.get("name"), _tags_json(tags))


def _way_row(way: Any, factory: osmium.geom.WKTFactory, counts: _Counts) -> tuple[Any, ...]:
    way_nodes = way.nodes
    node_ids = [ref.ref for ref in way_nodes]
    tags = dict(way.tags)
    wkt: str | None = None
    # libosmium's create_linestring skips a node whose location equals the previous one, and
    # "previous" starts as an undefined Location, which is also what a missing node has: a
    # leading run of missing nodes is dropped silently (a shortened line, or "too short"),
    # while a missing node after a present one raises. So the first node is checked here and
    # the factory's InvalidLocationError covers every later one.
    if node_ids and not way_nodes[0].location.valid():
        counts.missing["ways_missing_nodes"] += 1
        counts.ways_missing.add(way.id)
    else:
        try:
            wkt = factory.create_linestring(way_nodes)
        except osmium.InvalidLocationError:  # a node is not in the file (clipped extract)
            counts.missing["ways_missing_nodes"] += 1
            counts.ways_missing.add(way.id)
        except RuntimeError:  # fewer than two distinct points
            counts.missing["ways_too_short"] += 1
    if (
        wkt is not None
        and len(node_ids) >= 4
        and node_ids[0] == node_ids[-1]
        and wkt.count(",") >= 3  # a ring needs four points after repeated ones are dropped
        and _is_area(tags)
    ):
        wkt = "POLYGON((" + wkt[len("LINESTRING(") : -1] + "))"
    return (
        way.id,
        tags.get("name"),
        tags.get("highway"),
        tags.get("building"),
        node_ids,
        wkt,
        _tags_json(tags),
    )


def _is_area(tags: dict[str, str]) -> bool:
    """Whether a closed way with these tags is a polygon rather than a closed line."""
    explicit = tags.get("area")
    if explicit is not None:
        return explicit != "no"
    for key, value in tags.items():
        if key in _AREA_KEYS and value not in _AREA_KEYS[key]:
            return True
        if key in _AREA_VALUES and value in _AREA_VALUES[key]:
            return True
    return False


def _relation_row(relation: Any) -> tuple[Any, ...]:
    tags = dict(relation.tags)
    members = [(_MEMBER_TYPES.get(m.type, m.type), m.ref, m.role) for m in relation.members]
    return (
        relation.id,
        tags.get("name"),
        tags.get("type"),
        members,
        None,
        _tags_json(tags),
    )


def _with_geometry(row: tuple[Any, ...], wkt: str | None) -> tuple[Any, ...]:
    return (*row[:4], wkt, row[5])


def _add_area_relation(
    row: tuple[Any, ...], wkt: str | None, relations: _LayerWriter, counts: _Counts
) -> None:
    """Write a multipolygon/boundary relation's row with its geometry, noting a NULL one."""
    if wkt is None:
        counts.unassembled.append([ref for kind, ref, _ in row[3] if kind == "way"])
    relations.add(_with_geometry(row, wkt), len(row[3]))


def _count_unassembled(counts: _Counts, ways_file: Path) -> None:
    """Sort the area relations left without geometry: a member way missing from the file or
    missing nodes (libosmium assembles no area then), or members all there but no area."""
    missing = counts.missing
    pending = []
    for members in counts.unassembled:
        if any(ref in counts.ways_missing for ref in members):
            missing["relations_missing_members"] += 1
        else:
            pending.append(members)
    if not pending:
        return
    # Which member ways the file has: one pass over the written ids, keeping only the wanted
    # ones (a set of every way id would cost far more memory than the few relations need).
    wanted = pa.array(sorted({ref for members in pending for ref in members}), pa.int64())
    present: set[int] = set()
    for batch in pq.ParquetFile(ways_file).iter_batches(columns=["id"]):
        ids = batch.column(0)
        present.update(pc.filter(ids, pc.is_in(ids, value_set=wanted)).to_pylist())
    for members in pending:
        if all(ref in present for ref in members):
            missing["relations_not_assembled"] += 1
        else:
            missing["relations_missing_members"] += 1


def _relation_area(
    area: Any,
    factory: osmium.geom.WKTFactory,
    relations: _LayerWriter,
    waiting_rows: dict[int, tuple[Any, ...]],
    waiting_wkt: dict[int, str | None],
    counts: _Counts,
) -> None:
    """Pair an assembled multipolygon with its relation's row (whichever came first waits)."""
    rid = area.orig_id()
    try:
        wkt: str | None = factory.create_multipolygon(area)
    except (RuntimeError, osmium.InvalidLocationError):
        wkt = None
    row = waiting_rows.pop(rid, None)
    if row is None:
        waiting_wkt[rid] = wkt
    else:
        _add_area_relation(row, wkt, relations, counts)
