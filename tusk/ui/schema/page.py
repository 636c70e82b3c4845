"""The Schema page's frame: the connection picker, the header, and the Diagram and Compare tabs
as lazy tabs (only the open one reads catalogs)."""

from __future__ import annotations

import streamlit as st

from tusk import connections
from tusk.catalog import Catalog
from tusk.engines.spec import ConnectionSpec
from tusk.errors import TuskError
from tusk.ui.icons import engine_icon
from tusk.ui.shell import header, md_escape, setup_page, show_error, sidebar_footer
from tusk.ui.studio import catalog as catalogs
from tusk.ui.studio import tabs as qtabs

PICK_KEY = "schema_connection"
TAB_KEY = "schema_tab"
TABS = (":material/schema: Diagram", ":material/difference: Compare")


def render() -> None:
    """The whole Schema page. Opening it needs connections.use (tusk.ui.shell.PAGES): every
    saved connection is one the user may read the catalog of."""
    info = setup_page("Schema")
    specs = _connections()
    spec = _pick(specs)
    sidebar_footer()
    context = None
    if spec is not None:
        context = f"{engine_icon(spec.engine)} **{md_escape(spec.name)}**"
    header(info, context)
    diagram, compare = st.tabs(list(TABS), key=TAB_KEY, on_change="rerun")
    if diagram.open:
        with diagram:
            _diagram(spec)
    if compare.open:
        with compare:
            import tusk.ui.schema.compare as compare_view

            compare_view.compare_tab([s.name for s in specs])


def _connections() -> list[ConnectionSpec]:
    """The saved connections (the demo always among them); a damaged file is named."""
    try:
        return connections.list_connections()
    except TuskError as exc:
        show_error(exc)
        return [connections.demo_spec()]


def _pick(specs: list[ConnectionSpec]) -> ConnectionSpec | None:
    """The sidebar's connection picker; it starts on the Studio's active tab's connection."""
    names = [s.name for s in specs]
    if not names:
        return None
    if st.session_state.get(PICK_KEY) not in names:
        studio = qtabs.active().connection
        st.session_state[PICK_KEY] = studio if studio in names else names[0]
    with st.sidebar:
        name = st.selectbox("Connection", names, key=PICK_KEY)
    return next(s for s in specs if s.name == name)


def _diagram(spec: ConnectionSpec | None) -> None:
    """The Diagram tab: the connection's catalog (cached with the Studio's) drawn as an ER
    diagram."""
    import tusk.ui.schema.diagram as diagram_view

    if spec is None:
        st.info("No connection yet — add one in the Studio.", icon=":material/info:")
        return
    catalog = catalogs.read_catalog(spec)
    if isinstance(catalog, TuskError):
        show_error(catalog)
        if st.button("Try again", icon=":material/refresh:", key="schema_retry"):
            catalogs.forget_catalog(spec.name)
            st.rerun()
        return
    if catalog is None:
        st.info(
            f"A query is running on {md_escape(spec.name)}; the diagram is drawn when it ends.",
            icon=":material/hourglass_top:",
        )
        return
    _refresh(spec)
    diagram_view.diagram_tab(spec, catalog if isinstance(catalog, Catalog) else Catalog())


def _refresh(spec: ConnectionSpec) -> None:
    """Read the catalog again (after DDL elsewhere)."""
    if st.button("Refresh", icon=":material/refresh:", key="schema_refresh", help="F5 in Studio"):
        catalogs.forget_catalog(spec.name)
        st.rerun()
