"""Tusk · Studio: query tabs, SQL editor with autocomplete, schema browser, results grid."""

from tusk.ui.studio import page

page.render()
