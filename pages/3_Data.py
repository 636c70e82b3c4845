"""Tusk · Data: visual polars pipelines (not built yet)."""

from tusk.ui.shell import coming_soon, header, setup_page, sidebar_footer

info = setup_page("Data")
sidebar_footer()
header(info)
coming_soon(
    "Visual Polars pipelines",
    [
        "Sources: CSV, Parquet, JSON, OSM/PBF files and SQL queries",
        "Steps: filter, select, sort, group by, rename, drop nulls, limit, join",
        "Live preview of every step and the generated Polars code",
        "Export to files or import into DuckDB and PostgreSQL",
    ],
)
