"""Query tabs kept in session state: each has its own SQL, connection and last results."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

from tusk import config
from tusk.errors import TuskError
from tusk.runs import StatementOutcome
from tusk.ui.shell import md_escape

_TABS = "studio_tabs"
ACTIVE_KEY = "studio_active_tab"  # also the key of the tab picker widget
_PENDING = "studio_pending_tab"  # a switch asked for after the picker was drawn
_SAVED = "_studio_drafts_saved"  # the drafts text last written or read: no rewrite when equal
DEFAULT_SQL = "select * from orders limit 100"
DRAFTS_FILE = "studio-tabs.json"  # drafts survive reloads and restarts (one file per user)
_DRAFTS_ERROR = "_studio_drafts_error"  # the last drafts write failure shown, told once
log = logging.getLogger(__name__)


@dataclass
class QueryTab:
    """A query tab: title, SQL draft, connection and the outcomes of its last run."""

    id: str
    title: str
    sql: str
    connection: str
    outcomes: list[StatementOutcome] = field(default_factory=list)
    editor_version: int = 0  # bumped when SQL is replaced from outside the editor
    last_event: str = ""  # id of the last editor event acted on (the editor's value is sticky)
    params: dict[str, str] = field(default_factory=dict)
    run: Any = None  # tusk.runs.Run while a query runs


def tabs() -> list[QueryTab]:
    """This session's tabs: restored from the last session's drafts, else one new tab."""
    if _TABS not in st.session_state or not st.session_state[_TABS]:
        restored, active_id = _restore()
        if not restored:
            restored = [QueryTab(_new_id(), "Query 1", DEFAULT_SQL, "demo")]
        st.session_state[_TABS] = restored
        st.session_state[ACTIVE_KEY] = active_id or restored[0].id
        if active_id is not None:
            # What is on disk already: a fresh session (a reload) writes nothing until a change.
            st.session_state[_SAVED] = _drafts_text()
    return st.session_state[_TABS]


def _drafts_path() -> Path:
    """Single mode: one drafts file. Multi mode: one per signed-in user, never shared: named by
    the user's uid, which is never reused, and removed when the user is deleted."""
    from tusk.auth.users import user_file
    from tusk.ui.auth_gate import current_user

    user = current_user()
    if user is None:
        return config.home() / DRAFTS_FILE
    return user_file(user, DRAFTS_FILE)


def _drafts_text() -> str:
    """The drafts file's text for this session's tabs."""
    all_tabs = st.session_state.get(_TABS) or []
    data = {
        "active": st.session_state.get(ACTIVE_KEY),
        "tabs": [
            {"id": t.id, "title": t.title, "sql": t.sql, "connection": t.connection}
            for t in all_tabs
        ],
    }
    # ASCII escapes keep a lone surrogate (a bad paste) as \\ud800, which UTF-8 cannot hold.
    return json.dumps(data)


def save_drafts() -> None:
    """Keep every tab's title, SQL and connection on disk, so a reload loses no draft."""
    text = _drafts_text()
    if st.session_state.get(_SAVED) == text:
        return  # unchanged: no write on every rerun
    try:
        # One writer per file: the whole session state replaces it (no read-modify-write).
        config.atomic_write(_drafts_path(), text, mode=0o600)
    except TuskError as exc:
        # Drafts are a convenience: never break the page over them, but say so once.
        if st.session_state.get(_DRAFTS_ERROR) != exc.message:
            st.session_state[_DRAFTS_ERROR] = exc.message
            st.toast(
                f"Your tabs could not be kept for your next visit: {md_escape(exc.message)}",
                icon=":material/error:",
                duration="long",
            )
        return
    st.session_state.pop(_DRAFTS_ERROR, None)
    st.session_state[_SAVED] = text


def _restore() -> tuple[list[QueryTab], str | None]:
    """The tabs kept by save_drafts; a drafts file Tusk cannot read is kept aside as a copy
    (never silently replaced by the next save) and the user is told."""
    path = _drafts_path()
    try:
        text = path.read_bytes()
    except OSError:
        return [], None  # none yet (or unreadable: nothing to keep aside)
    try:
        data = json.loads(text.decode("utf-8"))
        restored = [
            QueryTab(str(t["id"]), str(t["title"]), str(t["sql"]), str(t["connection"]))
            for t in data.get("tabs", [])
        ]
        active = data.get("active")
        return restored, active if isinstance(active, str) else None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        problem = f"{exc.__class__.__name__}: {exc}"[:200]
    copy = config.keep_aside(path)
    kept = f"a copy was kept as {copy}" if copy else "Tusk could not keep a copy of it"
    log.warning("Drafts file %s cannot be read (%s); %s", path, problem, kept)
    st.toast(
        f"Your saved tabs could not be read ({path.name} is damaged); {kept}. "
        "Starting with a new tab.",
        icon=":material/warning:",
        duration="infinite",
    )
    return [], None


def active() -> QueryTab:
    """The tab being shown."""
    all_tabs = tabs()
    wanted = st.session_state.get(ACTIVE_KEY)
    for tab in all_tabs:
        if tab.id == wanted:
            return tab
    st.session_state[ACTIVE_KEY] = all_tabs[0].id
    return all_tabs[0]


def activate(tab_id: str) -> None:
    """Show another tab from the next run on (the picker's key cannot change once drawn)."""
    st.session_state[_PENDING] = tab_id


def apply_pending() -> None:
    """At the top of the page: switch to a tab asked for in the previous run."""
    pending = st.session_state.pop(_PENDING, None)
    if pending is not None and any(t.id == pending for t in tabs()):
        st.session_state[ACTIVE_KEY] = pending


def new_tab(connection: str, sql: str = "", title: str | None = None) -> QueryTab:
    """Open a new tab after the others and show it."""
    all_tabs = tabs()
    used = {t.title for t in all_tabs}
    n = len(all_tabs) + 1
    while title is None or title in used:
        title, n = f"Query {n}", n + 1
        if title not in used:
            break
    tab = QueryTab(_new_id(), title, sql, connection)
    all_tabs.append(tab)
    activate(tab.id)
    return tab


def close_tab(tab_id: str) -> None:
    """Close a tab (its running query is cancelled); the last tab is replaced by a fresh one."""
    all_tabs = tabs()
    index = next((i for i, t in enumerate(all_tabs) if t.id == tab_id), None)
    if index is None:
        return
    tab = all_tabs.pop(index)
    if tab.run is not None and not tab.run.done:
        tab.run.cancel()
    if not all_tabs:
        all_tabs.append(QueryTab(_new_id(), "Query 1", "", tab.connection))
    activate(all_tabs[min(index, len(all_tabs) - 1)].id)


def rename_tab(tab_id: str, title: str) -> None:
    """Rename a tab (blank names are ignored)."""
    title = title.strip()
    if not title:
        return
    for tab in tabs():
        if tab.id == tab_id:
            tab.title = title[:60]


def set_sql(tab: QueryTab, sql: str) -> None:
    """Replace a tab's SQL from outside the editor (schema browser, history, saved query)."""
    tab.sql = sql
    tab.editor_version += 1


def _new_id() -> str:
    return uuid.uuid4().hex[:8]


def is_busy(tab: QueryTab) -> bool:
    """True while the tab's query runs."""
    return tab.run is not None and not tab.run.done
