"""Tusk · Data: visual Polars pipelines with a live preview and the code they run."""

from __future__ import annotations

from tusk.ui import data_page
from tusk.ui.shell import header, md_escape, setup_page, sidebar_footer

info = setup_page("Data")
sidebar_footer()
current = data_page.pipeline()
header(
    info, None if current is None else f":material/input: {md_escape(current.source.describe())}"
)
data_page.render()
