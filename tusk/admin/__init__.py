"""PostgreSQL administration over a saved connection: server stats, activity, locks, backups,
maintenance, extensions, roles and settings.

Every module here follows one pattern:
- SQL lives in named module constants next to the function that runs it; identifiers are
  quoted with `psycopg.sql.Identifier`, values are parameters.
- Functions take an `AdminConnection` (below) and, when they change something, an `actor`:
  they call `auth.require(actor, "admin.…")` first, themselves (the page's guard is not the
  only wall), and write an audit entry (`audit`) once the change succeeded.
- psycopg errors become `QueryFailed` with the server's message (never a traceback).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql as pgsql
from psycopg.rows import dict_row

from tusk import auth
from tusk.engines.abilities import engine_abilities
from tusk.engines.pg_errors import connect_message, query_error
from tusk.engines.pg_errors import scrub as scrub_secret
from tusk.engines.postgres import PostgresEngine
from tusk.engines.postgres import identifier as _checked_identifier
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput, ConnectionFailed, QueryFailed

if TYPE_CHECKING:
    from tusk.auth.schema import User

APPLICATION_NAME = "tusk admin"
# The page's own connection gives up on a lock after this long: a view must not hang behind a
# VACUUM FULL (whose pending ACCESS EXCLUSIVE queues even pg_relation_size). Long actions run
# on a connection of their own without it (tusk.admin.jobs).
PAGE_LOCK_TIMEOUT_S = 3.0


class AdminConnection:
    """One autocommit psycopg connection for admin work (stats views are snapshots inside a
    transaction, so autocommit is required to see fresh numbers on every tick).

    Thread-safe: a lock serialises statements (Streamlit fragments and worker threads share it).
    """

    def __init__(self, spec: ConnectionSpec, conn: psycopg.Connection, secret: str | None) -> None:
        self.spec = spec
        self._conn = conn
        self._secret = secret
        self._lock = threading.RLock()

    @property
    def pid(self) -> int:
        """This connection's own backend pid (hidden from activity lists)."""
        return int(self._conn.info.backend_pid)

    @property
    def server_version(self) -> int:
        """The server version number, e.g. 150010."""
        return int(self._conn.info.server_version)

    @property
    def database(self) -> str:
        """The database this connection is in."""
        return str(self._conn.info.dbname)

    @property
    def closed(self) -> bool:
        """True once the connection is closed or broken."""
        return bool(self._conn.closed or self._conn.broken)

    def rows(
        self, query: str | pgsql.Composable, params: Sequence[Any] | dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run one statement; its rows as dicts (empty for statements without rows)."""
        with self._lock:
            try:
                with self._conn.cursor(row_factory=dict_row) as cur:
                    # psycopg types a query as a LiteralString; these are the module constants
                    # of tusk/admin (or psycopg.sql compositions), never user text.
                    cur.execute(query, params)  # type: ignore[arg-type]  # see above
                    return list(cur.fetchall()) if cur.description else []
            except psycopg.errors.LockNotAvailable:
                raise _locked() from None
            except (psycopg.Error, UnicodeEncodeError) as exc:  # a character psycopg cannot send
                raise query_error(exc, self._secret) from None

    def one(
        self, query: str | pgsql.Composable, params: Sequence[Any] | dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """The first row of a statement, or None."""
        found = self.rows(query, params)
        return found[0] if found else None

    def execute(
        self, query: str | pgsql.Composable, params: Sequence[Any] | dict[str, Any] | None = None
    ) -> str:
        """Run one statement outside any transaction (VACUUM needs that); its status text."""
        with self._lock:
            try:
                with self._conn.cursor() as cur:
                    cur.execute(query, params)  # type: ignore[arg-type]  # as in rows()
                    return str(cur.statusmessage or "")
            except psycopg.errors.LockNotAvailable:
                raise _locked() from None
            except (psycopg.Error, UnicodeEncodeError) as exc:  # a character psycopg cannot send
                raise query_error(exc, self._secret) from None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """Several statements as one transaction (role changes, grants)."""
        with self._lock:
            try:
                with self._conn.transaction():
                    yield self._conn
            except (psycopg.Error, UnicodeEncodeError) as exc:  # a character psycopg cannot send
                raise query_error(exc, self._secret) from None

    def cancel(self) -> None:
        """Cancel the statement running on this connection (safe from another thread)."""
        with contextlib.suppress(Exception):  # nothing running, or the connection is gone
            self._conn.cancel_safe(timeout=4)

    def scrub(self, text: str) -> str:
        """Remove the password from a message, should a tool ever echo it."""
        return scrub_secret(text, self._secret)

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with contextlib.suppress(Exception):
            self._conn.close()


def _locked() -> QueryFailed:
    return QueryFailed(
        f"Another session holds a lock this view needs (a VACUUM FULL, REINDEX or long "
        f"transaction?); gave up after {PAGE_LOCK_TIMEOUT_S:.0f} s. Look at the Locks tab.",
        "Locked",
    )


def connect(
    spec: ConnectionSpec, *, lock_timeout_s: float | None = PAGE_LOCK_TIMEOUT_S
) -> AdminConnection:
    """Open an admin connection to a saved PostgreSQL connection (times out in seconds);
    statements give up on a lock after `lock_timeout_s` (None: wait as long as it takes)."""
    if not engine_abilities(spec.engine).administrable:
        raise BadInput(
            f"{spec.name!r} is a {spec.engine} connection; the Admin page works on PostgreSQL.",
            "Not PostgreSQL",
        )
    engine = PostgresEngine(spec)
    info = psycopg.conninfo.make_conninfo(engine.conninfo(), application_name=APPLICATION_NAME)
    secret = spec.secret()
    try:
        conn = psycopg.connect(info, autocommit=True)
        if lock_timeout_s:
            conn.execute(
                "select set_config('lock_timeout', %s, false)", (f"{int(lock_timeout_s * 1000)}ms",)
            )
    except psycopg.Error as exc:
        raise ConnectionFailed(connect_message(exc, spec, secret)) from None
    return AdminConnection(spec, conn, secret)


def identifier(*names: str) -> pgsql.Identifier:
    """A (qualified) identifier quoted by psycopg (BadInput for a NUL, which it cuts off)."""
    return _checked_identifier(*names)


def audit(actor: User | None, action: str, target: str, detail: str = "") -> None:
    """Record a change that succeeded (cancel/terminate, backup, VACUUM, DDL) in the audit log; only in
    multi-user mode, where auth.db exists. Check permissions first with `auth.require`."""
    if auth.mode() != "multi":
        return
    from tusk.auth import audit as auth_audit

    auth_audit.audit(actor.username if actor is not None else "system", action, target, detail)


def positive_pid(pid: object) -> int:
    """A backend pid from user input, as an int (BadInput otherwise)."""
    try:
        value = int(pid)  # type: ignore[call-overload]  # any input; int() refuses the rest
    except (TypeError, ValueError):
        raise BadInput(f"{pid!r} is not a process id.") from None
    if value <= 0:
        raise BadInput(f"{pid!r} is not a process id.")
    return value


__all__ = [
    "AdminConnection",
    "QueryFailed",
    "audit",
    "connect",
    "identifier",
    "positive_pid",
]
