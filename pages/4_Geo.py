"""Tusk · Geo: map the geometry of a table, a query or a file."""

from tusk.ui.geo import page

page.render()
