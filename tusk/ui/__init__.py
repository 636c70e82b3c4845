"""The only part of Tusk that imports Streamlit: one package per page (studio, admin, data,
geo, cluster, users) and home.py, each with a render() its file in pages/ calls; the shared
widgets (shell, session, theme, timing, editor, grid, humanize, live, confirm, auth_gate) here."""
