"""Build the pydeck.Deck that draws a result's geometry (for `st.pydeck_chart`).

- Points → ScatterplotLayer, lines → PathLayer, polygons → PolygonLayer (fill + outline); a
  mixed column gets one layer of each kind it holds (multi-part geometries and collections are
  split into their parts, each part remembering its row).
- Dense points: "hexagon" bins them here, in Python, on a flat-top hexagon grid in Web
  Mercator, and draws the bins as a ColumnLayer with six-sided flat discs sized in deck.gl's
  common (Mercator) units, so they tile exactly and only the bins reach the browser;
  "heatmap" is a HeatmapLayer (pre-binned into weighted points above `max_features`).
- Above `max_features` rows, points are aggregated into hexagons ("auto") and other
  geometries are drawn from a random sample; `MapPlan.notice` says which.
- Every layer is `pickable=True` with a fixed `id`; each drawn object carries `row` (its row
  in the table) and `tip` (the row's other columns as text, the tooltip), so
  `MapPlan.selected_rows(event.selection)` maps a click back to table rows.
- Offline-safe: without `tiles` the deck's map style is an inline empty style (a `data:` URL,
  no source, no layer), so nothing is fetched and the layers draw on a blank background. With
  a `tiles` URL template (`https://…/{z}/{x}/{y}.png`) the map style is an inline raster style
  on that template, drawn by the base map under the layers. (deck.gl's TileLayer cannot be used
  from pydeck's JSON: its raster tiles need a JavaScript `renderSubLayers` function.)
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pyarrow as pa
import shapely

from tusk.errors import BadInput
from tusk.geo.convert import (
    geometries,
    to_4326,
)
from tusk.geo.detect import GeoColumn
from tusk.geo.encoding import is_number, latlon_values
from tusk.geo.layers import (
    POINT,
    LayerBuilder,
    MapPlan,
    column_of,
    explode,
    fitted_view,
)

LayerChoice = Literal["auto", "scatter", "path", "polygon", "heatmap", "hexagon"]
LAYER_CHOICES: tuple[str, ...] = ("auto", "scatter", "path", "polygon", "heatmap", "hexagon")


def build_deck(
    table: pa.Table,
    col: GeoColumn,
    *,
    layer: LayerChoice = "auto",
    color_by: str | None = None,
    size_by: str | None = None,
    max_features: int = 100_000,
    tiles: str | None = None,
) -> MapPlan:
    """Draw `col` of `table` as a Deck fitted to the data (see the module docstring)."""
    if layer not in LAYER_CHOICES:
        raise BadInput(f"Unknown layer {layer!r}: use one of {', '.join(LAYER_CHOICES)}.")
    if max_features < 1:
        raise BadInput("max_features must be at least 1.")
    for name in (color_by, size_by):
        if name is not None and table.schema.get_field_index(name) < 0:
            raise BadInput(f"The result has no single column named {name!r}.", "Unknown column")
    if size_by is not None and not is_number(table.schema.field(size_by).type):
        raise BadInput(
            f"Size by needs a number column; {size_by!r} is {table.schema.field(size_by).type}.",
            "Not a number column",
        )

    points_only = col.kind == "latlon"
    geoms: np.ndarray | None = None  # shapely geometries, or
    x: np.ndarray | None = None  # longitudes and latitudes of a lat/lon pair
    y: np.ndarray | None = None
    if points_only:
        x, y, mask = latlon_values(column_of(table, col.lat), column_of(table, col.lon))
    else:
        geoms, mask = geometries(table, col)
        geoms = to_4326(geoms, col.srid)
    valid_rows = np.flatnonzero(mask)
    total = len(valid_rows)
    notes: list[str] = []
    skipped = table.num_rows - total
    if skipped:
        notes.append(
            f"{skipped:,} of {table.num_rows:,} rows have no valid geometry and are not drawn."
        )

    builder = LayerBuilder(table, col, color_by, size_by)
    if total == 0:
        return builder.plan(fitted_view(None), tiles, total, total, False, notes)

    if geoms is not None:
        west, south, east, north = (float(v) for v in shapely.total_bounds(geoms[valid_rows]))
        bounds = (west, south, east, north)
        if not math.isfinite(bounds[0]):  # only empty geometries
            return builder.plan(fitted_view(None), tiles, 0, total, False, notes)
        types = shapely.get_type_id(geoms[valid_rows])
        points_only = bool(np.isin(types, (0, 4)).all())
    else:
        assert x is not None and y is not None
        bounds = (
            float(x[valid_rows].min()),
            float(y[valid_rows].min()),
            float(x[valid_rows].max()),
            float(y[valid_rows].max()),
        )
    if bounds[0] < -180.5 or bounds[2] > 180.5 or bounds[1] < -90.5 or bounds[3] > 90.5:
        notes.append(
            "Some coordinates are outside longitude/latitude ranges: the column may be in a "
            "projected SRID that the data does not name. Transform it to EPSG:4326 in the query."
        )

    aggregate = layer in ("hexagon", "heatmap") or (
        layer == "auto" and points_only and total > max_features
    )
    if aggregate:
        px, py, prow = _as_points(geoms, x, y, valid_rows)
        if layer == "heatmap":
            builder.heatmap(px, py, prow, dense=total > max_features)
            if total > max_features:
                notes.insert(0, f"{total:,} points are pre-aggregated into the heatmap.")
        else:
            bins = builder.hexagons(px, py, prow)
            if layer == "auto":
                notes.insert(
                    0,
                    f"{total:,} points are more than {max_features:,}: they are counted into "
                    f"{bins:,} hexagons so the browser stays responsive.",
                )
        plan = builder.plan(fitted_view(bounds), tiles, total, total, False, notes)
        plan.aggregated = True
        return plan

    rows = valid_rows
    sampled = total > max_features
    if sampled:
        rng = np.random.default_rng(0)  # the same sample on every rerun
        rows = np.sort(rng.choice(valid_rows, size=max_features, replace=False))
        notes.insert(
            0,
            f"Showing a random sample of {max_features:,} of {total:,} features so the browser "
            "stays responsive.",
        )
    if geoms is None:
        assert x is not None and y is not None
        builder.points(x[rows], y[rows], rows)
    else:
        builder.features(geoms[rows], rows, layer)
    return builder.plan(fitted_view(bounds), tiles, len(rows), total, sampled, notes)


def _as_points(
    geoms: np.ndarray | None, x: np.ndarray | None, y: np.ndarray | None, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lon, lat, row) of every point; multipoints split, other shapes by a point on them."""
    if geoms is None:
        assert x is not None and y is not None
        return x[rows], y[rows], rows
    parts, prow = explode(geoms[rows], rows)
    not_point = shapely.get_type_id(parts) != POINT
    if not_point.any():
        parts = parts.copy()
        parts[not_point] = shapely.point_on_surface(parts[not_point])
    xy = shapely.get_coordinates(parts)
    return xy[:, 0], xy[:, 1], prow
