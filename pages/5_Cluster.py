"""Tusk · Cluster: distributed SQL on Ray with Daft, watched and used from here."""

from __future__ import annotations

from tusk.ui import cluster_page
from tusk.ui.shell import header, setup_page, sidebar_footer

info = setup_page("Cluster")
sidebar_footer()
header(info)
cluster_page.render()
