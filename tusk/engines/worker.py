"""An engine worker process: runs in-process engines' sessions for the server.

Started by tusk.engines.isolation as `python -m tusk.engines.worker ADDRESS SETUP` with the
socket's authkey on stdin. It listens on a Unix socket in a private folder and serves each
accepted channel on its own thread:

- `open`: a session (a real engine connection, confined / read-only as asked) lives as long as
  this channel; `call` requests on it run the connection's methods one at a time;
- `stream`, `load`, `cancel`: side channels on an open session (a full result out as Arrow
  batches, Arrow batches in, or a cancel while a call runs);
- `run`: one call of a library function the server names, returning an Arrow table (work on
  user input that is not a session, such as the Cluster page's local DataFusion run).

The process caps its own memory (DuckDB's limit, and a watchdog on its resident size), so a
runaway query fails here instead of starving the server and the other users. It exits when the
server goes (stdin closes) or after sitting idle with no session.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from multiprocessing.connection import Connection as Channel
from multiprocessing.connection import Listener
from typing import Any

import pyarrow as pa

from tusk.engines import wire
from tusk.errors import BadInput

# The connection methods a session may be asked to run, and how each answer is shaped.
_RESULT_METHODS = {"execute"}
_VALUE_METHODS = {
    "confine",
    "set_read_only",
    "attach_sqlite",
    "attach_postgres",
    "detach",
    "attached",
    "load_extension",
    "register_file",
}
_PROPERTIES = {"confined", "read_only"}


class _Worker:
    """The sessions of this process, and when it last had one."""

    def __init__(self, idle_s: float) -> None:
        self.sessions: dict[str, Any] = {}
        self.lock = threading.Lock()
        self.idle_s = idle_s
        self.idle_since: float | None = time.monotonic()

    def add(self, conn: Any) -> str:
        sid = uuid.uuid4().hex
        with self.lock:
            self.sessions[sid] = conn
            self.idle_since = None
        return sid

    def drop(self, sid: str) -> None:
        with self.lock:
            conn = self.sessions.pop(sid, None)
            if not self.sessions:
                self.idle_since = time.monotonic()
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def get(self, sid: str) -> Any:
        with self.lock:
            conn = self.sessions.get(sid)
        if conn is None:
            raise BadInput("That engine session is closed.", "Session closed")
        return conn

    def watch_idle(self) -> None:
        """Exit once no session was open for idle_s seconds."""
        while True:
            time.sleep(min(self.idle_s, 5.0))
            with self.lock:
                since = self.idle_since
            if since is not None and time.monotonic() - since > self.idle_s:
                os._exit(0)

    def serve(self, chan: Channel) -> None:
        """Serve one channel until it closes."""
        try:
            request = wire.recv_request(chan)
            op = request.get("op")
            if op == "open":
                self._session(chan, request)
            elif op == "stream":
                self._stream(chan, request)
            elif op == "load":
                self._load(chan, request)
            elif op == "run":
                self._run(chan, request)
            elif op == "cancel":
                with contextlib.suppress(Exception):
                    self.get(request["session"]).cancel()
                wire.send_answer(chan, {"ok": None})
            else:
                wire.send_answer(chan, wire.error_answer(BadInput(f"Unknown request {op!r}.")))
        except (EOFError, OSError):
            pass  # the server closed the channel (or went away)
        finally:
            with contextlib.suppress(OSError):
                chan.close()

    def _session(self, chan: Channel, request: dict[str, Any]) -> None:
        from tusk.engines.registry import connect

        try:
            if request.get("demo"):
                from tusk.demo import create_demo

                create_demo(request["spec"].path or "")
            conn = connect(request["spec"])
        except BaseException as exc:  # noqa: BLE001 - DataFusion panics are BaseException
            wire.send_answer(chan, wire.error_answer(exc))
            return
        sid = self.add(conn)
        try:
            try:
                if request.get("confine") is not None:
                    roots, write = request["confine"]
                    conn.confine(roots, write=write)
                if request.get("read_only"):
                    conn.set_read_only()
            except BaseException as exc:  # noqa: BLE001
                wire.send_answer(chan, wire.error_answer(exc))
                return
            wire.send_answer(chan, {"ok": sid})
            while True:
                self._call(chan, conn, wire.recv_request(chan))
        finally:
            self.drop(sid)

    def _call(self, chan: Channel, conn: Any, request: dict[str, Any]) -> None:
        method = str(request.get("method"))
        args, kwargs = request.get("args", ()), request.get("kwargs", {})
        try:
            if method in _PROPERTIES:
                wire.send_answer(chan, {"ok": bool(getattr(conn, method, False))})
            elif method in _RESULT_METHODS:
                result = conn.execute(*args, **kwargs)
                wire.send_answer(chan, wire.result_answer(result), result.table)
            elif method == "execute_typed":
                result, columns = conn.execute_typed(*args, **kwargs)
                answer = wire.result_answer(result) | {"columns": [list(c) for c in columns]}
                wire.send_answer(chan, answer, result.table)
            elif method == "catalog":
                wire.send_answer(chan, {"ok": wire.catalog_value(conn.catalog())})
            elif method in _VALUE_METHODS:
                wire.send_answer(chan, {"ok": getattr(conn, method)(*args, **kwargs)})
            else:
                raise BadInput(f"An engine session cannot run {method!r}.")
        except (EOFError, OSError):
            raise
        except BaseException as exc:  # noqa: BLE001 - answered, never the worker's end
            wire.send_answer(chan, wire.error_answer(exc))
            if method in _RUN_METHODS:
                _exit_if_broken(conn)

    def _stream(self, chan: Channel, request: dict[str, Any]) -> None:
        try:
            conn = self.get(request["session"])
            batches = conn.stream_arrow(request["sql"], request.get("params"))
            for batch in batches:
                wire.send_answer(chan, {"batch": True})
                wire.send_arrow(chan, batch)
            wire.send_answer(chan, {"end": True})
        except (EOFError, OSError):
            raise
        except BaseException as exc:  # noqa: BLE001
            wire.send_answer(chan, wire.error_answer(exc))
            with contextlib.suppress(BadInput):
                _exit_if_broken(self.get(request["session"]))

    def _run(self, chan: Channel, request: dict[str, Any]) -> None:
        """Call a library function (the server names it) that returns an Arrow table."""
        import importlib

        try:
            module, _, name = str(request["function"]).partition(":")
            function = getattr(importlib.import_module(module), name)
            table = function(*request.get("args", ()), **request.get("kwargs", {}))
            if not isinstance(table, pa.Table):
                raise BadInput(f"{request['function']} did not return an Arrow table.")
            wire.send_answer(chan, {"result": True, "table": True}, table)
        except (EOFError, OSError):
            raise
        except BaseException as exc:  # noqa: BLE001
            wire.send_answer(chan, wire.error_answer(exc))

    def _load(self, chan: Channel, request: dict[str, Any]) -> None:
        def incoming() -> Iterator[pa.RecordBatch]:
            while True:
                header = wire.recv_request(chan)
                if header.get("end"):
                    return
                yield from wire.recv_batches(chan)

        try:
            conn = self.get(request["session"])
            count = conn.load_arrow(
                request["table"],
                incoming(),
                mode=request.get("mode", "create"),
                schema=request.get("schema"),
            )
            wire.send_answer(chan, {"ok": int(count)})
        except (EOFError, OSError):
            raise
        except BaseException as exc:  # noqa: BLE001
            wire.send_answer(chan, wire.error_answer(exc))


OVER_MEMORY_EXIT = 75  # the exit code of a worker that went over its memory cap
BROKEN_EXIT = 76  # the exit code of a worker whose database a statement left unusable


_RUN_METHODS = {"execute", "execute_typed"}


def _exit_if_broken(conn: Any) -> None:
    """End this worker when a failed statement left its database unusable for every session
    (the server starts a new one, where the database opens clean); the caller already has
    its error. Engines without a health check are taken as healthy."""
    healthy = getattr(conn, "healthy", None)
    if healthy is not None and not healthy():
        os._exit(BROKEN_EXIT)


def _cap_memory(memory_mb: int) -> None:
    """Hold this process under `memory_mb` of resident memory: DuckDB's own limit sits below
    it (DuckDB spills, or fails the query with an out-of-memory error), and a watchdog ends
    the process if anything else grows past the cap. (An address-space limit does not fit:
    an idle worker with spatial loaded reserves 2.5 GB of address space for 170 MB used.)"""
    if memory_mb <= 0:
        return
    from tusk.engines import duckdb as duck

    duck.BASE_CONFIG["memory_limit"] = f"{max(memory_mb * 6 // 10, 64)}MB"
    threading.Thread(
        target=_watch_memory, args=(memory_mb,), name="tusk-worker-memory", daemon=True
    ).start()


def _watch_memory(memory_mb: int) -> None:
    page = os.sysconf("SC_PAGE_SIZE")
    limit = memory_mb * 1024 * 1024
    while True:
        try:
            with open("/proc/self/statm", encoding="ascii") as fh:
                resident = int(fh.read().split()[1]) * page
        except (OSError, ValueError, IndexError):
            return  # no /proc here: DuckDB's own limit is all there is
        if resident > limit:
            os._exit(OVER_MEMORY_EXIT)
        time.sleep(0.1)


def _watch_server() -> None:
    """Exit when the server's end of stdin closes (the server stopped or died)."""
    with contextlib.suppress(Exception):
        sys.stdin.buffer.read()
    os._exit(0)


