"""User SQL for in-process engines runs in supervised worker processes, not in the server.

DuckDB, DataFusion and SQLite run inside the process that opens them. On a shared Tusk one
user's query could then take every user down: DuckDB segfaults on deeply nested JSON (a stack
overflow), and a query may allocate until the machine swaps. With isolation on (the Streamlit
app turns it on; the CLI and library callers run engines in-process, like the DuckDB CLI), a
connection of such an engine is an `IsolatedConnection`: the real connection lives in a worker
process (tusk.engines.worker), one per database file (DuckDB allows one writing process per
file, and its sessions in one process share the database, as they did in the server), or per
saved connection for in-memory engines. Calls cross a Unix socket; results come back as Arrow
IPC (tusk.engines.wire).

When a worker dies, the call in flight fails with EngineCrashed, the worker is started again
on the next use, and the session reopens there with the same confinement and read-only mode
(temporary tables and attachments are gone, as after a server restart).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Client
from multiprocessing.connection import Connection as Channel
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from tusk.catalog import Catalog
from tusk.engines import wire
from tusk.engines.abilities import engine_abilities
from tusk.engines.base import LoadMode, Params, as_batches
from tusk.engines.result import QueryResult
from tusk.engines.spec import ConnectionSpec
from tusk.engines.worker import BROKEN_EXIT, OVER_MEMORY_EXIT
from tusk.errors import ConnectionFailed, EngineCrashed, TuskError

# Engines whose connections run inside the opening process; the others talk to a server.
IN_PROCESS = ("duckdb", "datafusion", "sqlite")
START_TIMEOUT_S = 30.0
IDLE_S = 600.0
_LABELS = {
    "duckdb": "DuckDB",
    "datafusion": "DataFusion",
    "sqlite": "SQLite",
}  # a worker with no session for this long exits (started again on demand)
_PRELOAD = ("pyarrow", "duckdb")

_enabled: list[bool] = []


def enable(on: bool = True) -> None:
    """Run in-process engines in worker processes from now on (the Streamlit app does)."""
    _enabled[:] = [on]


def enabled() -> bool:
    """True when connections of in-process engines are opened in worker processes."""
    if _enabled:
        return _enabled[0]
    return os.environ.get("TUSK_ISOLATE", "") == "1"


def memory_mb() -> int:
    """Each worker's memory cap in MB: TUSK_WORKER_MEMORY_MB, else a quarter of the machine's
    memory, at least 1 GB and at most 16 GB."""
    raw = os.environ.get("TUSK_WORKER_MEMORY_MB", "")
    if raw.isdigit():
        return int(raw)
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError):
        return 4096
    return max(1024, min(total // 4, 16 * 1024))


def worker_key(spec: ConnectionSpec, confined: bool) -> tuple[str, ...]:
    """Which worker hosts a session of `spec`: one per database file (DuckDB lets one process
    write a file; SQLite's sessions may as well share), one per saved connection otherwise.
    Confined and unconfined sessions never share a worker: DuckDB confines a whole database."""
    mode = "confined" if confined else "open"
    path = spec.path or ""
    if spec.engine in ("duckdb", "sqlite") and path and path != ":memory:":
        with contextlib.suppress(OSError, RuntimeError):
            path = str(Path(path).expanduser().resolve())
        return (spec.engine, "file", path, mode)
    return (spec.engine, "connection", spec.name, mode)


# --- workers ---------------------------------------------------------------------------------


@dataclass
class _Process:
    """One running worker process and how to reach it."""

    key: tuple[str, ...]
    proc: subprocess.Popen[bytes]
    folder: Path
    authkey: bytes

    @property
    def address(self) -> str:
        return str(self.folder / "socket")

    def channel(self) -> Channel:
        """A new authenticated channel to the worker."""
        return Client(self.address, family="AF_UNIX", authkey=self.authkey)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def ending(self, wait_s: float = 2.0) -> str:
        """How the process ended, in words (waits a moment for a dying one)."""
        try:
            code = self.proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            return "stopped answering"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            if name == "SIGKILL":
                return "was killed (SIGKILL: most likely out of memory)"
            return f"crashed ({name})"
        if code == OVER_MEMORY_EXIT:
            return f"went over its memory cap ({memory_mb():,} MB) and was stopped"
        if code == BROKEN_EXIT:
            return "found its database left unusable by a statement and was stopped"
        if code == 0:
            return "stopped"
        return f"exited with code {code}"

    def stop(self) -> None:
        """Stop the process (its sessions end) and remove its socket folder."""
        if self.alive():
            with contextlib.suppress(OSError):
                if self.proc.stdin is not None:  # the worker watches it: closed, it exits
                    self.proc.stdin.close()
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=5)
        shutil.rmtree(self.folder, ignore_errors=True)


def _start(key: tuple[str, ...]) -> _Process:
    """Start a worker process and wait until it listens."""
    folder = Path(tempfile.mkdtemp(prefix="tusk-worker-"))  # mode 0700: only this user
    authkey = secrets.token_bytes(32)
    setup = {"memory_mb": memory_mb(), "idle_s": IDLE_S, "preload": list(_PRELOAD)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tusk.engines.worker", str(folder / "socket"), json.dumps(setup)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        start_new_session=True,  # its own process group: a Ctrl+C in a terminal is the server's
    )
    process = _Process(key, proc, folder, authkey)
    try:
        stdin, stdout = proc.stdin, proc.stdout
        assert stdin is not None and stdout is not None  # both PIPE above
        stdin.write(authkey.hex().encode("ascii") + b"\n")
        stdin.flush()
        ready, _, _ = select.select([stdout], [], [], START_TIMEOUT_S)
        line = stdout.readline() if ready else b""
    except OSError:
        line = b""
    if line.strip() != b"ready":
        how = process.ending(0.5) if not process.alive() else "did not start in time"
        process.stop()
        raise ConnectionFailed(
            f"The engine process for {key[0]} could not start: it {how}.", "Engine unavailable"
        )
    return process


class _Supervisor:
    """The running workers by key; a dead one is started again on next use."""

    def __init__(self) -> None:
        self._workers: dict[tuple[str, ...], _Process] = {}
        self._lock = threading.Lock()

    def worker(self, key: tuple[str, ...]) -> _Process:
        with self._lock:
            found = self._workers.get(key)
            if found is not None and found.alive():
                return found
            if found is not None:
                found.stop()
            # A file is served by one worker at a time: a worker of the other confinement
            # mode (auth mode changed while running) lets go of it first.
            for other in [k for k in self._workers if k[:3] == key[:3] and k != key]:
                self._workers.pop(other).stop()
            started = _start(key)
            self._workers[key] = started
            return started

    def forget(self, process: _Process) -> None:
        with self._lock:
            if self._workers.get(process.key) is process:
                del self._workers[process.key]
        process.stop()

    def stop_all(self) -> None:
        with self._lock:
            workers = list(self._workers.values())
            self._workers.clear()
        for process in workers:
            process.stop()

    def running(self) -> list[tuple[str, ...]]:
        with self._lock:
            return [k for k, p in self._workers.items() if p.alive()]


_supervisor = _Supervisor()
atexit.register(_supervisor.stop_all)


def shutdown() -> None:
    """Stop every worker process (at exit; tests call it between tests)."""
    _supervisor.stop_all()


def running() -> list[tuple[str, ...]]:
    """Keys of the workers alive now."""
    return _supervisor.running()


# --- the connection --------------------------------------------------------------------------


@dataclass
class _Session:
    """This connection's session in one worker process."""

    process: _Process
    channel: Channel
    sid: str
    lock: threading.Lock = field(default_factory=threading.Lock)


class IsolatedConnection:
    """A Connection whose engine runs in a worker process (see the module docstring)."""

    supports_isolation: ClassVar[bool] = True

    def __init__(
        self,
        spec: ConnectionSpec,
        *,
        confine: tuple[Sequence[Path], bool] | None = None,
        read_only: bool = False,
        demo: bool = False,
    ) -> None:
        self.spec = spec
        self._demo = demo  # the worker makes the demo database first (it holds the file)
        self.engine = spec.engine
        self.abilities = engine_abilities(spec.engine)
        self._key = worker_key(spec, confine is not None)
        self._confine = (list(confine[0]), bool(confine[1])) if confine is not None else None
        self._read_only = read_only
        self._session: _Session | None = None
        self._lock = threading.Lock()  # one call at a time, as every engine connection does
        self._closed = False

    # --- plumbing -----------------------------------------------------------------------

    def _open(self) -> _Session:
        """This connection's session, opened (again) in its worker when there is none."""
        if self._closed:
            raise ConnectionFailed("This connection is closed.", "Connection closed")
        if self._session is not None:
            return self._session
        process = _supervisor.worker(self._key)
        try:
            chan = process.channel()
            wire.send_request(
                chan,
                {
                    "op": "open",
                    "spec": self.spec,
                    "confine": self._confine,
                    "read_only": self._read_only,
                    "demo": self._demo,
                },
            )
            answer = wire.recv_answer(chan)
        except (EOFError, OSError) as exc:
            raise self._crashed(process, exc) from None
        try:
            wire.raise_error(answer)
        except TuskError:
            chan.close()
            raise
        self._session = _Session(process, chan, str(answer["ok"]))
        return self._session

    def _crashed(self, process: _Process, exc: BaseException) -> EngineCrashed:
        """The error for a worker that went away; it is started again on next use."""
        how = process.ending()  # a crashed worker is reaped within moments
        if how == "stopped answering":
            how = f"stopped answering ({type(exc).__name__})"
        if self._session is not None and self._session.process is process:
            with contextlib.suppress(OSError):
                self._session.channel.close()
            self._session = None
        _supervisor.forget(process)
        return EngineCrashed(
            f"The {_LABELS.get(self.spec.engine, self.spec.engine)} engine process {how} and "
            "was restarted: nothing else was lost, but this session's temporary tables and "
            "attached databases are gone. Run again when ready.",
            "Engine restarted",
        )

    def _call(self, method: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Run a method of the real connection; its answer (an error raises)."""
        with self._lock:
            session = self._open()
            try:
                wire.send_request(
                    session.channel, {"method": method, "args": args, "kwargs": kwargs}
                )
                answer = wire.recv_answer(session.channel)
                if answer.get("result"):
                    answer["table"] = wire.recv_table(session.channel)
            except (EOFError, OSError) as exc:
                raise self._crashed(session.process, exc) from None
        wire.raise_error(answer)
        return answer

    def _side(self) -> tuple[_Process, Channel, str]:
        """A new channel on this session's worker (streams, loads, cancel)."""
        with self._lock:
            session = self._open()
        try:
            return session.process, session.process.channel(), session.sid
        except (EOFError, OSError) as exc:
            with self._lock:
                raise self._crashed(session.process, exc) from None

    # --- the Connection protocol ----------------------------------------------------------

    def execute(self, sql: str, params: Params = None, *, limit: int | None = 1000) -> QueryResult:
        """Run SQL in the worker; the last statement's first `limit` rows come back."""
        answer = self._call("execute", sql, params, limit=limit)
        return wire.result_from(answer, answer["table"])

    def execute_typed(
        self, sql: str, params: Params = None, *, limit: int | None = 1000
    ) -> tuple[QueryResult, list[tuple[str, str]]]:
        """DuckDB's execute_typed, in the worker."""
        answer = self._call("execute_typed", sql, params, limit=limit)
        columns = [(str(n), str(t)) for n, t in answer.get("columns", ())]
        return wire.result_from(answer, answer["table"]), columns

    def stream_arrow(self, sql: str, params: Params = None) -> Iterator[pa.RecordBatch]:
        """Stream a statement's whole result from the worker, batch by batch."""
        process, chan, sid = self._side()
        try:
            try:
                wire.send_request(
                    chan, {"op": "stream", "session": sid, "sql": sql, "params": params}
                )
                while True:
                    answer = wire.recv_answer(chan)
                    wire.raise_error(answer)
                    if answer.get("end"):
                        return
                    yield from wire.recv_batches(chan)
            except (EOFError, OSError) as exc:
                with self._lock:
                    raise self._crashed(process, exc) from None
        finally:
            with contextlib.suppress(OSError):
                chan.close()  # an abandoned stream: the worker stops at its next batch

    def load_arrow(
        self,
        table: str,
        batches: Iterable[pa.RecordBatch] | pa.Table,
        *,
        mode: LoadMode = "create",
        schema: str | None = None,
    ) -> int:
        """Send Arrow data to the worker's connection to load; the number of rows written."""
        process, chan, sid = self._side()
        try:
            wire.send_request(
                chan, {"op": "load", "session": sid, "table": table, "mode": mode, "schema": schema}
            )
            try:
                for batch in as_batches(batches):
                    wire.send_request(chan, {"batch": True})
                    wire.send_arrow(chan, batch)
                wire.send_request(chan, {"end": True})
            except (BrokenPipeError, ConnectionResetError):
                pass  # the worker refused early: its answer says why
            answer = wire.recv_answer(chan)
        except (EOFError, OSError) as exc:
            with self._lock:
                raise self._crashed(process, exc) from None
        finally:
            with contextlib.suppress(OSError):
                chan.close()
        wire.raise_error(answer)
        return int(answer["ok"])

    def cancel(self) -> None:
        """Cancel the running statement and any stream (from any thread)."""
        session = self._session
        if session is None:
            return
        with (
            contextlib.suppress(EOFError, OSError),
            contextlib.closing(session.process.channel()) as chan,
        ):
            wire.send_request(chan, {"op": "cancel", "session": session.sid})
            wire.recv_answer(chan)

    def catalog(self) -> Catalog:
        """The engine's catalog, read in the worker."""
        return wire.catalog_from(self._call("catalog")["ok"])

    def confine(self, roots: Sequence[Path], *, write: bool = True) -> None:
        """Confine the session (and every session it reopens as, after a crash)."""
        self._call("confine", [Path(r) for r in roots], write=write)
        self._confine = ([Path(r) for r in roots], bool(write))

    def set_read_only(self) -> None:
        """Make the session read-only (and every session it reopens as, after a crash)."""
        self._call("set_read_only")
        self._read_only = True

    @property
    def confined(self) -> bool:
        """True once confined."""
        return self._confine is not None

    @property
    def read_only(self) -> bool:
        """True once read-only."""
        return self._read_only

    def close(self) -> None:
        """End the session in the worker (the worker itself stays for other sessions)."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            with contextlib.suppress(OSError):
                session.channel.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    # --- engine-specific methods (DuckDB attachments, DataFusion files) --------------------

    def _remote(self, method: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            return self._call(method, *args, **kwargs)["ok"]

        call.__name__ = method
        return call

    def attach_sqlite(self, path: Path, alias: str) -> None:
        """DuckDB: ATTACH a SQLite file read-only."""
        self._remote("attach_sqlite")(path, alias)

    def attach_postgres(self, spec: ConnectionSpec, alias: str) -> None:
        """DuckDB: ATTACH a saved PostgreSQL connection read-only."""
        self._remote("attach_postgres")(spec, alias)

    def detach(self, alias: str) -> None:
        """DuckDB: DETACH an attached database."""
        self._remote("detach")(alias)

    def attached(self) -> list[str]:
        """DuckDB: the attached databases' aliases."""
        return [str(a) for a in self._remote("attached")()]

    def load_extension(self, extension: str) -> None:
        """DuckDB: LOAD an offline extension."""
        self._remote("load_extension")(extension)

    def register_file(self, name: str, path: Path, kind: str) -> None:
        """DataFusion: register a data file as a table."""
        self._remote("register_file")(name, path, kind)


def connect(
    spec: ConnectionSpec,
    *,
    confine: tuple[Sequence[Path], bool] | None = None,
    read_only: bool = False,
    demo: bool = False,
) -> IsolatedConnection:
    """An isolated connection to `spec`, opened in its worker now (ConnectionFailed as the
    engine's own connect would raise it), confined to `confine` = (roots, write) and
    read-only from its first statement when asked; a reopened session is the same. With
    `demo`, the worker first makes the demo database at spec.path (tusk.demo), as only the
    process holding a DuckDB file may write it."""
    conn = IsolatedConnection(spec, confine=confine, read_only=read_only, demo=demo)
    with conn._lock:
        conn._open()
    return conn


def run(key: tuple[str, ...], function: str, *args: Any, **kwargs: Any) -> pa.Table:
    """Call `function` ("module:name", a library function returning an Arrow table) in the
    worker `key`; a crash there is EngineCrashed, and the worker restarts on next use."""
    process = _supervisor.worker(key)
    try:
        with contextlib.closing(process.channel()) as chan:
            request = {"op": "run", "function": function, "args": args, "kwargs": kwargs}
            wire.send_request(chan, request)
            answer = wire.recv_answer(chan)
            wire.raise_error(answer)
            return wire.recv_table(chan)
    except (EOFError, OSError) as exc:
        how = process.ending()
        _supervisor.forget(process)
        raise EngineCrashed(
            f"The {key[0]} engine process {how} and was restarted ({type(exc).__name__}): "
            "nothing else was lost. Run again when ready.",
            "Engine restarted",
        ) from None


def wait_for_exit(timeout_s: float = 5.0) -> None:
    """Wait until no worker is alive (tests)."""
    end = time.monotonic() + timeout_s
    while running() and time.monotonic() < end:
        time.sleep(0.05)
