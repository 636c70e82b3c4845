"""Long admin actions (VACUUM FULL, REINDEX) on a worker thread with a connection of their own,
so the page stays responsive, other tabs keep using the shared admin connection, and Cancel
really stops the statement (psycopg's cancel on that connection)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from tusk import admin
from tusk.admin import AdminConnection
from tusk.engines.spec import ConnectionSpec
from tusk.errors import QueryCancelled, QueryFailed, TuskError

T = TypeVar("T")


class Job(Generic[T]):
    """`work(conn)` running now on its own connection to `spec`; poll `done`, then read
    `result` or `error` (a TuskError; QueryCancelled after `cancel`)."""

    def __init__(self, spec: ConnectionSpec, label: str, work: Callable[[AdminConnection], T]):
        self.spec = spec
        self.label = label
        self.result: T | None = None
        self.error: TuskError | None = None
        self._started = time.monotonic()
        self._ended: float | None = None
        self._conn: AdminConnection | None = None
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[AdminConnection], T]) -> None:
        try:
            self._conn = admin.connect(self.spec, lock_timeout_s=None)  # waits, cancellable
            if self._cancelled.is_set():
                raise QueryCancelled(f"{self.label} was cancelled before it started.")
            self.result = work(self._conn)
        except TuskError as exc:
            cancelled = self._cancelled.is_set()
            self.error = QueryCancelled(f"{self.label} was cancelled.") if cancelled else exc
        except Exception as exc:  # noqa: BLE001 - shown to the user rather than lost in a thread
            self.error = QueryFailed(f"{self.label} failed: {exc}")
        finally:
            if self._conn is not None:
                self._conn.close()
            self._ended = time.monotonic()

    @property
    def done(self) -> bool:
        """True once the work ended (finished, failed or cancelled)."""
        return self._ended is not None

    @property
    def elapsed_s(self) -> float:
        """Seconds since the job started (until it ended)."""
        return (self._ended or time.monotonic()) - self._started

    def cancel(self) -> None:
        """Ask the server to stop the running statement."""
        self._cancelled.set()
        if self._conn is not None:
            self._conn.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until done (or `timeout`); True when done."""
        self._thread.join(timeout)
        return self.done
