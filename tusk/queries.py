"""Running a user's SQL the way every page and command should: execute, then record history."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tusk import auth
from tusk.connections import DEMO_NAME
from tusk.engines.base import Connection, Params
from tusk.engines.result import QueryResult
from tusk.engines.spec import ConnectionSpec
from tusk.errors import TuskError
from tusk.store import history

if TYPE_CHECKING:
    from tusk.auth.store import User


def run(
    spec: ConnectionSpec,
    conn: Connection,
    sql: str,
    params: Params = None,
    *,
    limit: int | None = 1000,
    actor: User | None = None,
) -> QueryResult:
    """Execute SQL on an open connection and record it in history (needs queries.execute,
    and connections.use for a saved connection: asked at every run, so a permission taken
    away stops the next statement of a session opened before)."""
    auth.require(actor, "queries.execute")
    if spec.name != DEMO_NAME:
        auth.require(actor, "connections.use")
    if spec.engine == "cluster":  # the Studio's cluster engine: the cluster's own permission
        auth.require(actor, "cluster.submit")
    who = actor.username if actor is not None else None
    try:
        result = conn.execute(sql, params, limit=limit)
    except TuskError as exc:
        history.record(spec.name, spec.engine, sql, error=exc.message, username=who)
        raise
    history.record(
        spec.name,
        spec.engine,
        sql,
        duration_s=result.elapsed_s,
        row_count=result.row_count,
        username=who,
    )
    return result
