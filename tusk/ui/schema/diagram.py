"""The Schema page's Diagram tab: an ER diagram of a connection's catalog, laid out on the server
(the SVG shown is the SVG downloaded), a focused view for big schemas, click-through by picking
a table."""

from __future__ import annotations

import base64
import hashlib
import re

import streamlit as st

from tusk import diagram as er
from tusk.catalog import Catalog, Table
from tusk.completion import quote_name
from tusk.diagram import TableId
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput, TuskError
from tusk.ui.shell import show_error
from tusk.ui.studio.tab_actions import open_in_new_tab

KEY = "schema_diagram"
MODE_KEY = f"{KEY}_mode"
SCHEMA_KEY = f"{KEY}_schema"
NAME_KEY = f"{KEY}_name"
TABLE_KEY = f"{KEY}_table"
HOPS_KEY = f"{KEY}_hops"
PICK_KEY = f"{KEY}_pick"
_SVG_KEY = f"{KEY}_svg"  # (hash of the DOT, its SVG): a rerun of the same picture lays out once
FOCUSED = "Focused view"
WHOLE = "Whole schema"
STUDIO = "pages/1_Studio.py"


def diagram_tab(spec: ConnectionSpec, catalog: Catalog) -> None:
    """Draw the Diagram tab for `catalog` (read by the page, which checked permissions)."""
    if not catalog.tables:
        st.info("This connection has no tables or views yet.", icon=":material/info:")
        return
    namespace, name = _filters(catalog)
    database, schema = namespace if namespace is not None else (None, None)
    tables = er.filter_tables(catalog, schema, name, database=database)
    if MODE_KEY not in st.session_state:  # the whole picture first when it is readable
        st.session_state[MODE_KEY] = WHOLE if len(tables) <= er.OVERVIEW_LIMIT else FOCUSED
    mode = st.radio("View", [FOCUSED, WHOLE], key=MODE_KEY, horizontal=True)
    picture: er.Diagram | None
    try:
        if mode == WHOLE:
            try:
                picture = er.overview(
                    catalog, schema, name, database=database, limit=er.OVERVIEW_LIMIT
                )
            except BadInput as exc:
                st.info(exc.message, icon=":material/zoom_in_map:")
                return
        else:
            picture = _focused(catalog, tables)
            if picture is None:
                return
        _draw(spec, picture)
    except TuskError as exc:
        show_error(exc)


def _filters(catalog: Catalog) -> tuple[tuple[str | None, str] | None, str]:
    """The schema and name filters: the (database, schema) chosen (None: all) and the text."""
    left, right = st.columns(2)
    options: list[tuple[str | None, str] | None] = [None, *catalog.namespaces()]
    if st.session_state.get(SCHEMA_KEY) not in options:
        st.session_state[SCHEMA_KEY] = None
    with left:
        namespace = st.selectbox(
            "Schema",
            options,
            key=SCHEMA_KEY,
            format_func=_namespace_label,
        )
    with right:
        name = st.text_input("Table name contains", key=NAME_KEY, placeholder="filter…")
    return namespace, name


def _namespace_label(namespace: tuple[str | None, str] | None) -> str:
    """ "All schemas", or [database.]schema."""
    if namespace is None:
        return "All schemas"
    database, schema = namespace
    return f"{database}.{schema}" if database else schema


def _focused(catalog: Catalog, tables: list[Table]) -> er.Diagram | None:
    """The focused view's search box and hops; the picture of the chosen table's neighbours."""
    if not tables:
        st.info("No table matches the filters.", icon=":material/search_off:")
        return None
    ids = [er.table_id(t) for t in tables]
    if st.session_state.get(TABLE_KEY) not in ids:
        st.session_state[TABLE_KEY] = ids[0]
    left, right = st.columns([3, 1])
    with left:
        focus = st.selectbox(
            "Table",
            ids,
            key=TABLE_KEY,
            format_func=er.display_name,
            help="Type to search; the diagram shows this table and its neighbours.",
        )
    with right:
        hops = st.radio(
            "Hops",
            list(range(1, er.MAX_HOPS + 1)),
            key=HOPS_KEY,
            horizontal=True,
            help="How many foreign keys away from the table, in both directions.",
        )
    return er.neighbourhood(catalog, focus, int(hops), limit=er.FOCUS_LIMIT)


def _draw(spec: ConnectionSpec, picture: er.Diagram) -> None:
    """The picture (scrollable), what it leaves out, its downloads and the click-through."""
    tables = len(picture.tables)
    keys = len(picture.edges)
    st.caption(
        f"{tables:,} table{'s' if tables != 1 else ''}, "
        f"{keys:,} foreign key{'s' if keys != 1 else ''}"
    )
    if picture.left_out:
        st.info(
            f"{picture.left_out:,} more table{'s' if picture.left_out != 1 else ''} within "
            f"{picture.hops} hop{'s' if picture.hops != 1 else ''} "
            f"{'are' if picture.left_out != 1 else 'is'} not drawn (a focused picture stops at "
            f"{er.FOCUS_LIMIT} tables, nearest first): lower the hops, or focus on a table at "
            "the edge of this one.",
            icon=":material/info:",
        )
    dot = er.to_dot(picture)
    svg: str | None = None
    try:
        svg = _layout(dot)
    except TuskError as exc:
        show_error(exc)
    if svg is not None:
        st.html(picture_html(svg))
    _downloads(picture, dot, svg)
    _click_through(spec, picture)


