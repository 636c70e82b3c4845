"""Tusk · Users: users and permissions (not built yet)."""

from tusk.ui.shell import coming_soon, header, setup_page, sidebar_footer

info = setup_page("Users")
sidebar_footer()
header(info)
coming_soon(
    "Users and permissions",
    [
        "Single-user (no login) or multi-user mode",
        "Users, groups and 24 permissions",
        "Profile page and tusk users / tusk auth commands",
    ],
)
