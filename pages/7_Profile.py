"""Tusk · Profile: your name, e-mail, password, groups and sessions."""

from tusk.ui.users import profile

profile.render()
