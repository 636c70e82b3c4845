"""Errors that cross layers: every one carries a short title and a readable message."""

from __future__ import annotations


class TuskError(Exception):
    """Base error: `title` is a few words, `message` says what happened and what to do."""

    title: str = "Something went wrong"

    def __init__(self, message: str, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title

    def __str__(self) -> str:
        return self.message


class ConnectionFailed(TuskError):
    """The database could not be reached or refused the credentials."""

    title = "Connection failed"


class QueryFailed(TuskError):
    """The database rejected a statement; `position` is the 1-based character offset if known."""

    title = "Query failed"

    def __init__(self, message: str, title: str | None = None, position: int | None = None) -> None:
        super().__init__(message, title)
        self.position = position


class ConnectionLost(QueryFailed):
    """The connection broke under a statement (server restart, session ended): Tusk does not
    run the statement again; the next run opens a new connection."""

    title = "Connection lost"


class QueryCancelled(TuskError):
    """A running statement was cancelled on request."""

    title = "Query cancelled"


class PermissionDenied(TuskError):
    """The current user may not do this."""

    title = "Permission denied"


class BadInput(TuskError):
    """A value given by the user is not acceptable (unknown key, bad path, bad number)."""

    title = "Bad input"


class EngineCrashed(ConnectionLost):
    """The engine's worker process died (a crash, or out of memory); it is started again on
    the next use, where the session reopens (nothing is run again)."""

    title = "Engine restarted"
