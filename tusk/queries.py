"""Running a user's SQL the way every page and command should: bind, execute, record history.

A statement travels as one `Statement` value from the moment it is bound: the text as the user
typed it (with its `:name` parameters), the SQL sent in the engine's paramstyle, and the values.
Everything after the run (history, export, save to a data root, the map's full export) takes
that value, never re-derives it from text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tusk import auth, params
from tusk.connections import DEMO_NAME
from tusk.engines.abilities import engine_abilities
from tusk.engines.base import Connection, Params
from tusk.engines.registry import engine_class
from tusk.engines.result import QueryResult
from tusk.engines.spec import ConnectionSpec
from tusk.errors import TuskError
from tusk.store import history

if TYPE_CHECKING:
    from tusk.auth.schema import User


@dataclass(frozen=True)
class Statement:
    """One statement ready to run: `text` as typed, `sql` as sent, `params` for the driver,
    `values` by parameter name (what history keeps and shows)."""

    text: str
    sql: str
    params: Params = None
    values: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def plain(cls, sql: str, driver_params: Params = None) -> Statement:
        """SQL sent as written (no `:name` parameters bound here)."""
        return cls(sql, sql, driver_params)


def bind(text: str, values: Mapping[str, Any], engine: str) -> Statement:
    """Bind one statement's `:name` parameters for `engine`; only the names it uses are kept.
    A value missing for a name it uses is a BadInput naming it."""
    sql, driver_params = params.bind(text, values, engine_class(engine).paramstyle, dialect=engine)
    used = {name: values[name] for name in params.find(text, dialect=engine) if name in values}
    return Statement(text, sql, driver_params, used)


def authorize(spec: ConnectionSpec, actor: User | None) -> None:
    """What running SQL on `spec` needs: queries.execute, connections.use for a saved
    connection, and the engine's own permission (the cluster's cluster.submit). Everything
    that runs a user's statement again (profile, result diff) asks this too."""
    auth.require(actor, "queries.execute")
    if spec.name != DEMO_NAME:
        auth.require(actor, "connections.use")
    extra = engine_abilities(spec.engine).run_permission
    if extra is not None:
        auth.require(actor, extra)


def run(
    spec: ConnectionSpec,
    conn: Connection,
    statement: Statement | str,
    driver_params: Params = None,
    *,
    limit: int | None = 1000,
    actor: User | None = None,
) -> QueryResult:
    """Execute SQL on an open connection and record it in history (needs queries.execute,
    and connections.use for a saved connection: asked at every run, so a permission taken
    away stops the next statement of a session opened before)."""
    authorize(spec, actor)
    if isinstance(statement, str):
        statement = Statement.plain(statement, driver_params)
    who = actor.username if actor is not None else None
    try:
        result = conn.execute(statement.sql, statement.params, limit=limit)
    except TuskError as exc:
        history.record(
            spec.name,
            spec.engine,
            statement.text,
            error=exc.message,
            username=who,
            values=statement.values,
        )
        raise
    history.record(
        spec.name,
        spec.engine,
        statement.text,
        duration_s=result.elapsed_s,
        row_count=result.row_count,
        username=who,
        values=statement.values,
    )
    return result
