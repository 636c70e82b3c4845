"""Tusk · Schema: ER diagrams from the foreign keys, and schema comparison with migration DDL."""

from tusk.ui.schema import page

page.render()
