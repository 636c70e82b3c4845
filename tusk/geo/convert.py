"""Geometry out of a result: shapely arrays, WGS 84 coordinates, GeoJSON, and PostGIS SQL.

How the Geo page and the Studio's Map view use this module:

1. Run the user's query as usual (`conn.execute(sql, limit=…)`), then `detect(result.table)`.
2. `geometries(table, col)` gives one geometry per row (None where NULL or invalid) and the
   mask of rows that parsed; `to_4326(geoms, col.srid)` puts them in longitude/latitude.
   Only EPSG:4326 and EPSG:3857 are converted here (3857 with the exact spherical Mercator
   inverse); any other SRID raises BadInput.
3. On PostgreSQL, when `to_4326` refuses a column's SRID (or to export the full result), let
   the server transform: run `postgis_sql(sql, [col.name], columns=result.columns)` instead
   of `sql`. It returns the same columns in the same order, each named geometry column
   replaced by `ST_AsBinary(ST_Transform(col::geometry, 4326))` (SRID-0 values are passed
   through untransformed), so `detect` then sees plain WKB in 4326.
4. `to_geojson` builds a FeatureCollection of a (mapped) table in memory; `write_geojson`
   streams the full result (`conn.stream_arrow(sql)`) into a binary file object batch by batch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import shapely

from tusk.arrow_json import json_values
from tusk.errors import BadInput
from tusk.geo.detect import GeoColumn
from tusk.geo.encoding import parse, parse_latlon

EARTH_RADIUS_M = 6378137.0  # the sphere of EPSG:3857 (WGS 84 semi-major axis)
WGS84 = 4326
# EPSG:3857 and the older codes that name the same spherical Mercator.
WEB_MERCATOR = frozenset({3857, 3785, 900913, 102100, 102113})


# --- geometries --------------------------------------------------------------------------------


def geometries(table: pa.Table, col: GeoColumn) -> tuple[np.ndarray, np.ndarray]:
    """One shapely geometry per row (None where NULL, invalid or in another SRID) and the mask
    of rows that hold one; coordinates are in the column's own SRID (see `to_4326`)."""
    return _geometries(table, col, memo=True)


def _geometries(table: pa.Table, col: GeoColumn, *, memo: bool) -> tuple[np.ndarray, np.ndarray]:
    if col.kind == "latlon":
        if col.lat is None or col.lon is None:
            raise BadInput(f"The lat/lon column {col.name!r} does not name its two columns.")
        geoms = parse_latlon(_column(table, col.lat), _column(table, col.lon))
        return geoms, ~shapely.is_missing(geoms)
    parsed, srids = parse(_column(table, col.name), col.kind, memo=memo)
    mask = ~shapely.is_missing(parsed)
    if col.srid is not None:
        mask &= (srids == 0) | (srids == col.srid)
    # A fresh array: the memoised parse is shared and must not be edited.
    geoms = parsed.copy()
    geoms[~mask] = None
    return geoms, mask


def _column(table: pa.Table, name: str) -> pa.ChunkedArray:
    """A column by name; BadInput when it is missing or its name is not unique."""
    index = table.schema.get_field_index(name)
    if index < 0:
        raise BadInput(
            f"The result has no single column named {name!r}: run the query again and pick "
            "the geometry column from the new result.",
            "Geometry column missing",
        )
    return table.column(index)


# --- coordinates -------------------------------------------------------------------------------


def to_4326(geoms: np.ndarray, srid: int | None) -> np.ndarray:
    """Geometries in longitude/latitude (EPSG:4326); SRID None or 0 is taken as 4326 already.

    EPSG:3857 is inverted with the exact spherical Mercator formulas; any other SRID raises
    BadInput (on PostgreSQL, `postgis_sql` lets the server transform instead).
    """
    if srid is None or srid in (0, WGS84):
        return geoms
    if srid in WEB_MERCATOR:
        # No set_srid on the result: it copies every geometry again (a third of the time).
        return shapely.transform(geoms, _mercator_to_lonlat, include_z=None)
    raise BadInput(
        f"The geometry is in SRID {srid}; Tusk converts only EPSG:4326 and EPSG:3857 to map "
        "coordinates itself. Transform it in the query: on PostgreSQL select "
        "ST_Transform(<column>, 4326) (the Geo page can wrap the query for you); on DuckDB "
        f"ST_Transform(<column>, 'EPSG:{srid}', 'EPSG:4326', always_xy := true).",
        "Unsupported SRID",
    )


