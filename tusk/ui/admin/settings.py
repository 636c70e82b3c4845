"""Admin → Settings: the server's important settings by category, a search across all of them,
and the ones waiting for a restart (read-only)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from tusk.admin import settings
from tusk.ui import humanize
from tusk.ui.shell import md_escape

if TYPE_CHECKING:
    from tusk.admin import AdminConnection
    from tusk.auth.schema import User

P = "admin_settings_"
PENDING_MARK = "🔄 restart pending"
ROW_PX = 35  # st.dataframe's row height

# pg_settings.context in words: what it takes for a new value to apply.
APPLIES: dict[str, str] = {
    "internal": "fixed at build",
    "postmaster": "restart",
    "sighup": "reload",
    "superuser-backend": "new session",
    "backend": "new session",
    "superuser": "any time (superuser)",
    "user": "any time",
}

_COLUMNS: dict[str, Any] = {
    "Setting": st.column_config.TextColumn("Setting", pinned=True, width=250),
    "Value": st.column_config.TextColumn("Value", help="With its unit, humanized"),
    "Raw": st.column_config.TextColumn("Raw", help="pg_settings.setting in its own unit"),
    "Unit": st.column_config.TextColumn("Unit"),
    "Source": st.column_config.TextColumn("Source", help="Where the value comes from"),
    "Applies on": st.column_config.TextColumn("Applies on", help="What a change needs to apply"),
    "Restart": st.column_config.TextColumn("Restart", help="Changed, waiting for a restart"),
    "Description": st.column_config.TextColumn("Description", width="large"),
}


def render(conn: AdminConnection, user: User | None) -> None:
    """The Settings tab."""
    del user  # reading settings needs only the tab's admin.view
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    search = left.text_input(
        "Search settings",
        key=P + "search",
        persist_state="page",
        placeholder="Name, description or category — e.g. memory, wal, timeout",
        icon=":material/search:",
    ).strip()
    show_all = right.toggle(
        "All settings",
        key=P + "all",
        persist_state="page",
        help="Off: the settings worth checking first. A search always covers all of them.",
        disabled=bool(search),
    )
    everything = settings.list_settings(conn)
    waiting = [s for s in everything if s.pending_restart]
    if waiting:
        st.warning(
            f"{humanize.count(len(waiting), 'setting')} changed in the configuration "
            "wait for a server restart: " + ", ".join(md_escape(s.name) for s in waiting),
            icon=":material/restart_alt:",
        )
    if search:
        shown = settings.list_settings(conn, search=search)
        st.caption(f"{humanize.count(len(shown), 'setting')} match “{md_escape(search)}”.")
    elif show_all:
        shown = everything
        st.caption(f"All {humanize.count(len(shown), 'setting')}.")
    else:
        shown = settings.list_settings(conn, important_only=True)
        st.caption(
            f"{humanize.count(len(shown), 'important setting')} of {len(everything):,} — "
            "search, or turn on All settings, to see the rest."
        )
    if not shown:
        st.info(
            f"No setting matches “{md_escape(search)}” — try a shorter word.",
            icon=":material/search_off:",
        )
        return
    groups = settings.grouped(shown)
    for category, items in groups.items():
        flag = " :material/restart_alt:" if any(s.pending_restart for s in items) else ""
        with st.expander(
            f"{md_escape(category)} · {len(items)}{flag}",
            # Everything open is readable for a search or the short list, not for all 359.
            expanded=bool(search) or not show_all or len(groups) == 1,
        ):
            st.dataframe(
                table(items),
                hide_index=True,
                column_config=_COLUMNS,
                width="stretch",
                # Every row of a category at once (no inner scrolling) up to a screenful.
                height=min(ROW_PX * (len(items) + 1) + 3, 640),
            )
    _details(shown)


def table(items: list[settings.Setting]) -> pd.DataFrame:
    """Settings as the tables show them."""
    return pd.DataFrame(
        {
            "Setting": [s.name for s in items],
            "Value": [s.value for s in items],
            "Raw": [s.setting for s in items],
            "Unit": [s.unit or "" for s in items],
            "Source": [s.source for s in items],
            "Applies on": [APPLIES.get(s.context, s.context) for s in items],
            "Restart": [PENDING_MARK if s.pending_restart else "" for s in items],
            "Description": [s.short_desc for s in items],
        },
        columns=list(_COLUMNS),
    )


def _details(shown: list[settings.Setting]) -> None:
    """One setting in full: the long description, defaults, allowed values."""
    by_name = {s.name: s for s in shown}
    name = st.selectbox(
        "Details of",
        list(by_name),
        key=P + "detail",
        persist_state="page",
        index=None,
        placeholder="Choose a setting",
    )
    chosen = by_name.get(str(name))
    if chosen is None:
        return
    with st.container(border=True):
        st.markdown(f"**{md_escape(chosen.name)}** = {md_escape(chosen.value)}")
        st.write(chosen.short_desc)
        if chosen.extra_desc:
            st.caption(chosen.extra_desc)
        facts = {
            "Type": chosen.vartype,
            "Source": chosen.source,
            "Applies on": APPLIES.get(chosen.context, chosen.context),
            "Default": _with_unit(chosen.boot_val, chosen),
            "Value at reload": _with_unit(chosen.reset_val, chosen),
        }
        if chosen.enumvals:
            facts["Allowed"] = ", ".join(chosen.enumvals)
        if chosen.pending_restart:
            facts["Restart"] = PENDING_MARK
        st.dataframe(
            pd.DataFrame({"": list(facts), "Value": list(facts.values())}),
            hide_index=True,
            width="stretch",
        )


def _with_unit(raw: str | None, setting: settings.Setting) -> str:
    if raw is None:
        return "NULL"
    return settings.display_value(raw, setting.unit, setting.vartype)
