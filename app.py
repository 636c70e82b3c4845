"""Tusk · Home: connections overview, quick links and what Tusk can do."""

from tusk.ui import home

home.render()
