"""Shared links: a URL that opens a query on a connection name in a new tab."""

from __future__ import annotations

import streamlit as st

from tusk import connections
from tusk.errors import TuskError
from tusk.ui.shell import md_escape
from tusk.ui.studio import tabs as qtabs

_SHARED = "studio_shared_done"  # the shared link of this URL was opened already


def open_shared_link() -> None:
    """A URL with ?connection=…&sql=… opens that query in a new tab, once per session."""
    qp = st.query_params
    sql, name = qp.get("sql"), qp.get("connection")
    if not sql:
        return
    marker = f"{name}\x00{sql}"
    if st.session_state.get(_SHARED) == marker:
        return
    st.session_state[_SHARED] = marker
    try:
        known = connections.names()
    except TuskError:
        known = [connections.DEMO_NAME]
    if name not in known:
        # The tab keeps the link's name and asks for a connection: never the demo by default.
        st.warning(
            f"The shared link names a connection you do not have ({md_escape(name or '')}); "
            "choose a connection for its tab before running it.",
            icon=":material/link_off:",
        )
    tab = qtabs.new_tab(name or "", sql, "Shared")
    qtabs.apply_pending()
    tab.editor_version += 1
    # The tab is a draft now (kept on disk): clear the URL so a reload does not open it again.
    st.query_params.clear()


def share_url(tab: qtabs.QueryTab) -> str:
    """A link that opens this tab's SQL and connection (no results, no secrets)."""
    from urllib.parse import urlencode, urlsplit

    base = ""
    try:
        url = st.context.url or ""
        parts = urlsplit(url)
        base = f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.netloc else url
    except (AttributeError, RuntimeError):
        base = ""
    # backslashreplace: SQL with a lone surrogate (a bad paste) must not break the page.
    query = urlencode({"connection": tab.connection, "sql": tab.sql}, errors="backslashreplace")
    return f"{base}?{query}"
