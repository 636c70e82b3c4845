"""A run of a script's statements on a worker thread: the page stays responsive, Cancel can
reach the engine, and every statement goes through `tusk.queries.run` (permissions, history).
No UI here: the Studio draws what a run holds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tusk import queries
from tusk.engines.base import Connection
from tusk.engines.result import QueryResult
from tusk.engines.spec import ConnectionSpec
from tusk.errors import QueryCancelled, QueryFailed, TuskError
from tusk.queries import Statement


@dataclass
class StatementOutcome:
    """One statement of a run (as bound: typed text, SQL sent, values) and its result or
    its error."""

    statement: Statement
    result: QueryResult | None = None
    error: TuskError | None = None


class Run:
    """Statements executed one after another on a thread; stops at the first error."""

    def __init__(
        self,
        spec: ConnectionSpec,
        conn: Connection,
        statements: list[Statement],
        limit: int | None = 1000,
        actor: Any = None,  # tusk.auth.schema.User in multi-user mode
    ) -> None:
        self.spec = spec
        self.actor = actor
        self.conn = conn
        self.statements = statements
        self.limit = limit
        self.outcomes: list[StatementOutcome] = []
        self.started = time.monotonic()
        self.finished: float | None = None
        self.cancel_requested = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._work, name="tusk-query", daemon=True)
        self._thread.start()

    @property
    def done(self) -> bool:
        """True once every statement ran, one failed, or the run was cancelled."""
        return self._done.is_set()

    @property
    def elapsed_s(self) -> float:
        """Seconds since the run started (or its total once finished)."""
        return (self.finished or time.monotonic()) - self.started

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds; True if the run is done."""
        return self._done.wait(timeout)

    def cancel(self) -> None:
        """Ask the engine to cancel the running statement; later statements are skipped."""
        self.cancel_requested = True
        self.conn.cancel()

    def watch(self, alive: Callable[[], bool], every_s: float = 2.0, grace: int = 2) -> None:
        """Cancel the run once `alive()` (its browser session still there) has said False
        `grace` times in a row, checked every `every_s` seconds: a closed browser leaves no
        query running at full CPU. A reload reconnects within the grace period."""

        def check() -> None:
            misses = 0
            while not self._done.wait(every_s):
                misses = 0 if alive() else misses + 1
                if misses >= grace:
                    self.cancel()
                    return

        threading.Thread(target=check, name="tusk-query-watch", daemon=True).start()

    def _work(self) -> None:
        try:
            for statement in self.statements:
                if self.cancel_requested:
                    cancelled = QueryCancelled("The query was cancelled.")
                    self.outcomes.append(StatementOutcome(statement, error=cancelled))
                    break
                try:
                    result = queries.run(
                        self.spec, self.conn, statement, limit=self.limit, actor=self.actor
                    )
                except TuskError as exc:
                    self.outcomes.append(StatementOutcome(statement, error=exc))
                    break
                self.outcomes.append(StatementOutcome(statement, result=result))
        except Exception as exc:  # noqa: BLE001 - never let a worker die silently
            failed = QueryFailed(str(exc), "Unexpected error")
            self.outcomes.append(StatementOutcome(Statement.plain(""), error=failed))
        finally:
            self.finished = time.monotonic()
            self._done.set()
