"""Tusk · Data: visual Polars pipelines with a live preview and the code they run."""

from tusk.ui.data import page

page.render()
