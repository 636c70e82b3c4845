"""Tusk · Users: users, groups and their permissions (multi-user mode)."""

from tusk.ui.users import page

page.render()
