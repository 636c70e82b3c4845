"""Sessions from pg_stat_activity, and cancelling or terminating one of them.

`pg_cancel_backend` stops the running statement and leaves the session usable;
`pg_terminate_backend` ends the session (its client sees a broken connection).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from tusk import auth
from tusk.admin import AdminConnection, audit, positive_pid
from tusk.errors import BadInput

if TYPE_CHECKING:
    from tusk.auth.schema import User

LONG_RUNNING_S = 60.0

# Not our own backend. pg_blocking_pids only for sessions waiting on a lock: it briefly takes
# the lock manager's partition locks, which should not happen once per idle session per tick.
ACTIVITY_SQL = """
select
    pid,
    coalesce(usename, '') as usename,
    coalesce(datname, '') as datname,
    coalesce(application_name, '') as application_name,
    host(client_addr) as client_addr,
    backend_type,
    coalesce(state, '') as state,
    wait_event_type,
    wait_event,
    backend_start,
    xact_start,
    query_start,
    extract(epoch from clock_timestamp() - query_start)::float8 as query_age_s,
    extract(epoch from clock_timestamp() - xact_start)::float8 as xact_age_s,
    case when wait_event_type = 'Lock' then pg_blocking_pids(pid) else '{}'::int[] end
        as blocked_by,
    coalesce(query, '') as query
from pg_stat_activity
where pid <> pg_backend_pid()
  and (%(all_backends)s or backend_type = 'client backend')
order by (state = 'active') desc, query_start nulls last, pid
"""

CANCEL_SQL = "select pg_cancel_backend(%s) as done"
TERMINATE_SQL = "select pg_terminate_backend(%s) as done"
SESSION_SQL = """
select pid, coalesce(usename, '') as usename, coalesce(datname, '') as datname,
       coalesce(query, '') as query
from pg_stat_activity where pid = %s
"""


@dataclass(frozen=True)
class Session:
    """One server session as pg_stat_activity shows it."""

    pid: int
    usename: str
    datname: str
    application_name: str
    client_addr: str | None
    backend_type: str
    state: str
    wait_event_type: str | None
    wait_event: str | None
    backend_start: datetime | None
    xact_start: datetime | None
    query_start: datetime | None
    query_age_s: float | None
    xact_age_s: float | None
    blocked_by: tuple[int, ...]
    query: str

    @property
    def blocked(self) -> bool:
        """Waiting for a lock another session holds."""
        return bool(self.blocked_by)

    @property
    def long_running(self) -> bool:
        """Active (or idle in a transaction) for more than LONG_RUNNING_S seconds."""
        if self.state == "active":
            return (self.query_age_s or 0) > LONG_RUNNING_S
        if self.state.startswith("idle in transaction"):
            return (self.xact_age_s or 0) > LONG_RUNNING_S
        return False


def sessions(
    conn: AdminConnection,
    *,
    all_backends: bool = False,
    states: list[str] | None = None,
    search: str = "",
) -> list[Session]:
    """Sessions other than ours (client backends unless `all_backends`), active first;
    optionally only some `states` and those whose user, database, application, client or
    query contains `search` (case-insensitive)."""
    rows = conn.rows(ACTIVITY_SQL, {"all_backends": all_backends})
    found = [Session(**{**r, "blocked_by": tuple(r["blocked_by"] or ())}) for r in rows]
    if states:
        found = [s for s in found if s.state in states]
    needle = search.strip().casefold()
    if needle:
        found = [
            s
            for s in found
            if needle
            in " ".join(
                (s.usename, s.datname, s.application_name, s.client_addr or "", s.query, str(s.pid))
            ).casefold()
        ]
    return found


def _signal(
    conn: AdminConnection,
    pid: object,
    how: Literal["cancel", "terminate"],
    actor: User | None,
) -> bool:
    auth.require(actor, "admin.processes")
    target = positive_pid(pid)
    if target == conn.pid:
        raise BadInput("That is the Admin page's own session.", "Refused")
    info = conn.one(SESSION_SQL, (target,))
    if info is None:
        raise BadInput(f"There is no session with pid {target} any more.", "No such session")
    row = conn.one(CANCEL_SQL if how == "cancel" else TERMINATE_SQL, (target,))
    done = bool(row and row["done"])
    if done:
        detail = f"user={info['usename']} db={info['datname']} query={info['query'][:200]}"
        audit(actor, f"admin.{how}", f"pid {target}", detail)
    return done


def cancel(conn: AdminConnection, pid: object, *, actor: User | None = None) -> bool:
    """Cancel the session's running statement (it stays connected); needs admin.processes.
    True when the signal was sent."""
    return _signal(conn, pid, "cancel", actor)


def terminate(conn: AdminConnection, pid: object, *, actor: User | None = None) -> bool:
    """End the session (its connection breaks); needs admin.processes. True when sent."""
    return _signal(conn, pid, "terminate", actor)
