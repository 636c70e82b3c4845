"""The side panel of this connection's query history."""

from __future__ import annotations

import streamlit as st

from tusk import params
from tusk.engines.spec import ConnectionSpec
from tusk.errors import TuskError
from tusk.store import history
from tusk.ui import humanize
from tusk.ui.shell import current_user, md_escape, show_error
from tusk.ui.studio.tab_actions import insert_into_tab, open_in_new_tab


def history_panel(spec: ConnectionSpec) -> None:
    """Searchable history of this connection: open an entry in the editor or a new tab."""
    needle = st.text_input(
        "Search history",
        key="studio_history_search",
        placeholder="Search history…",
        label_visibility="collapsed",
    )
    me = current_user()
    who = me.username if me is not None else None  # multi-user mode: only your own history
    try:
        entries = history.search(needle, connection=spec.name, limit=50, username=who)
    except TuskError as exc:  # a damaged history.db: say so, the rest of the page works
        show_error(exc)
        return
    if not entries:
        st.caption("No statements run on this connection yet.")
        return
    for e in entries:
        mark = ":material/error:" if e.error else ":material/check:"
        took = humanize.duration(e.duration_s) if e.duration_s is not None else ""
        with st.container(border=True):
            st.markdown(f"{mark} `{e.ts.astimezone().strftime('%H:%M:%S')}` {took}")
            st.code(e.statement[:500], language="sql")
            if e.values:
                shown = ", ".join(f":{n} = {params.text_of(v)}" for n, v in e.values.items())
                st.caption(md_escape(shown[:300]))
            a, b = st.columns(2)
            a.button(
                "Edit",
                key=f"hist_edit_{e.id}",
                on_click=insert_into_tab,
                args=(e.statement, e.values),
                help="Put this statement (and its parameter values) in the editor",
            )
            b.button(
                "New tab",
                key=f"hist_tab_{e.id}",
                on_click=open_in_new_tab,
                args=(e.statement, spec.name, None, e.values),
            )
    if st.button("Clear this connection's history", icon=":material/delete:", key="hist_clear"):
        removed = history.clear(spec.name, username=who)
        st.toast(f"Removed {humanize.count(removed, 'entry', 'entries')}")
        st.rerun()
