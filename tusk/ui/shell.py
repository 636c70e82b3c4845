"""Page anatomy shared by every page: config, sidebar links, header row, error display (from
error_display)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from tusk import config
from tusk.errors import TuskError

# Pages import these from here with the rest of their frame; they live below it, in
# error_display, because the frame's own sign-in gate and theme switch show errors too.
from tusk.ui.error_display import error_markdown as error_markdown
from tusk.ui.error_display import md_escape as md_escape
from tusk.ui.error_display import show_error as show_error


@dataclass(frozen=True)
class PageInfo:
    """One page of the app."""

    path: str
    label: str
    icon: str
    blurb: str
    permission: str | None = None  # needed to open the page in multi-user mode


FAVICON = Path(__file__).with_name("favicon.png")

PAGES: tuple[PageInfo, ...] = (
    PageInfo("app.py", "Home", ":material/home:", "Connections and what Tusk can do."),
    PageInfo(
        "pages/1_Studio.py",
        "Studio",
        ":material/terminal:",
        "SQL client for PostgreSQL, SQLite, DuckDB and DataFusion.",
        "queries.execute",
    ),
    PageInfo(
        "pages/8_Schema.py",
        "Schema",
        ":material/schema:",
        "ER diagrams from the foreign keys; compare two schemas and get the DDL between them.",
        "connections.use",
    ),
    PageInfo(
        "pages/2_Admin.py",
        "Admin",
        ":material/monitor_heart:",
        "PostgreSQL activity, locks, backups, maintenance, roles and settings.",
        "admin.view",
    ),
    PageInfo(
        "pages/3_Data.py",
        "Data",
        ":material/account_tree:",
        "Visual Polars pipelines from files and databases.",
        "data.view",
    ),
    PageInfo(
        "pages/4_Geo.py",
        "Geo",
        ":material/map:",
        "Maps of geometry and lat/lon columns.",
        "data.view",
    ),
    PageInfo(
        "pages/5_Cluster.py",
        "Cluster",
        ":material/hub:",
        "Distributed SQL on a cluster of workers.",
        "cluster.view",
    ),
    PageInfo(
        "pages/7_Profile.py",
        "Profile",
        ":material/person:",
        "Your name, e-mail, password and sessions.",
    ),
    PageInfo(
        "pages/6_Users.py",
        "Users",
        ":material/group:",
        "Users, groups and permissions.",
        "system.users",
    ),
)


def page_info(label: str) -> PageInfo:
    """The PageInfo for a page label."""
    for p in PAGES:
        if p.label == label:
            return p
    raise KeyError(label)


def time_fragment(label: str) -> None:
    """First call of a fragment: with TUSK_PAGE_TIMING set (bench/ui.py), its fragment-only
    reruns are timed too, as `label`."""
    if os.environ.get("TUSK_PAGE_TIMING"):
        from tusk.ui import timing

        timing.start(label, keep=True)


def setup_page(label: str) -> PageInfo:
    """First call of every page: page config and the sidebar with the page links."""
    if os.environ.get("TUSK_PAGE_TIMING"):  # bench/ui.py: time each page run (tusk/ui/timing.py)
        from tusk.ui import timing

        timing.start(label)
    from tusk import auth
    from tusk.engines import isolation
    from tusk.ui import auth_gate

    # This process is the shared server: user SQL of in-process engines runs in worker
    # processes (a crash there cannot take every session down), and in multi-user mode a
    # library action without a user is refused rather than trusted.
    auth.serve()
    isolation.enable()
    info = page_info(label)
    # A bundled image: a Material icon as page_icon makes the browser fetch an SVG from
    # fonts.gstatic.com for the favicon, and Tusk must not need the internet.
    st.set_page_config(page_title=f"Tusk · {info.label}", page_icon=str(FAVICON), layout="wide")
    try:
        config.load()  # a damaged or mistyped config.toml: say which file and value
        user = auth_gate.gate()  # multi-user mode: stops here until someone signs in
    except TuskError as exc:  # e.g. a damaged auth.db: say so and go no further (fail closed)
        show_error(exc)
        st.stop()
    with st.sidebar:
        st.markdown("### :material/database: Tusk")
        for p in PAGES:
            if p.label == "Profile":
                continue  # linked under the signed-in user, at the bottom
            if p.permission is None or auth.allowed(user, p.permission):
                st.page_link(p.path, label=p.label, icon=p.icon)
        st.divider()
    if info.permission is not None and not auth.allowed(user, info.permission):
        st.error(
            f"**Permission denied** — opening {info.label} needs the {info.permission} "
            "permission. Ask an administrator.",
            icon=":material/block:",
        )
        sidebar_footer()
        st.stop()
    return info


def current_user():  # noqa: ANN201 - a tusk.auth.schema.User or None
    """The signed-in user (None in single-user mode)."""
    from tusk.ui import auth_gate

    return auth_gate.current_user()


def sidebar_footer() -> None:
    """The bottom of the sidebar: theme switch, who is signed in."""
    from tusk.ui import auth_gate, theme

    with st.sidebar:
        st.divider()
        theme.theme_toggle()
        user = auth_gate.current_user()
        if user is None:
            st.caption(":material/person: Single-user mode (no login)")
        else:
            st.page_link(
                "pages/7_Profile.py",
                label=user.display_name or user.username,
                icon=":material/person:",
            )
            if st.button("Sign out", icon=":material/logout:", key="tusk_sign_out"):
                auth_gate.request_sign_out()
                st.rerun()


def header(info: PageInfo, context: str | None = None) -> None:
    """The page's header row: title at left, the context it acts on at right."""
    left, right = st.columns([3, 2], vertical_alignment="bottom")
    left.title(f"{info.icon} {info.label}")
    if context:
        right.markdown(context, text_alignment="right")
