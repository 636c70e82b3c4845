"""Light/dark theme: stored in config.toml, applied to Streamlit, the grid and the editor."""

from __future__ import annotations

import streamlit as st
from streamlit import config as st_config

from tusk import config
from tusk.errors import TuskError

_WIDGET = "tusk_dark_theme"


def current() -> str:
    """'light' or 'dark' as configured."""
    try:
        return str(config.load()["theme"])
    except TuskError:
        return "light"


def apply() -> None:
    """Make Streamlit's theme follow the setting (sessions opened from now on get it)."""
    wanted = current()
    if st_config.get_option("theme.base") != wanted:
        # Streamlit sends the theme when a page loads: this reaches the next load.
        st_config.set_option("theme.base", wanted)


def _toggled() -> None:
    theme = "dark" if st.session_state.get(_WIDGET) else "light"
    try:
        config.set_value("theme", theme)
    except TuskError as exc:
        st.toast(f"Could not save the theme: {exc.message}", icon=":material/error:")
        return
    st_config.set_option("theme.base", theme)
    st.session_state["tusk_theme_reload"] = True


def theme_toggle() -> None:
    """The sidebar switch (every page): saved in config, applied on the next run."""
    if _WIDGET not in st.session_state:
        st.session_state[_WIDGET] = current() == "dark"
    st.toggle("Dark theme", key=_WIDGET, on_change=_toggled)
    if st.session_state.pop("tusk_theme_reload", False):
        # Streamlit applies a theme when the page loads; query tabs are kept on disk.
        st.html("<script>window.location.reload()</script>", unsafe_allow_javascript=True)
