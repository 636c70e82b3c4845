"""Admin tab actions run from a button's callback: the action runs before the page redraws (so
what is drawn below already shows its effect), and what happened is kept in session state for
the run that follows to show."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import streamlit as st

from tusk.errors import TuskError
from tusk.ui.shell import md_escape, show_error

if TYPE_CHECKING:
    from tusk.admin import AdminConnection


class Done(NamedTuple):
    """A finished action: a short toast and the full message (statement, versions, duration)."""

    toast: str
    message: str


@dataclass(frozen=True)
class LastOutcome:
    """Where a tab keeps its last action's Done or TuskError, shown until the next action and
    only on the connection and database it happened on; `toast_key` is set for one run after
    a success."""

    key: str
    toast_key: str

    def keep(self, connection: str, database: str, outcome: Done | TuskError) -> None:
        """Remember what happened, and where; a success also toasts once."""
        if not isinstance(outcome, TuskError):
            st.session_state[self.toast_key] = True
        st.session_state[self.key] = (connection, database, outcome)

    def forget(self) -> None:
        """Drop the last outcome (a new action has started)."""
        st.session_state.pop(self.key, None)

    def act(self, conn: AdminConnection, action: Callable[[], Done]) -> None:
        """Button callback: run the action and keep its Done or its TuskError."""
        try:
            outcome: Done | TuskError = action()
        except TuskError as exc:
            outcome = exc
        self.keep(conn.spec.name, conn.database, outcome)

    def show(self, conn: AdminConnection) -> None:
        """The last action's result or error, if it happened on this connection and database."""
        found = st.session_state.get(self.key)
        if found is None or tuple(found[:2]) != (conn.spec.name, conn.database):
            return
        outcome = found[2]
        if isinstance(outcome, TuskError):
            show_error(outcome)
            return
        st.success(md_escape(outcome.message), icon=":material/check_circle:")
        if st.session_state.pop(self.toast_key, False):
            st.toast(md_escape(outcome.toast), icon=":material/check_circle:")


def keep_error(error_key: str, action: Callable[[], object]) -> None:
    """Button callback: run the action; keep a TuskError under `error_key` for the next run."""
    try:
        action()
    except TuskError as exc:
        st.session_state[error_key] = exc


def show_kept_error(error_key: str) -> None:
    """The error `keep_error` kept, shown once."""
    error = st.session_state.pop(error_key, None)
    if error is not None:
        show_error(error)
