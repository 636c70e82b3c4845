"""How geometry is encoded in an Arrow column, and turning each encoding into shapely arrays.

Every parser is one vectorized shapely call (`from_wkb`, `from_wkt`, `from_geojson`, `points`)
over the whole column; a value that does not parse becomes None (shapely's
`on_invalid="ignore"`), so a bad row is counted and skipped, never fatal. No hand-written
WKB/WKT parsing: the only text handling is splitting EWKT's `SRID=n;` prefix off with an
Arrow regex.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Hashable
from decimal import Decimal
from typing import Any, Literal, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely

GeoKind = Literal["wkb", "wkt", "ewkt", "geojson", "latlon", "duckdb_geometry", "postgis"]
KINDS: tuple[str, ...] = ("wkb", "wkt", "ewkt", "geojson", "latlon", "duckdb_geometry", "postgis")

Column: TypeAlias = "pa.Array | pa.ChunkedArray"

# Arrow extension names that DuckDB (and other GeoArrow producers) put on geometry columns.
GEOARROW_WKB = "geoarrow.wkb"
GEOARROW_WKT = "geoarrow.wkt"

# EWKT: an optional "SRID=n;" then WKT. (?s) lets the WKT part span lines.
_EWKT = r"(?s)^\s*(?:[Ss][Rr][Ii][Dd]\s*=\s*(?P<srid>\d+)\s*;)?(?P<wkt>.*)$"


def is_text(t: pa.DataType) -> bool:
    """True for every Arrow string type."""
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def is_binary(t: pa.DataType) -> bool:
    """True for every Arrow binary type."""
    return (
        pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_binary_view(t)
        or pa.types.is_fixed_size_binary(t)
    )


def is_number(t: pa.DataType) -> bool:
    """True for integer, floating point and decimal types."""
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def is_nested(t: pa.DataType) -> bool:
    """True for struct, map and list types (GeoJSON objects arrive as these)."""
    return pa.types.is_struct(t) or pa.types.is_map(t) or pa.types.is_list(t)


def combined(col: Column) -> pa.Array:
    """One contiguous array (dictionary columns decoded)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if isinstance(col.type, pa.ExtensionType):
        col = col.storage
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    return col


def _objects(col: pa.Array) -> np.ndarray:
    """An Arrow array as a numpy object array (None for NULL), the form shapely reads."""
    if pa.types.is_string_view(col.type):
        col = col.cast(pa.string())
    elif pa.types.is_binary_view(col.type) or pa.types.is_fixed_size_binary(col.type):
        col = col.cast(pa.binary())
    return col.to_numpy(zero_copy_only=False)


# --- parsers ---------------------------------------------------------------------------------


def parse_wkb(col: Column) -> np.ndarray:
    """(E)WKB from binary or hex text: geometries, None where a value does not parse."""
    arr = combined(col)
    if is_text(arr.type):
        arr = pc.utf8_trim_whitespace(arr)
    return shapely.from_wkb(_objects(arr), on_invalid="ignore")


def parse_wkt(col: Column) -> tuple[np.ndarray, np.ndarray]:
    """WKT or EWKT text: (geometries, SRID per row with 0 where the text named none)."""
    arr = combined(col)
    if not is_text(arr.type):
        arr = arr.cast(pa.string())
    parts = pc.extract_regex(arr, _EWKT)
    wkt = parts.field("wkt")
    srid_text = parts.field("srid")
    srid = pc.if_else(pc.equal(srid_text, ""), None, srid_text)
    srids = srid.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
    geoms = shapely.from_wkt(_objects(wkt), on_invalid="ignore")
    return geoms, srids.astype(np.int64)


def parse_geojson(col: Column) -> np.ndarray:
    """GeoJSON geometries (or Features) from text or from struct/map values."""
    arr = combined(col)
    if is_nested(arr.type):
        # Objects (DuckDB structs, Parquet structs): back to JSON text, then one shapely call.
        texts = [None if v is None else json.dumps(_plain(v)) for v in arr.to_pylist()]
        return shapely.from_geojson(np.array(texts, dtype=object), on_invalid="ignore")
    if not is_text(arr.type):
        arr = arr.cast(pa.string())
    return shapely.from_geojson(_objects(arr), on_invalid="ignore")


def _plain(v: Any) -> Any:
    """A nested Arrow value as JSON-able Python (decimals → float, map pairs → dict)."""
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        if v and all(isinstance(x, tuple) and len(x) == 2 for x in v):  # an Arrow map
            return {k: _plain(x) for k, x in v}
        return [_plain(x) for x in v]
    return v


