"""Tusk · Admin: postgresql administration (not built yet)."""

from tusk.ui.shell import coming_soon, header, setup_page, sidebar_footer

info = setup_page("Admin")
sidebar_footer()
header(info)
coming_soon(
    "PostgreSQL administration",
    [
        "Live server stats: connections, transactions, cache hit ratio, database sizes",
        "Active queries with cancel and terminate",
        "Locks and who blocks whom",
        "Backup and restore with pg_dump / pg_restore",
        "VACUUM, ANALYZE and REINDEX",
        "Extensions, roles and server settings",
    ],
)
