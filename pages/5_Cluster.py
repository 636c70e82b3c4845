"""Tusk · Cluster: distributed SQL on Ray with Daft, watched and used from here."""

from tusk.ui.cluster import page

page.render()
