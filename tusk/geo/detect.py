"""Find the geometry in a query result: which columns hold places, how, and how many parse.

`detect(table)` looks at each column's Arrow type and metadata first (DuckDB's GEOMETRY arrives
as `geoarrow.wkb` binary, with its CRS), then at a sample of its values (WKT/EWKT, hex or binary
WKB, GeoJSON text or objects), then pairs latitude/longitude columns by name *and* value range.
Once a column's kind is known, the whole column is parsed (one vectorized shapely call) so the
counts are exact; the parse is memoised, so drawing the same result right after detecting it
does not parse it again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import get_args

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from tusk.geo.encoding import (
    GEOARROW_WKB,
    GEOARROW_WKT,
    Column,
    GeoKind,
    combined,
    crs_srid,
    dominant_srid,
    field_extension,
    is_binary,
    is_nested,
    is_number,
    is_text,
    latlon_values,
    parse,
)

SAMPLE = 1000  # values looked at to decide what a text/binary column holds
MIN_SHARE = 0.5  # a column is geometry when at least this share of its non-NULL values parse

LAT_WORDS = frozenset({"lat", "latitude", "y"})
LON_WORDS = frozenset({"lon", "lng", "long", "longitude", "x"})

_WKT_START = (
    r"(?i)^\s*(SRID\s*=\s*\d+\s*;\s*)?"
    r"(POINT|LINESTRING|POLYGON|MULTIPOINT|MULTILINESTRING|MULTIPOLYGON|GEOMETRYCOLLECTION"
    r"|CIRCULARSTRING|COMPOUNDCURVE|CURVEPOLYGON|MULTICURVE|MULTISURFACE|TRIANGLE|TIN"
    r"|POLYHEDRALSURFACE)\b"
)
_HEX_WKB = r"^\s*(00|01)([0-9A-Fa-f]{2}){4,}\s*$"
_JSON_OBJECT = r"^\s*\{"


@dataclass(frozen=True)
class GeoColumn:
    """A column (or a latitude/longitude pair) that holds geometry, and how well it parsed.

    `name` is the column's name; for a lat/lon pair it is "<lat>/<lon>" and `lat`/`lon` name
    the two columns. `parsed` + `invalid` + `nulls` = the table's rows. `srid` is the spatial
    reference the values carry (EWKB/EWKT prefix, GeoArrow CRS, or the PostGIS type's typmod);
    None means none was given, and the coordinates are taken as longitude/latitude (4326).
    """

    name: str
    kind: GeoKind
    lat: str | None = None
    lon: str | None = None
    parsed: int = 0
    invalid: int = 0
    nulls: int = 0
    srid: int | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """The table columns the geometry is read from."""
        if self.kind == "latlon" and self.lat is not None and self.lon is not None:
            return (self.lat, self.lon)
        return (self.name,)

    @property
    def summary(self) -> str:
        """One line for a picker: name, kind, SRID and counts."""
        kind = {
            "wkb": "WKB",
            "wkt": "WKT",
            "ewkt": "EWKT",
            "geojson": "GeoJSON",
            "latlon": "lat/lon",
            "duckdb_geometry": "DuckDB GEOMETRY",
            "postgis": "PostGIS",
        }[self.kind]
        srid = f", SRID {self.srid}" if self.srid else ""
        extra = []
        if self.invalid:
            extra.append(f"{self.invalid:,} invalid")
        if self.nulls:
            extra.append(f"{self.nulls:,} NULL")
        tail = f" ({', '.join(extra)})" if extra else ""
        return f"{self.name} — {kind}{srid}: {self.parsed:,} parsed{tail}"


def detect(
    table: pa.Table,
    *,
    hints: dict[str, str] | None = None,
    sample: int = SAMPLE,
    min_share: float = MIN_SHARE,
) -> list[GeoColumn]:
    """The geometry columns of a result, in column order (lat/lon pairs at their first column).

    `hints` maps column names to the type name the engine reported: PostgreSQL's "geometry" /
    "geography" (also with a typmod, "geometry(Point,3857)") make the column "postgis";
    DuckDB's "GEOMETRY" (upper case, as DuckDB spells it) makes it "duckdb_geometry"; a kind
    name ("wkb", "geojson", …) forces that kind. A hinted column is reported even when few of
    its values parse.
    """
    hints = hints or {}
    found: list[tuple[int, GeoColumn]] = []
    for i, field in enumerate(table.schema):
        col = table.column(i)
        kind, hint_srid = _hinted(hints.get(field.name))
        ext = field_extension(field)
        if kind is None and ext == GEOARROW_WKB:
            kind = "duckdb_geometry"
        elif kind is None and ext == GEOARROW_WKT:
            kind = "wkt"
        forced = kind is not None
        if kind is None:
            kind = _sniff(col, sample, min_share)
        if kind is None:
            continue
        geo = _measure(field, col, kind, hint_srid)
        if forced or geo.parsed >= max(1.0, min_share * (len(col) - geo.nulls)):
            found.append((i, geo))
    used = {g.name for _, g in found}
    found.extend(_latlon_pairs(table, used, min_share))
    found.sort(key=lambda item: item[0])
    return [g for _, g in found]


# --- hints -----------------------------------------------------------------------------------

_PG_TYPE = re.compile(r'^\s*(?:"?\w+"?\.)?"?(geometry|geography)"?\s*(?:\((.*)\))?\s*$')
_DUCK_TYPE = re.compile(r"^\s*GEOMETRY\s*(?:\(\s*'([^']*)'\s*\))?\s*$")


def _hinted(hint: str | None) -> tuple[GeoKind | None, int | None]:
    """(kind, SRID) from an engine's type name for the column."""
    if not hint:
        return None, None
    text = hint.strip()
    for kind in get_args(GeoKind):
        if text == kind and kind != "latlon":
            return kind, None
    m = _DUCK_TYPE.match(text)
    if m:  # DuckDB spells its type in capitals, PostgreSQL's format_type in lower case
        crs = m.group(1)
        authority, _, code = (crs or "").partition(":")
        srid = int(code) if authority.upper() == "EPSG" and code.isdigit() else None
        return "duckdb_geometry", srid
    m = _PG_TYPE.match(text.lower())
    if m:
        srid = None
        if m.group(2):
            last = m.group(2).split(",")[-1].strip()
            srid = int(last) if last.isdigit() and int(last) > 0 else None
        if srid is None and m.group(1) == "geography":
            srid = 4326  # geography without a typmod is WGS 84
        return "postgis", srid
    return None, None


# --- single columns --------------------------------------------------------------------------


def _sniff(col: Column, sample: int, min_share: float) -> GeoKind | None:
    """Guess a column's encoding from a sample of its non-NULL values."""
    t = col.type
    if isinstance(t, pa.ExtensionType):
        t = t.storage_type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if not (is_text(t) or is_binary(t) or is_nested(t)):
        return None
    head = pc.drop_null(col.slice(0, max(sample * 20, sample)))
    if len(head) == 0:
        head = pc.drop_null(col)
    head = combined(head.slice(0, sample))
    if len(head) == 0:
        return None
    if is_binary(t):
        candidates: list[GeoKind] = ["wkb"]
    elif is_nested(t):
        if pa.types.is_struct(t) and t.get_field_index("type") < 0:
            return None
        candidates = ["geojson"]
    else:
        text = head.cast(pa.string()) if not pa.types.is_string(t) else head
        scores: dict[GeoKind, int] = {
            "wkt": _count(text, _WKT_START),
            "wkb": _count(text, _HEX_WKB),
            "geojson": _count(text, _JSON_OBJECT),
        }
        candidates = [k for k, n in sorted(scores.items(), key=lambda kv: -kv[1]) if n]
    for kind in candidates:
        geoms, _ = parse(head, kind, memo=False)
        if int((~shapely.is_missing(geoms)).sum()) >= min_share * len(head):
            return kind
    return None


def _count(text: pa.ChunkedArray | pa.Array, pattern: str) -> int:
    """How many values match a regex."""
    return int(pc.sum(pc.match_substring_regex(text, pattern)).as_py() or 0)


def _measure(field: pa.Field, col: Column, kind: GeoKind, hint_srid: int | None) -> GeoColumn:
    """Parse the whole column and count what parsed."""
    geoms, srids = parse(col, kind)
    valid = ~shapely.is_missing(geoms)
    srid = dominant_srid(srids, valid) or crs_srid(field) or hint_srid
    if srid is not None:
        # A row that names another SRID cannot share the column's conversion: skip it.
        valid &= (srids == 0) | (srids == srid)
    if kind == "wkt" and bool((srids[valid] > 0).any()):
        kind = "ewkt"
    nulls = col.null_count
    parsed = int(valid.sum())
    return GeoColumn(
        name=field.name,
        kind=kind,
        parsed=parsed,
        invalid=len(col) - nulls - parsed,
        nulls=nulls,
        srid=srid,
    )


# --- latitude / longitude pairs ----------------------------------------------------------------


def name_tokens(name: str) -> list[str]:
    """A column name's words, lower-cased: "pickupLat" → ["pickup", "lat"]."""
    return [w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", name)]


def _pair_keys(name: str, words: frozenset[str]) -> list[tuple[str, ...]]:
    """The name with one lat (or lon) word replaced by "*": equal keys make a pair."""
    tokens = name_tokens(name)
    return [
        tuple("*" if j == i else t for j, t in enumerate(tokens))
        for i, t in enumerate(tokens)
        if t in words
    ]


def _latlon_pairs(table: pa.Table, used: set[str], min_share: float) -> list[tuple[int, GeoColumn]]:
    """Latitude/longitude column pairs whose names match and whose values are in range."""
    lats: dict[tuple[str, ...], list[int]] = {}
    lons: dict[tuple[str, ...], list[int]] = {}
    for i, field in enumerate(table.schema):
        t = field.type
        if field.name in used or not (is_number(t) or is_text(t)):
            continue
        for key in _pair_keys(field.name, LAT_WORDS):
            lats.setdefault(key, []).append(i)
        for key in _pair_keys(field.name, LON_WORDS):
            lons.setdefault(key, []).append(i)
    scored: list[tuple[int, int, int, GeoColumn]] = []
    for key in lats.keys() & lons.keys():
        for i in lats[key]:
            for j in lons[key]:
                if i != j:
                    geo = _measure_pair(table, i, j)
                    nonnull = table.num_rows - geo.nulls
                    if geo.parsed and geo.parsed >= min_share * nonnull:
                        scored.append((geo.parsed, i, j, geo))
    pairs: list[tuple[int, GeoColumn]] = []
    taken: set[int] = set()
    for _, i, j, geo in sorted(scored, key=lambda s: (-s[0], s[1], s[2])):
        if i in taken or j in taken:
            continue  # one column belongs to one pair: the best-parsing one
        taken.update((i, j))
        pairs.append((min(i, j), geo))
    return pairs


def _measure_pair(table: pa.Table, i: int, j: int) -> GeoColumn:
    """Count how many rows of a lat/lon pair are numbers in range."""
    lat, lon = table.column(i), table.column(j)
    _, _, valid = latlon_values(lat, lon)
    missing = np.zeros(table.num_rows, dtype=bool)
    if lat.null_count or lon.null_count:
        missing = (pc.is_null(lat).to_numpy(zero_copy_only=False)) | (
            pc.is_null(lon).to_numpy(zero_copy_only=False)
        )
    nulls = int(missing.sum())
    parsed = int(valid.sum())
    lat_name, lon_name = table.schema[i].name, table.schema[j].name
    return GeoColumn(
        name=f"{lat_name}/{lon_name}",
        kind="latlon",
        lat=lat_name,
        lon=lon_name,
        parsed=parsed,
        invalid=table.num_rows - nulls - parsed,
        nulls=nulls,
        srid=4326,
    )
