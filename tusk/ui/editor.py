"""The SQL editor (streamlit-code-editor, an Ace editor) and its keyboard commands."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Completion data for one editor: see tusk.completion.editor_data.
Completions = dict[str, Any]
_HOOK_JS = Path(__file__).with_name("editor_hook.js")
# The hook's element: drawn on every run, shows nothing and takes no room.
_HOOK_CSS = (
    "<style>.stElementContainer:has(.tusk-editor-hook){display:none}</style>"
    '<span class="tusk-editor-hook"></span>'
)


# Ace bindings. Ctrl+N / Ctrl+T / Ctrl+W belong to the browser (a page cannot catch them),
# so the tab shortcuts use Alt: Ctrl+Alt+N new tab, Ctrl+Alt+W close tab.
def _key_only(name: str, response: str, win: str, mac: str | None = None) -> dict[str, Any]:
    """An invisible editor button: only its key binding, which sends `response` to Python."""
    return {
        "name": name,
        "hasText": False,
        "alwaysOn": False,
        "commands": [["response", response]],
        "bindKey": {"win": win, "mac": mac or win},
        "style": {"display": "none"},
    }


_BUTTONS: list[dict[str, Any]] = [
    {
        "name": "Run",
        "feather": "Play",
        "primary": True,
        "hasText": True,
        "showWithIcon": True,
        "alwaysOn": True,
        "commands": ["submit"],
        "style": {"bottom": "0.44rem", "right": "0.4rem"},
    },
    {
        "name": "Save",
        "feather": "Save",
        "hasText": True,
        "showWithIcon": True,
        "alwaysOn": True,
        "commands": [["response", "save"]],
        "bindKey": {"win": "Ctrl-S", "mac": "Command-S"},
        "style": {"bottom": "0.44rem", "right": "5.4rem"},
    },
    _key_only("Run statement", "run_current", "Ctrl-Shift-Enter", "Command-Shift-Enter"),
    _key_only("Cancel", "cancel", "Esc"),
    _key_only("New tab", "new_tab", "Ctrl-Alt-N", "Command-Alt-N"),
    _key_only("Close tab", "close_tab", "Ctrl-Alt-W", "Command-Alt-W"),
    _key_only("Refresh schema", "refresh", "F5"),
]

SHORTCUTS = (
    "Ctrl+Enter run (selection or all) · Ctrl+Shift+Enter run statement at cursor · Ctrl+S save · Ctrl+Space complete · Esc cancel · F5 refresh schema · "
    "Ctrl+Alt+N new tab · Ctrl+Alt+W close tab"
)


@dataclass(frozen=True)
class EditorEvent:
    """What the editor reported: an event type ("submit", "save", …), text, selection, cursor."""

    id: str
    type: str
    text: str
    selected: str
    cursor: dict[str, int] | None


def editor_key(tab_id: str, version: int) -> str:
    """The component key of a tab's editor (a new version remounts it with new text)."""
    return f"editor_{tab_id}_{version}"


def sql_editor(
    code: str,
    key: str,
    completions: list[dict[str, Any]] | Callable[[str], Completions],
    *,
    dark: bool = False,
) -> EditorEvent | None:
    """Draw the editor; return its latest event (None before the first one).

    `completions` is a fixed list, or a function of the editor's current text giving
    `tusk.completion.editor_data` (read after the editor reports, so never a run behind)."""
    from code_editor import code_editor

    response = code_editor(
        code,
        lang="sql",
        theme="dracula" if dark else "default",
        height=[10, 24],
        # The component keeps the completions of its first draw for the editor's life: they
        # go to the hook below instead, and its arguments stay the same from run to run.
        completions=[],
        buttons=_BUTTONS,
        response_mode=["debounce", "blur"],
        options={
            "wrap": True,
            "showLineNumbers": True,
            "enableBasicAutocompletion": True,
            "enableLiveAutocompletion": False,  # Ctrl+Space; Enter stays a newline
        },
        key=key,
    )
    event = parse_event(response)
    if callable(completions):
        data = completions(event.text if event is not None else code)
    else:
        data = {"entries": completions, "tables": [], "lookup": {}}
    _hook(key, data)
    return event


def _hook(key: str, data: Completions) -> None:
    """Hand the browser this editor's completion data (and hook new editors, see the JS)."""
    import streamlit as st

    css_key = re.sub(r"[^a-zA-Z0-9_-]", "-", key.strip())  # as Streamlit's st-key-… class
    script = (
        _hook_script().replace("__TUSK_KEY__", _js(css_key)).replace("__TUSK_DATA__", _js(data))
    )
    st.html(f"{_HOOK_CSS}<script>{script}</script>", unsafe_allow_javascript=True)


@functools.cache
def _hook_script() -> str:
    return _HOOK_JS.read_text(encoding="utf-8")


def _js(value: object) -> str:
    """A JSON value that is safe inside a <script> element."""
    return json.dumps(value, separators=(",", ":")).replace("<", "\\u003c")


def parse_event(response: Any) -> EditorEvent | None:
    """Turn the component's dict into an EditorEvent (None when it carries nothing)."""
    if not isinstance(response, dict) or not response.get("id"):
        return None
    cursor = response.get("cursor")
    return EditorEvent(
        id=str(response["id"]),
        type=str(response.get("type") or ""),
        text=str(response.get("text") or ""),
        selected=str(response.get("selected") or ""),
        cursor=cursor if isinstance(cursor, dict) else None,
    )


def statement_at(
    text: str, cursor: dict[str, int] | None, dialect: str | None = None
) -> str | None:
    """The statement under the cursor (row/column as Ace reports them), or None: see
    `tusk.sqltext.statement_at` for which statement a cursor between two picks."""
    from tusk import sqltext

    if cursor is None:
        return None
    lines = text.split("\n")
    row = min(max(int(cursor.get("row", 0)), 0), len(lines) - 1)
    column = _index_of_column(lines[row], int(cursor.get("column", 0)))
    offset = sum(len(line) + 1 for line in lines[:row]) + column
    found = sqltext.statement_at(text, offset, dialect)
    return found.text if found else None


def _index_of_column(line: str, column: int) -> int:
    """The index into `line` of an Ace column, which counts UTF-16 code units (an emoji is 2)."""
    if line.isascii():
        return min(max(column, 0), len(line))
    units = 0
    for index, ch in enumerate(line):
        if units >= column:
            return index
        units += 2 if ord(ch) > 0xFFFF else 1
    return len(line)
