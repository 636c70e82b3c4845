"""Errors and user text on a page: Markdown escaped, a Tusk error as title plus message.

Below the page frame (`tusk.ui.shell`) so the frame's own parts (sign-in gate, theme switch)
show errors without importing the frame; pages get these names through `tusk.ui.shell` too.
"""

from __future__ import annotations

import logging
from typing import Any

import streamlit as st

from tusk.errors import TuskError

log = logging.getLogger("tusk.ui")

_MD_SPECIAL = set("\\`*_{}[]()<>#+-.!|~$:")


def md_escape(text: str) -> str:
    """Escape Markdown so user-chosen names (connections, tables) render literally."""
    return "".join("\\" + c if c in _MD_SPECIAL else c for c in text)


def error_markdown(title: str, message: str) -> str:
    """An error as Markdown: the title in bold, then the message, both shown as written."""
    # Messages carry the server's text and user-chosen names (order_items, **x**, [a](b)):
    # escape every line, and keep the line breaks.
    lines = "  \n".join(md_escape(line) for line in message.splitlines())
    return f"**{md_escape(title)}** — {lines}"


def show_error(exc: TuskError, *, title: str | None = None, into: Any = None) -> None:
    """Show a Tusk error as a short title plus the server's message (never a traceback);
    `title` replaces the error's own, `into` is the container to draw in (default: the page)."""
    log.info("%s: %s", exc.title, exc.message)
    target = st if into is None else into
    target.error(error_markdown(title or exc.title, exc.message), icon=":material/error:")
