"""Tusk · Admin: PostgreSQL administration on a saved connection."""

from tusk.ui.admin import page

page.render()
