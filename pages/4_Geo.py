"""Tusk · Geo: maps (not built yet)."""

from tusk.ui.shell import coming_soon, header, setup_page, sidebar_footer

info = setup_page("Geo")
sidebar_footer()
header(info)
coming_soon(
    "Maps",
    [
        "Geometry and lat/lon columns found automatically",
        "Layers drawn with pydeck, offline (no basemap needed)",
        "GeoJSON export",
    ],
)
