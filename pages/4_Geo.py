"""Tusk · Geo: map the geometry of a table, a query or a file."""

from __future__ import annotations

from tusk.ui import geo_page
from tusk.ui.shell import header, setup_page, sidebar_footer

info = setup_page("Geo")
sidebar_footer()
header(info)
geo_page.render()