def picture_html(svg: str) -> str:
    """The SVG as an image at its own size in a scrolling frame, for st.html."""
    # st.html's sanitizer (DOMPurify, HTML profile) drops an inline <svg> whole (Streamlit
    # 1.67); an <img> of a data: URL passes, and an SVG shown as an image never runs scripts
    # or loads anything, whatever it holds (its names are escaped text besides).
    data = base64.b64encode(svg.encode()).decode()
    return (
        '<div data-testid="tusk-er-diagram" style="overflow:auto;max-height:72vh;'
        'border:1px solid rgba(128,128,128,.3);border-radius:6px;background:white">'
        f'<img alt="ER diagram" style="max-width:none;display:block" '
        f'src="data:image/svg+xml;base64,{data}"></div>'
    )


def _layout(dot: str) -> str:
    """The SVG of `dot`, laid out once per distinct picture in this session."""
    digest = hashlib.sha256(dot.encode()).hexdigest()
    kept = st.session_state.get(_SVG_KEY)
    if kept and kept[0] == digest:
        return str(kept[1])
    svg = er.to_svg(dot)
    st.session_state[_SVG_KEY] = (digest, svg)
    return svg


def _file_stem(picture: er.Diagram) -> str:
    """A safe file name stem: the focus table's name, or "er-diagram"."""
    if picture.focus is None:
        return "er-diagram"
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", picture.focus[2]).strip("._")
    return f"er-{stem or 'table'}"


def _downloads(picture: er.Diagram, dot: str, svg: str | None) -> None:
    """Download buttons: SVG (the picture shown), DOT, Mermaid."""
    stem = _file_stem(picture)
    svg_col, dot_col, mermaid_col = st.columns(3)
    with svg_col:
        st.download_button(
            "SVG",
            svg or "",
            file_name=f"{stem}.svg",
            mime="image/svg+xml",
            key=f"{KEY}_svg_download",
            icon=":material/download:",
            disabled=svg is None,
            on_click="ignore",
        )
    with dot_col:
        st.download_button(
            "DOT",
            dot,
            file_name=f"{stem}.dot",
            mime="text/vnd.graphviz",
            key=f"{KEY}_dot_download",
            icon=":material/download:",
            on_click="ignore",
        )
    with mermaid_col:
        st.download_button(
            "Mermaid",
            er.to_mermaid(picture),
            file_name=f"{stem}.mmd",
            mime="text/plain",
            key=f"{KEY}_mermaid_download",
            icon=":material/download:",
            on_click="ignore",
        )


def select_sql(tid: TableId) -> str:
    """`select * from <qualified name> limit 100`, each part quoted on its own."""
    # The strictest quoting rules (lower case, not reserved, else quoted) are valid on every
    # engine; the name is always qualified so it means this table whatever the search path.
    name = ".".join(quote_name(part) for part in tid if part is not None)
    return f"select * from {name} limit 100"  # noqa: S608 - editor text; names quoted above


def _focus_on() -> None:
    """Callback of "Focus": recenter the focused view on the picked table, filters cleared so
    it is listed."""
    # Read from the picker now, not bound when the button was drawn: a pick and a click in
    # one rerun would focus on the table picked before.
    tid = st.session_state[PICK_KEY]
    st.session_state[SCHEMA_KEY] = None
    st.session_state[NAME_KEY] = ""
    st.session_state[MODE_KEY] = FOCUSED
    st.session_state[TABLE_KEY] = tid


def _click_through(spec: ConnectionSpec, picture: er.Diagram) -> None:
    """Pick a table of the picture (SVG clicks cannot reach Python): query it, or focus on it."""
    ids = picture.ids()
    if st.session_state.get(PICK_KEY) not in ids:
        st.session_state[PICK_KEY] = ids[0]
    pick_col, query_col, focus_col = st.columns([3, 1, 1], vertical_alignment="bottom")
    with pick_col:
        picked = st.selectbox(
            "Table in the diagram", ids, key=PICK_KEY, format_func=er.display_name
        )
    with focus_col:
        st.button(
            "Focus",
            key=f"{KEY}_focus",
            icon=":material/center_focus_strong:",
            on_click=_focus_on,
            help="Show this table's neighbours",
        )
    with query_col:
        query = st.button(
            "Query in new tab",
            key=f"{KEY}_query",
            icon=":material/open_in_new:",
            help="select * from it, limit 100, in a new Studio tab",
        )
    if query:
        open_in_new_tab(select_sql(picked), spec.name, picked[2])
        st.switch_page(STUDIO)
