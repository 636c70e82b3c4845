"""The layers of a map: the deck.gl layers built for each kind of geometry (points, lines,
polygons, hexagons, heatmap), with colours, sizes, tooltips and the row each object
came from, and the view fitted to the data (`tusk.geo.deck.build_deck` chooses them)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pydeck as pdk
import shapely
from pydeck.bindings.json_tools import default_serialize

from tusk.arrow_json import json_values
from tusk.errors import BadInput
from tusk.geo.convert import (
    lonlat_to_mercator,
    property_columns,
)
from tusk.geo.detect import GeoColumn
from tusk.geo.encoding import combined, is_number
from tusk.geo.hexbin import hexbin, hexbin_members

# A Mapbox/MapLibre style with no sources and no layers: the base map loads nothing.
EMPTY_STYLE = "data:application/json," + quote(
    json.dumps({"version": 8, "sources": {}, "layers": []}, separators=(",", ":")), safe=""
)

LAYER_IDS = {
    "points": "tusk-points",
    "lines": "tusk-lines",
    "polygons": "tusk-polygons",
    "hexagons": "tusk-hexagons",
    "heatmap": "tusk-heatmap",
}


# Colours: one accent for plain features, a categorical palette, a numeric ramp (dark → light).
ACCENT = (0, 122, 204)
PALETTE = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (188, 189, 34),
    (23, 190, 207),
)
OTHER = (150, 150, 150)
MISSING = (200, 200, 200)
RAMP = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))

POINT_RADIUS_PX = (3.0, 18.0)  # size_by maps onto this range (square-root scale)
LINE_WIDTH_PX = (1.0, 8.0)
DEFAULT_RADIUS_PX = 4
DEFAULT_WIDTH_PX = 2
HEX_ACROSS = 60  # hexagons across the data's longer side
HEAT_ACROSS = 300  # finer bins when a heatmap must be pre-aggregated
TOOLTIP_COLUMNS = 15
TOOLTIP_CHARS = 80
VIEW_PX = (700, 450)  # the chart size the view is fitted for
DIGITS = 6  # coordinate decimals sent to the browser (~0.1 m)

POINT, LINE, POLYGON = 0, 1, 3  # shapely type ids of the simple geometries


@dataclass
class MapPlan:
    """A Deck ready for `st.pydeck_chart`, and what it shows.

    `shown` rows are drawn (or counted into hexagons) out of `total` rows with a valid
    geometry; `sampled` says some were left out; `notice` explains limits and skipped rows;
    `layers` are the deck.gl layer types in drawing order, `layer_ids` their ids.
    """

    deck: pdk.Deck
    shown: int
    total: int
    sampled: bool
    notice: str | None
    layers: list[str]
    layer_ids: list[str] = field(default_factory=list)
    aggregated: bool = False
    legend: list[tuple[str, list[int]]] = field(default_factory=list)
    row_index: dict[str, list[int]] = field(default_factory=dict, repr=False)
    # An aggregating layer's members: (drawn bin of each point, table row of each point).
    bin_members: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def selected_rows(self, selection: Mapping[str, Any] | None) -> list[int]:
        """Table rows of the objects picked in `st.pydeck_chart(..., on_select="rerun")`'s
        `event.selection` ({"indices": {layer id: [i, …]}, "objects": …}); a picked hexagon
        gives every row counted into it."""
        if not selection:
            return []
        rows: list[int] = []
        for layer_id, indices in (selection.get("indices") or {}).items():
            lookup = self.row_index.get(layer_id)
            members = self.bin_members.get(layer_id)
            if lookup is not None:
                rows.extend(lookup[i] for i in indices or [] if 0 <= i < len(lookup))
            elif members is not None:
                drawn, member_rows = members
                for i in indices or []:
                    rows.extend(member_rows[drawn == i].tolist())
        return list(dict.fromkeys(rows))


class _CompactDeck(pdk.Deck):
    """pydeck.Deck whose JSON has no indentation (pydeck indents by 2, which roughly
    doubles what `st.pydeck_chart` sends for large data)."""

    def to_json(self) -> str:
        """The deck as compact JSON, as pydeck's own serializer would write it."""
        return json.dumps(self, sort_keys=True, default=default_serialize, separators=(",", ":"))


