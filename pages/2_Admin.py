"""Tusk · Admin: PostgreSQL administration on a saved connection."""

from __future__ import annotations

import streamlit as st

from tusk.ui import admin_page
from tusk.ui.shell import header, md_escape, setup_page, sidebar_footer

info = setup_page("Admin")
spec = admin_page.pick_connection()
sidebar_footer()
header(info, None if spec is None else f":material/dns: **{md_escape(spec.name)}**")
if spec is None:
    admin_page.no_connection()
    st.stop()
conn = admin_page.open_connection(spec)
if conn is None:
    st.stop()
admin_page.sections(conn)
