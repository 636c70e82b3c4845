"""The floor page for bench/ui.py: the bare components Tusk's Studio is made of, nothing else.

streamlit-code-editor (Ctrl+Enter submits, like tusk/ui/editor.py) and one st_aggrid AgGrid
showing the first 1,000 rows of the statement, fetched as Tusk does (limit + 1 rows through a
server-side cursor) from the PostgreSQL server named by the TUSK_FLOOR_PG conninfo. bench/ui.py
starts it itself: `streamlit run bench/ui_floor.py` with TUSK_FLOOR_PG set.
"""

from __future__ import annotations

import os

import pandas as pd
import psycopg
import streamlit as st
from code_editor import code_editor
from st_aggrid import AgGrid

LIMIT = 1000

st.set_page_config(page_title="floor", layout="wide")


@st.cache_resource
def connection() -> psycopg.Connection:
    """One PostgreSQL connection for the page (the bench runs one session)."""
    return psycopg.connect(os.environ["TUSK_FLOOR_PG"], autocommit=False)


def fetch(sql: str) -> pd.DataFrame:
    """The first LIMIT rows of `sql` (LIMIT + 1 fetched, like Tusk, to know it was cut)."""
    conn = connection()
    try:
        with conn.cursor(name="floor") as cur:
            cur.execute(sql)
            rows = cur.fetchmany(LIMIT + 1)
            names = [d.name for d in cur.description or []]
    finally:
        conn.rollback()
    return pd.DataFrame(rows[:LIMIT], columns=names)


response = code_editor(
    "",
    lang="sql",
    height=[10, 24],
    buttons=[
        {
            "name": "Run",
            "feather": "Play",
            "primary": True,
            "hasText": True,
            "showWithIcon": True,
            "alwaysOn": True,
            "commands": ["submit"],
            "style": {"bottom": "0.44rem", "right": "0.4rem"},
        }
    ],
    response_mode=["debounce", "blur"],
    options={  # as tusk/ui/editor.py: completion on Ctrl+Space, Enter stays a newline
        "wrap": True,
        "showLineNumbers": True,
        "enableBasicAutocompletion": True,
        "enableLiveAutocompletion": False,
    },
    key="floor_editor",
)
if response.get("type") == "submit" and response.get("id") != st.session_state.get("last"):
    st.session_state["last"] = response["id"]
    st.session_state["frame"] = fetch(response.get("text") or "")
frame = st.session_state.get("frame")
if frame is not None:
    st.caption(f"{len(frame)} rows")
    AgGrid(frame, height=420, key="floor_grid", update_on=[])
