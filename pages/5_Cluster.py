"""Tusk · Cluster: distributed sql (not built yet)."""

from tusk.ui.shell import coming_soon, header, setup_page, sidebar_footer

info = setup_page("Cluster")
sidebar_footer()
header(info)
coming_soon(
    "Distributed SQL",
    [
        "Start a scheduler and workers with tusk scheduler / tusk worker",
        "Watch nodes and running queries",
        "Run SQL over files on the whole cluster",
    ],
)