class LayerBuilder:
    """Collects layers and per-row styling for one deck."""

    def __init__(
        self, table: pa.Table, col: GeoColumn, color_by: str | None, size_by: str | None
    ) -> None:
        self.table = table
        self.col = col
        self.color_by = color_by
        self.size_by = size_by
        self.layers: list[pdk.Layer] = []
        self.types: list[str] = []
        self.row_index: dict[str, list[int]] = {}
        self.bin_members: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.legend: list[tuple[str, list[int]]] = []
        self._colors: np.ndarray | None = None  # RGB of every table row, when colouring
        self._scale: np.ndarray | None = None  # size_by of every row scaled to [0, 1]

    # per-row attributes -------------------------------------------------------------------

    def colors(self, rows: np.ndarray) -> np.ndarray | None:
        """RGB per chosen row from color_by (None when not colouring by a column); categories
        and the numeric range come from the whole column, so every layer agrees."""
        if self.color_by is None:
            return None
        if self._colors is None:
            self._colors = self._color_column(combined(column_of(self.table, self.color_by)))
        return self._colors[rows]

    def _color_column(self, values: pa.Array) -> np.ndarray:
        """RGB for every row of the color_by column; sets the legend."""
        if is_number(values.type):
            v = values.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False).astype(float)
            finite = np.isfinite(v)
            lo, hi = (float(v[finite].min()), float(v[finite].max())) if finite.any() else (0, 0)
            out = np.tile(np.array(MISSING, dtype=np.uint8), (len(v), 1))
            out[finite] = _ramp((v[finite] - lo) / (hi - lo) if hi > lo else np.zeros(finite.sum()))
            self.legend = [
                (f"{lo + (hi - lo) * k / (len(RAMP) - 1):,.6g}", list(c))
                for k, c in enumerate(RAMP)
            ]
            return out
        text = _text(values, 200)
        nulls = pc.is_null(values).to_numpy(zero_copy_only=False)
        counts = pc.value_counts(pc.filter(text, pc.invert(pc.is_null(values))))
        pairs = sorted(
            zip(
                counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True
            ),
            key=lambda p: (-p[1], str(p[0])),
        )
        top = [v for v, _ in pairs][: len(PALETTE)]
        index = pc.index_in(text, value_set=pa.array(top, type=pa.string()))
        idx = index.fill_null(len(PALETTE)).to_numpy(zero_copy_only=False).astype(int)
        out = np.array([*PALETTE, OTHER], dtype=np.uint8)[idx]
        out[nulls] = MISSING
        self.legend = [(str(v), list(PALETTE[k])) for k, v in enumerate(top)]
        if len(pairs) > len(top):
            self.legend.append(("Other", list(OTHER)))
        if nulls.any():
            self.legend.append(("NULL", list(MISSING)))
        return out

    def sizes(self, rows: np.ndarray, lo_px: float, hi_px: float) -> np.ndarray | None:
        """Pixels per chosen row from size_by on a square-root scale of the whole column's
        range (None without size_by); NULL and NaN get the smallest size."""
        if self.size_by is None:
            return None
        if self._scale is None:
            values = combined(column_of(self.table, self.size_by))
            v = values.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False).astype(float)
            finite = np.isfinite(v)
            scale = np.zeros(len(v))
            if finite.any():
                lo, hi = float(v[finite].min()), float(v[finite].max())
                scale[finite] = (
                    np.sqrt((v[finite] - lo) / (hi - lo)) if hi > lo else np.ones(finite.sum())
                )
            self._scale = scale
        return np.round(lo_px + (hi_px - lo_px) * self._scale[rows], 2)

    def tips(self, rows: np.ndarray) -> list[str]:
        """The tooltip text of each chosen row: its other columns, one "name: value" a line."""
        keep = property_columns(self.table, self.col)
        if not keep:
            return [f"row {r}" for r in rows.tolist()]
        picked = self.table.take(pa.array(rows, type=pa.int64()))
        lines = []
        for i in keep[:TOOLTIP_COLUMNS]:
            label = pa.scalar(f"{self.table.schema[i].name}: ")
            lines.append(pc.binary_join_element_wise(label, _text(picked.column(i)), ""))
        if len(keep) > TOOLTIP_COLUMNS:
            lines.append(pa.array([f"… {len(keep) - TOOLTIP_COLUMNS} more columns"] * len(rows)))
        if len(lines) == 1:
            return lines[0].to_pylist()
        return pc.binary_join_element_wise(*lines, "\n").to_pylist()

    def _records(self, rows: np.ndarray, **columns: Any) -> list[dict[str, Any]]:
        """One dict per drawn object: geometry/style columns + the row's tooltip and index."""
        uniq, inverse = np.unique(rows, return_inverse=True)
        tips = self.tips(uniq)
        keys = (*columns, "row", "tip")
        per_object = [tips[i] for i in inverse.tolist()]
        return [
            dict(zip(keys, v, strict=True))
            for v in zip(*columns.values(), rows.tolist(), per_object, strict=True)
        ]

    # geometry kinds -------------------------------------------------------------------------

    def points(self, x: np.ndarray, y: np.ndarray, rows: np.ndarray) -> None:
        """A ScatterplotLayer of points."""
        uniq, inverse = np.unique(rows, return_inverse=True)
        colors = self.colors(uniq)
        sizes = self.sizes(uniq, *POINT_RADIUS_PX)
        cols: dict[str, Any] = {
            "position": np.round(np.column_stack([x, y]), DIGITS).tolist(),
        }
        props: dict[str, Any] = {}
        if colors is not None:
            cols["color"] = np.column_stack(
                [colors[inverse], np.full(len(rows), 220, dtype=np.uint8)]
            ).tolist()
            props["get_fill_color"] = "color"
        else:
            props["get_fill_color"] = [*ACCENT, 200]
        if sizes is not None:
            cols["radius"] = sizes[inverse].tolist()
            props["get_radius"] = "radius"
        else:
            props["get_radius"] = DEFAULT_RADIUS_PX
        self._add(
            "ScatterplotLayer",
            "points",
            self._records(rows, **cols),
            rows,
            get_position="position",
            radius_units="'pixels'",
            radius_min_pixels=1,
            stroked=True,
            get_line_color=[255, 255, 255, 160],
            line_width_min_pixels=0.5,
            **props,
        )

    def lines(self, parts: np.ndarray, rows: np.ndarray) -> None:
        """A PathLayer of linestrings."""
        coords, index = shapely.get_coordinates(parts, return_index=True)
        paths = _split(np.round(coords, DIGITS), index)
        uniq, inverse = np.unique(rows, return_inverse=True)
        colors = self.colors(uniq)
        sizes = self.sizes(uniq, *LINE_WIDTH_PX)
        cols: dict[str, Any] = {"path": paths}
        props: dict[str, Any] = {}
        if colors is not None:
            cols["color"] = colors[inverse].tolist()
            props["get_color"] = "color"
        else:
            props["get_color"] = [*ACCENT, 230]
        if sizes is not None:
            cols["width"] = sizes[inverse].tolist()
            props["get_width"] = "width"
        else:
            props["get_width"] = DEFAULT_WIDTH_PX
        self._add(
            "PathLayer",
            "lines",
            self._records(rows, **cols),
            rows,
            get_path="path",
            width_units="'pixels'",
            width_min_pixels=1,
            cap_rounded=True,
            joint_rounded=True,
            **props,
        )

    def polygons(self, parts: np.ndarray, rows: np.ndarray) -> None:
        """A PolygonLayer (fill and outline) of polygons, holes kept."""
        rings, ring_poly = shapely.get_rings(parts, return_index=True)
        coords, ring_index = shapely.get_coordinates(rings, return_index=True)
        ring_coords = _split(np.round(coords, DIGITS), ring_index)
        polygons: list[list[Any]] = [[] for _ in range(len(parts))]
        for poly, ring in zip(ring_poly.tolist(), ring_coords, strict=True):
            polygons[poly].append(ring)
        uniq, inverse = np.unique(rows, return_inverse=True)
        colors = self.colors(uniq)
        cols: dict[str, Any] = {"polygon": polygons}
        props: dict[str, Any] = {}
        if colors is not None:
            rgb = colors[inverse]
            cols["fill"] = np.column_stack([rgb, np.full(len(rows), 110, np.uint8)]).tolist()
            cols["line"] = np.column_stack([rgb, np.full(len(rows), 255, np.uint8)]).tolist()
            props["get_fill_color"] = "fill"
            props["get_line_color"] = "line"
        else:
            props["get_fill_color"] = [*ACCENT, 90]
            props["get_line_color"] = [*ACCENT, 255]
        self._add(
            "PolygonLayer",
            "polygons",
            self._records(rows, **cols),
            rows,
            get_polygon="polygon",
            filled=True,
            stroked=True,
            get_line_width=1,
            line_width_units="'pixels'",
            line_width_min_pixels=1,
            **props,
        )

    def features(self, geoms: np.ndarray, rows: np.ndarray, layer: str) -> None:
        """One layer per geometry kind present, shaped by the chosen layer."""
        parts, prow = explode(geoms, rows)
        types = shapely.get_type_id(parts)
        if layer == "scatter":
            not_point = types != POINT
            if not_point.any():
                parts = parts.copy()
                parts[not_point] = shapely.point_on_surface(parts[not_point])
            types = np.full(len(parts), POINT)
        elif layer == "path":
            poly = types == POLYGON
            if poly.any():
                outlines, index = explode(shapely.boundary(parts[poly]), prow[poly])
                parts = np.concatenate([parts[~poly], outlines])
                prow = np.concatenate([prow[~poly], index])
                order = np.argsort(prow, kind="stable")
                parts, prow = parts[order], prow[order]
                types = shapely.get_type_id(parts)
        # Drawing order: polygons under lines under points, so small features stay clickable.
        poly = types == POLYGON
        if poly.any():
            self.polygons(parts[poly], prow[poly])
        line = (types == LINE) | (types == 2)  # LineString or LinearRing
        if line.any():
            self.lines(parts[line], prow[line])
        point = types == POINT
        if point.any():
            xy = shapely.get_coordinates(parts[point])
            self.points(xy[:, 0], xy[:, 1], prow[point])

    def hexagons(self, x: np.ndarray, y: np.ndarray, rows: np.ndarray) -> int:
        """Count points into hexagons here; draw the bins as flat six-sided columns, and keep
        which rows each drawn bin holds (picking a hexagon selects them)."""
        cx, cy, counts, size_m, member = hexbin_members(x, y, HEX_ACROSS)
        order = np.argsort(-counts, kind="stable")
        cx, cy, counts = cx[order], cy[order], counts[order]
        drawn = np.empty_like(order)
        drawn[order] = np.arange(len(order))  # bin → its index in the drawn data
        self.bin_members[LAYER_IDS["hexagons"]] = (drawn[member], np.asarray(rows))
        # Log scale: a few dense bins must not wash every other bin into one colour.
        colors = _ramp(np.log1p(counts) / math.log1p(int(counts.max())))
        data = [
            {
                "position": [round(a, DIGITS), round(b, DIGITS)],
                "count": c,
                "color": [*rgb, 210],
                "tip": f"{c:,} rows",
            }
            for a, b, c, rgb in zip(
                cx.tolist(), cy.tolist(), counts.tolist(), colors.tolist(), strict=True
            )
        ]
        # deck.gl's common space is 512 units around the equator: the Mercator size in those
        # units makes the drawn hexagons tile exactly like the bins at every latitude.
        common = size_m * 512.0 / (2 * math.pi * 6378137.0)
        top = math.log1p(int(counts.max()))
        low = math.log1p(1)  # every bin holds at least one row
        levels = sorted({int(round(math.expm1(low + (top - low) * k / 4))) for k in range(5)})
        self.legend = [
            (f"{v:,}", list(c))
            for v, c in zip(levels, _ramp(np.log1p(levels) / top).tolist(), strict=True)
        ]
        self._add(
            "ColumnLayer",
            "hexagons",
            data,
            None,
            get_position="position",
            get_fill_color="color",
            disk_resolution=6,
            radius=common,
            radius_units="'common'",
            extruded=False,
            coverage=0.95,
        )
        return len(data)

    def heatmap(self, x: np.ndarray, y: np.ndarray, rows: np.ndarray, *, dense: bool) -> None:
        """A HeatmapLayer; dense data is first pre-binned into weighted points."""
        if dense:
            cx, cy, counts, _ = hexbin(x, y, HEAT_ACROSS)
            data = [
                {"position": [round(a, DIGITS), round(b, DIGITS)], "weight": c}
                for a, b, c in zip(cx.tolist(), cy.tolist(), counts.tolist(), strict=True)
            ]
        else:
            uniq, inverse = np.unique(rows, return_inverse=True)
            sizes = self.sizes(uniq, 1.0, 10.0)
            weights = sizes[inverse].tolist() if sizes is not None else [1] * len(rows)
            data = [
                {"position": [round(a, DIGITS), round(b, DIGITS)], "weight": w}
                for a, b, w in zip(x.tolist(), y.tolist(), weights, strict=True)
            ]
        self._add(
            "HeatmapLayer",
            "heatmap",
            data,
            None,
            get_position="position",
            get_weight="weight",
            aggregation="'SUM'",
            radius_pixels=30,
        )

    def _add(
        self,
        type_: str,
        kind: str,
        data: list[dict[str, Any]],
        rows: np.ndarray | None,
        **props: Any,
    ) -> None:
        layer_id = LAYER_IDS[kind]
        self.layers.append(
            pdk.Layer(type_, data=data, id=layer_id, pickable=True, auto_highlight=True, **props)
        )
        self.types.append(type_)
        if rows is not None:
            self.row_index[layer_id] = rows.tolist()

    def plan(
        self,
        view: pdk.ViewState,
        tiles: str | None,
        shown: int,
        total: int,
        sampled: bool,
        notes: list[str],
    ) -> MapPlan:
        """The finished MapPlan."""
        deck = _CompactDeck(
            layers=self.layers,
            initial_view_state=view,
            map_provider=None,
            map_style=tiles_style(tiles) if tiles else EMPTY_STYLE,
            tooltip={"text": "{tip}"},
        )
        return MapPlan(
            deck=deck,
            shown=shown,
            total=total,
            sampled=sampled,
            notice=" ".join(notes) or None,
            layers=list(self.types),
            layer_ids=[layer.id for layer in self.layers],
            legend=self.legend,
            row_index=self.row_index,
            bin_members=self.bin_members,
        )