def _mercator_to_lonlat(coords: np.ndarray) -> np.ndarray:
    """Spherical Mercator metres → degrees; Z (if any) untouched."""
    out = np.array(coords, dtype=float, copy=True)
    out[:, 0] = np.degrees(coords[:, 0] / EARTH_RADIUS_M)
    out[:, 1] = np.degrees(2.0 * np.arctan(np.exp(coords[:, 1] / EARTH_RADIUS_M)) - math.pi / 2)
    return out


def lonlat_to_mercator(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Degrees → spherical Mercator metres (latitude clamped to Mercator's ±85.0511°)."""
    lat = np.clip(lat, -85.05112878, 85.05112878)
    x = np.radians(lon) * EARTH_RADIUS_M
    y = np.log(np.tan(math.pi / 4 + np.radians(lat) / 2)) * EARTH_RADIUS_M
    return x, y


# --- PostGIS -------------------------------------------------------------------------------------

_ALIAS = "tusk_geo"


def postgis_sql(
    sql: str, geometry_columns: Sequence[str], *, columns: Sequence[str] | None = None
) -> str:
    """Wrap one SELECT so PostGIS returns the named geometry columns as WKB in EPSG:4326.

    With `columns` (the result's column names, e.g. `QueryResult.columns`) the wrapper keeps
    every column in place and replaces the geometry ones; without it, the other columns come
    through `tusk_geo.*` unchanged and each geometry is appended as `<name>_4326`.
    Identifiers are quoted by psycopg.sql; the user's own SQL is kept as written.
    """
    from psycopg import sql as pgsql  # quoting only; queries still run through the engine

    from tusk.sqltext import split

    statements = split(sql, "postgres")
    if len(statements) != 1:
        raise BadInput(
            "Put one SELECT statement in the query to map it (found "
            f"{len(statements)} statements).",
            "One statement needed",
        )
    if not geometry_columns:
        raise BadInput("Name at least one geometry column to transform.", "No geometry column")
    geo = list(dict.fromkeys(geometry_columns))
    alias = pgsql.Identifier(_ALIAS)

    def wrapped(name: str, out: str) -> pgsql.Composable:
        """The column as WKB in 4326, named `out`."""
        c = pgsql.SQL("{}.{}").format(alias, pgsql.Identifier(name))
        return pgsql.SQL(
            "ST_AsBinary(CASE WHEN ST_SRID({c}::geometry) = 0 THEN {c}::geometry "
            "ELSE ST_Transform({c}::geometry, 4326) END) AS {out}"
        ).format(c=c, out=pgsql.Identifier(out))

    if columns is not None:
        missing = [g for g in geo if g not in columns]
        if missing:
            raise BadInput(f"The result has no column {missing[0]!r}.", "Geometry column missing")
        items = [
            wrapped(c, c) if c in geo else pgsql.SQL("{}.{}").format(alias, pgsql.Identifier(c))
            for c in columns
        ]
    else:
        items = [pgsql.SQL("{}.*").format(alias)] + [wrapped(g, f"{g}_4326") for g in geo]
    # The newline ends a trailing "-- comment" in the user's SQL before the closing paren.
    query = pgsql.SQL("SELECT {items} FROM (\n{body}\n) AS {alias}").format(
        items=pgsql.SQL(", ").join(items), body=pgsql.SQL(statements[0].text), alias=alias
    )
    return query.as_string(None)


# --- GeoJSON ---------------------------------------------------------------------------------------


def property_columns(table: pa.Table, col: GeoColumn) -> list[int]:
    """Indexes of the columns that become properties: all but the geometry column (a lat/lon
    pair keeps its two number columns, which read well as properties)."""
    skip = set() if col.kind == "latlon" else {col.name}
    return [i for i, f in enumerate(table.schema) if f.name not in skip]


def to_geojson(
    table: pa.Table, col: GeoColumn, *, properties: bool = True, include_null: bool = False
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection (WGS 84) of the table's rows, other columns as properties.

    Rows without a valid geometry are left out unless `include_null`, which keeps them as
    features with `"geometry": null`. Every value is JSON-safe (`json.dumps(..., allow_nan=False)`
    accepts the result): tusk.arrow_json says how each type is written.
    """
    geoms, mask = geometries(table, col)
    geoms = to_4326(geoms, col.srid)
    rows = np.arange(table.num_rows) if include_null else np.flatnonzero(mask)
    shapes = _geometry_texts(geoms[rows], mask[rows])
    props = _property_rows(table, col, rows) if properties else [{} for _ in rows]
    features = [
        {
            "type": "Feature",
            "geometry": None if shape is None else json.loads(shape),
            "properties": p,
        }
        for shape, p in zip(shapes, props, strict=True)
    ]
    return {"type": "FeatureCollection", "features": features}


@dataclass(frozen=True)
class GeoJSONSummary:
    """What `write_geojson` wrote."""

    features: int
    skipped: int  # rows without a valid geometry (NULL, invalid, other SRID)
    bytes_written: int


def write_geojson(
    data: pa.Table | Iterable[pa.RecordBatch],
    col: GeoColumn,
    target: BinaryIO,
    *,
    properties: bool = True,
    include_null: bool = False,
    progress: Callable[[int], object] | None = None,
) -> GeoJSONSummary:
    """Stream a FeatureCollection into a binary file object, one Arrow batch at a time.

    `data` is a table or the batches of `Connection.stream_arrow`; `col` comes from `detect`
    on the first page of the same query. Nothing is written before the first batch converts,
    so an unsupported SRID fails with an empty target. `progress` gets the rows read so far.
    """
    batches = data.to_batches() if isinstance(data, pa.Table) else data
    features = skipped = written = rows_read = 0
    started = False
    for batch in batches:
        table = pa.Table.from_batches([batch])
        geoms, mask = _geometries(table, col, memo=False)  # each batch is seen once
        geoms = to_4326(geoms, col.srid)
        rows = np.arange(table.num_rows) if include_null else np.flatnonzero(mask)
        skipped += table.num_rows - int(mask.sum())
        rows_read += table.num_rows
        if len(rows):
            shapes = _geometry_texts(geoms[rows], mask[rows])
            props = _property_rows(table, col, rows) if properties else [{} for _ in rows]
            parts = [
                '{"type":"Feature","geometry":'
                + ("null" if shape is None else shape)
                + ',"properties":'
                + _dumps(p)
                + "}"
                for shape, p in zip(shapes, props, strict=True)
            ]
            head = '{"type":"FeatureCollection","features":[\n' if not started else ",\n"
            written += _write(target, head + ",\n".join(parts))
            started = True
            features += len(rows)
        if progress is not None:
            progress(rows_read)
    tail = "\n]}\n" if started else '{"type":"FeatureCollection","features":[]}\n'
    written += _write(target, tail)
    return GeoJSONSummary(features, skipped, written)


def _write(target: BinaryIO, text: str) -> int:
    data = text.encode("utf-8")
    target.write(data)
    return len(data)


def _geometry_texts(geoms: np.ndarray, mask: np.ndarray) -> list[str | None]:
    """GeoJSON text per geometry (one vectorized shapely call), None where there is none."""
    out: list[str | None] = [None] * len(geoms)
    # Empty geometries have no valid GeoJSON coordinates ("Polygon" with [[]]): write null.
    drawn = mask & ~shapely.is_empty(geoms)
    if drawn.any():
        texts = shapely.to_geojson(geoms[drawn])
        for i, text in zip(np.flatnonzero(drawn).tolist(), texts.tolist(), strict=True):
            out[i] = text
    return out


def _property_rows(table: pa.Table, col: GeoColumn, rows: np.ndarray) -> list[dict[str, Any]]:
    """The chosen rows' other columns as JSON-safe dicts."""
    picked = table.take(pa.array(rows, type=pa.int64())) if len(rows) != table.num_rows else table
    keep = property_columns(table, col)
    names = [table.schema[i].name for i in keep]
    values = [json_values(picked.column(i)) for i in keep]
    return (
        [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]
        if keep
        else [{} for _ in rows]
    )


_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _dumps(value: Any) -> str:
    return _ENCODER.encode(value)
