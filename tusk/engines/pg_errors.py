"""PostgreSQL errors as Tusk errors: a psycopg error mapped to QueryFailed and its kin, the
connect failure's hint, and the password scrubbed from any message (the engine and tusk.admin)."""

from __future__ import annotations

import re

import psycopg

from tusk.engines.base import CONNECT_TIMEOUT_S
from tusk.engines.spec import ConnectionSpec
from tusk.errors import ConnectionLost, QueryCancelled, QueryFailed

# The server ended the session (admin_shutdown, as on a restart; crash_shutdown;
# cannot_connect_now) or the connection itself failed (class 08).
LOST_STATES = frozenset({"57P01", "57P02", "57P03"})


def query_error(
    exc: Exception, secret: str | None = None, conn: psycopg.Connection | None = None
) -> QueryFailed | QueryCancelled:
    """Map a psycopg error to a Tusk error carrying the server's message and position;
    ConnectionLost when the session is gone (`conn`, if given, is checked too: libpq's own
    "the connection is lost" carries no SQLSTATE)."""
    if isinstance(exc, UnicodeEncodeError):
        # psycopg encodes SQL and parameters in the connection's encoding (a LATIN1 database
        # has no '€') and raises Python's own error for what does not fit.
        return QueryFailed(
            f"{exc.object[exc.start]!r} cannot be sent to this database: its encoding "
            f"({exc.encoding}) has no such character. Remove it, or use a UTF8 database.",
            "Character not in the database's encoding",
        )
    state = getattr(exc, "sqlstate", None) or ""
    if state in LOST_STATES or state.startswith("08") or (conn is not None and conn.closed):
        reason = scrub(str(exc).strip() or type(exc).__name__, secret)
        return ConnectionLost(
            f"The connection to the server was lost ({reason}). Nothing was run again: "
            "the next run reconnects."
        )
    if isinstance(exc, psycopg.errors.QueryCanceled):
        msg = str(exc).strip()
        if "statement timeout" in msg:
            return QueryFailed(msg, "Statement timeout")
        return QueryCancelled("The query was cancelled.")
    msg = _DECLARE.sub(_undeclare, str(exc).strip() or type(exc).__name__)
    msg = scrub(msg, secret)
    pos = None
    diag = getattr(exc, "diag", None)
    if diag is not None and diag.statement_position:
        try:
            pos = int(diag.statement_position)
        except ValueError:
            pos = None
    return QueryFailed(msg, position=pos)


# The server quotes the failing line; for a first page that line starts with our DECLARE.
_DECLARE = re.compile(r'^(LINE \d+: )DECLARE "tusk_\d+" CURSOR FOR (.*)\n( *)\^', re.MULTILINE)


def _undeclare(m: re.Match[str]) -> str:
    """The quoted line and its caret without Tusk's DECLARE prefix."""
    cut = len(m.group(0).split("\n")[0]) - len(m.group(1)) - len(m.group(2))
    caret = " " * max(len(m.group(3)) - cut, len(m.group(1)))
    return f"{m.group(1)}{m.group(2)}\n{caret}^"


def scrub(message: str, secret: str | None) -> str:
    """Remove a password from a message, should a driver ever echo it."""
    if secret:
        return message.replace(secret, "********")
    return message


def connect_message(exc: Exception, spec: ConnectionSpec, secret: str | None) -> str:
    """The server's reason, plus a hint of what to check."""
    text = scrub(str(exc).strip(), secret)
    where = f"{spec.host or 'localhost'}:{spec.port or 5432}"
    low = text.lower()
    if "timeout" in low or "timed out" in low:
        return (
            f"No answer from {where} within {CONNECT_TIMEOUT_S} s — is the host reachable? ({text})"
        )
    if "refused" in low:
        return f"Connection refused by {where} — is the server running? ({text})"
    if "password authentication failed" in low:
        return f"Wrong user name or password for {where}. ({text})"
    return text


READ_ONLY_MESSAGE = "This session is read-only: it may read data, never change it."