def _split(coords: np.ndarray, index: np.ndarray) -> list[list[list[float]]]:
    """Flat coordinates + the part each belongs to → one coordinate list per part."""
    if len(index) == 0:
        return []
    flat = coords.tolist()  # one conversion, then list slices: far cheaper than per part
    bounds = [0, *(np.flatnonzero(np.diff(index)) + 1).tolist(), len(flat)]
    return [flat[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _ramp(t: np.ndarray) -> np.ndarray:
    """Colours along RAMP for values in [0, 1]."""
    stops = np.array(RAMP, dtype=float)
    pos = np.clip(np.asarray(t, dtype=float), 0.0, 1.0) * (len(stops) - 1)
    lo = np.minimum(np.floor(pos).astype(int), len(stops) - 2)
    frac = (pos - lo)[:, None]
    return np.round(stops[lo] * (1 - frac) + stops[lo + 1] * frac).astype(np.uint8)


def _text(values: pa.Array | pa.ChunkedArray, limit: int = TOOLTIP_CHARS) -> pa.Array:
    """A column as display text: NULL for nulls, at most `limit` characters."""
    arr = combined(values)
    t = arr.type
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        text = pa.array(
            [None if v is None else f"<{len(v)} bytes>" for v in arr.to_pylist()], pa.string()
        )
    else:
        try:
            text = arr.cast(pa.string())
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            text = pa.array(
                [
                    None if v is None else json.dumps(v, ensure_ascii=False)
                    for v in json_values(arr)
                ],
                pa.string(),
            )
    text = text.fill_null("NULL")
    long = pc.greater(pc.utf8_length(text), limit)
    if pc.any(long).as_py():
        cut = pc.binary_join_element_wise(pc.utf8_slice_codeunits(text, 0, limit - 1), "…", "")
        text = pc.if_else(long, cut, text)
    return text


def fitted_view(bounds: tuple[float, float, float, float] | None) -> pdk.ViewState:
    """A view centred on the bounds, zoomed so they fit a VIEW_PX chart."""
    if bounds is None:
        return pdk.ViewState(longitude=0, latitude=20, zoom=1)
    west, south, east, north = (
        max(bounds[0], -180.0),
        max(bounds[1], -85.0),
        min(bounds[2], 180.0),
        min(bounds[3], 85.0),
    )
    if west > east or south > north:
        return pdk.ViewState(longitude=0, latitude=20, zoom=1)
    _, y_lo = lonlat_to_mercator(np.array([west]), np.array([south]))
    _, y_hi = lonlat_to_mercator(np.array([east]), np.array([north]))
    y_mid = (float(y_lo[0]) + float(y_hi[0])) / 2
    lat = math.degrees(2 * math.atan(math.exp(y_mid / 6378137.0)) - math.pi / 2)
    lon = (west + east) / 2
    world = 2 * math.pi * 6378137.0  # Mercator metres around the equator; 512 px at zoom 0
    span_x = (east - west) / 360.0
    span_y = (float(y_hi[0]) - float(y_lo[0])) / world
    zooms = [math.log2(VIEW_PX[0] / (512 * span_x)) if span_x > 0 else math.inf]
    zooms.append(math.log2(VIEW_PX[1] / (512 * span_y)) if span_y > 0 else math.inf)
    zoom = min(zooms)
    zoom = 12.0 if math.isinf(zoom) else max(0.0, min(18.0, zoom - 0.2))
    return pdk.ViewState(longitude=round(lon, 6), latitude=round(lat, 6), zoom=round(zoom, 2))


def tiles_style(url: str, attribution: str | None = None) -> str:
    """An inline raster map style (a `data:` URL) that draws tiles from an XYZ URL template."""
    if not all(part in url for part in ("{z}", "{x}", "{y}")):
        raise BadInput(
            f"The tile URL {url!r} needs {{z}}, {{x}} and {{y}} placeholders, e.g. "
            "https://tile.example.org/{z}/{x}/{y}.png",
            "Bad tile URL",
        )
    # The base map knows no {s} subdomains: list each host instead.
    urls = [url.replace("{s}", s) for s in "abc"] if "{s}" in url else [url]
    source: dict[str, Any] = {"type": "raster", "tiles": urls, "tileSize": 256}
    if attribution:
        source["attribution"] = attribution
    style = {
        "version": 8,
        "sources": {"tiles": source},
        "layers": [{"id": "tiles", "type": "raster", "source": "tiles"}],
    }
    return "data:application/json," + quote(json.dumps(style, separators=(",", ":")), safe="")


def column_of(table: pa.Table, name: str | None) -> pa.ChunkedArray:
    index = table.schema.get_field_index(name or "")
    if index < 0:
        raise BadInput(f"The result has no single column named {name!r}.", "Unknown column")
    return table.column(index)


def explode(geoms: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Simple geometries (no multi-parts, no collections, no empties) with their rows."""
    parts, index = shapely.get_parts(geoms, return_index=True)
    prow = rows[index]
    while True:
        multi = shapely.get_type_id(parts) >= 4
        if not multi.any():
            break
        sub, sub_index = shapely.get_parts(parts[multi], return_index=True)
        parts = np.concatenate([parts[~multi], sub])
        prow = np.concatenate([prow[~multi], prow[multi][sub_index]])
    keep = ~shapely.is_empty(parts)
    parts, prow = parts[keep], prow[keep]
    order = np.argsort(prow, kind="stable")  # back in row order after the splits
    return parts[order], prow[order]
