"""Geometry in query results: detection, conversion to WGS 84 / GeoJSON, pydeck maps.

No Streamlit here: the Geo page and the Studio's Map view call these functions and hand
`MapPlan.deck` to `st.pydeck_chart`.
"""

from __future__ import annotations

from tusk.geo.convert import (
    GeoJSONSummary,
    geometries,
    postgis_sql,
    to_4326,
    to_geojson,
    write_geojson,
)
from tusk.geo.deck import LAYER_CHOICES, LayerChoice, build_deck
from tusk.geo.detect import GeoColumn, detect
from tusk.geo.encoding import GeoKind, clear_cache
from tusk.geo.layers import EMPTY_STYLE, MapPlan, tiles_style

__all__ = [
    "EMPTY_STYLE",
    "LAYER_CHOICES",
    "GeoColumn",
    "GeoJSONSummary",
    "GeoKind",
    "LayerChoice",
    "MapPlan",
    "build_deck",
    "clear_cache",
    "detect",
    "geometries",
    "postgis_sql",
    "tiles_style",
    "to_4326",
    "to_geojson",
    "write_geojson",
]
