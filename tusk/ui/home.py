"""The Home page: connections overview, quick links and what Tusk can do."""

from __future__ import annotations

from typing import Any

import streamlit as st

from tusk import connections
from tusk.auth import allowed
from tusk.engines.registry import LABELS
from tusk.errors import TuskError
from tusk.ui.icons import engine_icon
from tusk.ui.shell import (
    PAGES,
    current_user,
    error_markdown,
    header,
    md_escape,
    setup_page,
    show_error,
    sidebar_footer,
)


def render() -> None:
    """The whole Home page."""
    info = setup_page("Home")
    sidebar_footer()
    header(info, "Tusk — your databases in one place")

    overview, links = st.tabs([":material/lan: Connections", ":material/apps: What Tusk can do"])

    me = current_user()
    with overview:
        _connections(me)
    with links:
        _links(me)


def _connections(me: Any) -> None:
    """Every saved connection with a Test button."""
    try:
        specs = connections.list_connections()
    except TuskError as exc:
        show_error(exc)
        specs = [connections.demo_spec()]
    st.caption(f"{len(specs)} connection{'s' if len(specs) != 1 else ''} saved")
    for spec in specs:
        row = st.container(border=True)
        name_col, where_col, test_col = row.columns([2, 4, 1], vertical_alignment="center")
        name_col.markdown(
            f"{engine_icon(spec.engine)} **{md_escape(spec.name)}**  \n{LABELS[spec.engine]}"
        )
        where_col.code(spec.describe(), language=None)
        usable = spec.name == connections.DEMO_NAME or allowed(me, "connections.use")
        if usable and test_col.button(
            "Test", key=f"test_{spec.name}", icon=":material/network_check:"
        ):
            try:
                outcome = connections.test_saved(spec.name, actor=me)
            except TuskError as exc:
                outcome = connections.TestOutcome(False, exc.message, 0.0)
            if outcome.ok:
                st.toast(f"{md_escape(spec.name)}: connected in {outcome.elapsed_s * 1000:.0f} ms")
                row.success(f"Connected in {outcome.elapsed_s * 1000:.0f} ms.")
            else:
                row.error(
                    error_markdown("Connection failed", outcome.message),
                    icon=":material/error:",
                )
    if len(specs) == 1:
        st.info(
            "Only the built-in demo DuckDB connection so far — query it in the Studio, or add "
            "your own PostgreSQL, SQLite, DuckDB or DataFusion connection there.",
            icon=":material/info:",
        )
        st.page_link("pages/1_Studio.py", label="Open the Studio", icon=":material/terminal:")


def _links(me: Any) -> None:
    """A card per page the user may open."""
    cols = st.columns(3)
    visible = [
        p for p in PAGES if p.path != "app.py" and (not p.permission or allowed(me, p.permission))
    ]
    for i, page in enumerate(visible):
        with cols[i % 3].container(border=True):
            st.page_link(page.path, label=page.label, icon=page.icon)
            st.caption(page.blurb)