def main() -> None:
    """Serve engine sessions on the socket given in argv until the server goes away."""
    address, setup = sys.argv[1], json.loads(sys.argv[2])
    authkey = bytes.fromhex(sys.stdin.buffer.readline().decode("ascii").strip())
    _cap_memory(int(setup.get("memory_mb", 0)))
    worker = _Worker(float(setup.get("idle_s", 600)))
    listener = Listener(address, family="AF_UNIX", authkey=authkey)
    threading.Thread(target=_watch_server, name="tusk-worker-server", daemon=True).start()
    threading.Thread(target=worker.watch_idle, name="tusk-worker-idle", daemon=True).start()
    for module in setup.get("preload", ()):  # imported before "ready": the first query is fast
        __import__(module)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    # The server reads nothing more from stdout: whatever an engine prints goes to stderr
    # (the server's log), never into a pipe that would fill up and block the worker.
    os.dup2(2, 1)
    while True:
        try:
            chan = listener.accept()
        except (OSError, EOFError, ValueError):
            continue  # a client that failed the authkey handshake, or went away mid-way
        except Exception:  # noqa: BLE001 - multiprocessing's AuthenticationError
            continue
        threading.Thread(target=worker.serve, args=(chan,), daemon=True).start()


if __name__ == "__main__":
    main()
