"""The dialog a destructive action opens first (UI.md: ask in a dialog that names the object,
the riskiest ask for its name typed): a body, then the action and a way out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import streamlit as st

from tusk.errors import TuskError
from tusk.ui.shell import show_error


def confirm_dialog(
    title: str,
    content: Callable[[], bool | None],
    *,
    action: str,
    on_confirm: Callable[[], None],
    close: Callable[[], None],
    keys: tuple[str, str],
    icon: str | None = None,
    cancel: str = "Keep it",
    on_error: Callable[[TuskError], None] = show_error,
    stretch: bool = False,
) -> None:
    """Open the confirmation dialog; call it on every run while its session-state flag is set.

    `content` draws the body and returns False while the action must wait (the name not typed
    yet); a TuskError from it means there is nothing to confirm: the dialog closes and shows it.
    `on_confirm` does the action: a TuskError from it is shown in the dialog, which stays open;
    otherwise the dialog closes and the whole page reruns. `close` clears the flag (and the
    dialog's inputs); `keys` are the widget keys of the action and cancel buttons.
    """
    width: Literal["stretch", "content"] = "stretch" if stretch else "content"

    @st.dialog(title, on_dismiss=close)
    def body() -> None:
        try:
            ready = content() is not False
        except TuskError as exc:
            close()
            on_error(exc)
            return
        yes, no = st.columns(2)
        # Not on_click callbacks: the dialog is a fragment, and only st.rerun() from its body
        # reruns the whole page (closing the dialog and showing the outcome).
        if yes.button(
            action, type="primary", icon=icon, key=keys[0], disabled=not ready, width=width
        ):
            try:
                on_confirm()
            except TuskError as exc:
                on_error(exc)
                return
            close()
            st.rerun()
        if no.button(cancel, key=keys[1], width=width):
            close()
            st.rerun()

    body()