def numbers(col: Column) -> np.ndarray:
    """A numeric or numeric-text column as float64, NaN where a value is missing or not a
    number (text is filtered by a regex first so one bad value does not fail the cast)."""
    arr = combined(col)
    t = arr.type
    if pa.types.is_decimal(t):
        # Through text: Arrow's decimal → double cast can miss the nearest double by an ulp.
        return arr.cast(pa.string()).cast(pa.float64()).to_numpy(zero_copy_only=False)
    if is_number(t):
        return arr.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False).astype(float)
    if is_text(t):
        arr = pc.utf8_trim_whitespace(arr.cast(pa.string()))
        ok = pc.match_substring_regex(arr, r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
        arr = pc.if_else(ok, arr, None)
        return arr.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(float)
    return np.full(len(arr), np.nan)


def latlon_values(lat: Column, lon: Column) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lon, lat, valid): valid where both are numbers inside ±180 / ±90."""
    y = numbers(lat)
    x = numbers(lon)
    with np.errstate(invalid="ignore"):
        valid = (np.abs(y) <= 90.0) & (np.abs(x) <= 180.0)
    return x, y, valid


def parse_latlon(lat: Column, lon: Column) -> np.ndarray:
    """Points from a latitude and a longitude column; None where either is invalid."""
    x, y, valid = latlon_values(lat, lon)
    geoms = np.full(len(x), None, dtype=object)
    if valid.any():
        geoms[valid] = shapely.points(x[valid], y[valid])
    return geoms


def parse(col: Column, kind: str, *, memo: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(geometries, SRID per row; 0 = none given) for a single-column kind; memoised for the
    column's Arrow buffers, so detection and drawing the same result parse it once."""
    key = _fingerprint(col, kind) if memo else None
    cached = _CACHE.get(key) if key is not None else None
    if cached is not None:
        return cached
    if kind in ("wkt", "ewkt"):
        geoms, srids = parse_wkt(col)
    else:
        if kind == "geojson":
            geoms = parse_geojson(col)
        elif kind in ("wkb", "duckdb_geometry", "postgis"):
            geoms = parse_wkb(col)  # binary WKB, or hex (E)WKB text as psycopg returns PostGIS
        else:
            raise ValueError(f"unknown single-column geometry kind {kind!r}")
        srids = shapely.get_srid(geoms).astype(np.int64)
        srids[srids < 0] = 0  # get_srid gives -1 for None
    if key is not None:
        _CACHE.put(key, (geoms, srids), col)
    return geoms, srids


# --- memo ------------------------------------------------------------------------------------


def _fingerprint(col: Column, kind: str) -> Hashable:
    """Identify a column by its buffers' addresses; the memo keeps the column alive, so no
    other data can take those addresses while the entry exists."""
    chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
    parts = []
    for chunk in chunks:
        bufs = tuple((b.address, b.size) if b is not None else (0, 0) for b in chunk.buffers())
        parts.append((str(chunk.type), chunk.offset, len(chunk), bufs))
    return (kind, tuple(parts))


class _Memo:
    """A tiny LRU of recent parses (a Map rerun parses the same result it detected), capped
    by rows: 1M shapely points take about 220 MB, so a column bigger than `max_rows` is not
    kept at all (it is parsed again when drawn) and older entries go first."""

    def __init__(self, size: int, max_rows: int) -> None:
        self._size = size
        self._max_rows = max_rows
        self._items: OrderedDict[Hashable, tuple[Any, Column, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        """The memoised value, or None."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: Hashable, value: Any, keep: Column) -> None:
        """Remember a parse of `keep` (held, so its buffers' addresses stay its own)."""
        rows = len(keep)
        if rows > self._max_rows:
            return
        with self._lock:
            self._items[key] = (value, keep, rows)
            self._items.move_to_end(key)
            total = sum(item[2] for item in self._items.values())
            while len(self._items) > self._size or total > self._max_rows:
                _, (_, _, dropped) = self._items.popitem(last=False)
                total -= dropped

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()


MEMO_ROWS = 1_000_000
_CACHE = _Memo(4, MEMO_ROWS)


def clear_cache() -> None:
    """Forget memoised parses (benchmarks use it to time a cold parse)."""
    _CACHE.clear()


# --- SRIDs -----------------------------------------------------------------------------------


def dominant_srid(srids: np.ndarray, valid: np.ndarray) -> int | None:
    """The most common non-zero SRID among valid rows, or None when no row names one."""
    named = srids[valid & (srids > 0)]
    if named.size == 0:
        return None
    values, counts = np.unique(named, return_counts=True)
    return int(values[np.argmax(counts)])


def crs_srid(field: pa.Field) -> int | None:
    """The EPSG code in a GeoArrow field's CRS metadata (PROJJSON or "EPSG:n"), if any."""
    meta = field.metadata or {}
    raw = meta.get(b"ARROW:extension:metadata")
    t = field.type
    if raw is None and isinstance(t, pa.ExtensionType):
        raw = t.__arrow_ext_serialize__()
    if not raw:
        return None
    try:
        crs = json.loads(raw).get("crs")
    except (ValueError, AttributeError):
        return None
    if isinstance(crs, str):
        return _srid_text(crs)
    if isinstance(crs, dict):
        ident = crs.get("id") or {}
        authority, code = str(ident.get("authority", "")).upper(), str(ident.get("code", ""))
        if authority == "EPSG" and code.isdigit():
            return int(code)
        if authority == "OGC" and code.upper() == "CRS84":
            return 4326
    return None


def _srid_text(text: str) -> int | None:
    """EPSG code from "EPSG:3857" or "OGC:CRS84"."""
    authority, _, code = text.strip().partition(":")
    if authority.upper() == "EPSG" and code.isdigit():
        return int(code)
    if authority.upper() == "OGC" and code.upper() == "CRS84":
        return 4326
    return None


def field_extension(field: pa.Field) -> str | None:
    """The GeoArrow extension name on a field (metadata or registered extension type)."""
    if isinstance(field.type, pa.ExtensionType):
        return field.type.extension_name
    meta = field.metadata or {}
    name = meta.get(b"ARROW:extension:name")
    return name.decode() if name else None
