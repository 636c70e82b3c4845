"""Submit SQL to a Ray cluster running Daft, each query in an isolated process.

The query process (`tusk.cluster.runner --serve`) runs in a new session: cancelling or timing
out SIGKILLs that session, and Ray then ends the tasks of the dead driver's job. Ray and Daft
are never imported into the calling process, so a dead head or a Daft panic cannot take Tusk
down. After a successful query the process is kept warm for the next query on the same head
(starting one and connecting it to Ray costs ~5 s a query otherwise — bench/cluster.py); any
failure, cancel or timeout kills it instead.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tusk.cluster import log
from tusk.cluster.processes import session_pids
from tusk.cluster.runner import is_csv
from tusk.errors import (
    BadInput,
    ConnectionFailed,
    PermissionDenied,
    QueryCancelled,
    QueryFailed,
    TuskError,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from tusk.auth.schema import User

HEAD_TIMEOUT_S = 4.0  # the connect timeout: submit must fail within 5 s in all
PROBE_EVERY_S = 2.0
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HTTP2_EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # length 0, type 4
HTTP2_SETTINGS = 0x04
DEFAULT_TIMEOUT_S = 3600.0
NOTICE_FD_ENV = "TUSK_RUNNER_NOTICE_FD"
WAIT_STEP_S = 0.05  # the watcher's longest sleep between looks at cancel, timeout and the head


@dataclass
class _Runner:
    """A query process, the log its output goes to, and the pipe it signals each answer on."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    address: str
    notice_fd: int = -1  # read end; a byte arrives after each answer, EOF when it exits


_WARM: dict[str, _Runner] = {}  # head address -> an idle warm runner
_WARM_LOCK = threading.Lock()


def _take_warm(address: str) -> _Runner | None:
    with _WARM_LOCK:
        runner = _WARM.pop(address, None)
    if runner is not None and runner.proc.poll() is not None:
        _discard(runner)
        return None
    return runner


def _keep_warm(runner: _Runner) -> None:
    with _WARM_LOCK:
        if runner.address not in _WARM and runner.proc.poll() is None:
            _WARM[runner.address] = runner
            return
    _discard(runner)


def _discard(runner: _Runner) -> None:
    _kill_session(runner.proc)
    if runner.proc.stdin is not None:
        with contextlib.suppress(OSError):
            runner.proc.stdin.close()
    if runner.notice_fd >= 0:
        with contextlib.suppress(OSError):
            os.close(runner.notice_fd)
        runner.notice_fd = -1
    shutil.rmtree(runner.log_path.parent, ignore_errors=True)


def stop_warm() -> None:
    """Kill the idle warm query processes (at exit, or when a cluster is stopped)."""
    with _WARM_LOCK:
        idle = list(_WARM.values())
        _WARM.clear()
    for runner in idle:
        _discard(runner)


atexit.register(stop_warm)


def _spawn(address: str) -> _Runner:
    folder = Path(tempfile.mkdtemp(prefix="tusk-runner-"))
    log_path = folder / "runner.log"
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    # The runner imports tusk: make sure it finds this very copy.
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    # The runner writes a byte here after each answer, so the watcher wakes at once instead of
    # polling for the status file (a poll every 50 ms cost 17 ms a query, median: bench/README).
    notice_read, notice_write = os.pipe()
    env[NOTICE_FD_ENV] = str(notice_write)
    try:
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tusk.cluster.runner", "--serve"],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                pass_fds=(notice_write,),
            )
    except BaseException:
        os.close(notice_read)
        raise
    finally:
        os.close(notice_write)  # the runner holds the only write end: EOF when it exits
    return _Runner(proc, log_path, address, notice_read)


def _send(runner: _Runner, spec_path: Path) -> bool:
    """Hand a spec to a runner; False if it is gone (a warm one may have died idle)."""
    try:
        assert runner.proc.stdin is not None
        runner.proc.stdin.write(f"{spec_path}\n".encode())
        runner.proc.stdin.flush()
    except (OSError, ValueError):
        return False
    return True


def split_address(address: str) -> tuple[str, int]:
    """(host, port) from `HOST:PORT` or `ray://HOST:PORT`."""
    text = address.strip().removeprefix("ray://")
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise BadInput(f"{address!r} is not a cluster address: use HOST:PORT, e.g. 127.0.0.1:8814.")
    return host.strip("[]"), int(port)


def check_head(address: str, timeout: float = HEAD_TIMEOUT_S) -> None:
    """Raise ConnectionFailed within `timeout` seconds unless a gRPC server (Ray's GCS) answers
    at `address`: Ray itself waits forever for an unreachable GCS (FACTS.md)."""
    host, port = split_address(address)
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            # A bare TCP connect is not enough: a proxy or firewall may accept any connection.
            # gRPC is HTTP/2, whose server answers the client preface with a SETTINGS frame.
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            sock.sendall(HTTP2_PREFACE + HTTP2_EMPTY_SETTINGS)
            header = b""
            while len(header) < 9:
                chunk = sock.recv(9 - len(header))
                if not chunk:
                    break
                header += chunk
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise ConnectionFailed(
            f"The cluster head at {address} does not answer ({reason}). Start one with "
            "`tusk scheduler` or `tusk cluster`, or check the address and firewall.",
            "Cluster unreachable",
        ) from None
    if len(header) < 9 or header[3] != HTTP2_SETTINGS:
        raise ConnectionFailed(
            f"The cluster head at {address} does not answer (something listens there, but it "
            "is not a Ray head). Check the address and port (default 8814).",
            "Cluster unreachable",
        )


def check_tables(tables: dict[str, str]) -> dict[str, str]:
    """Validate table names and paths; local paths become absolute (every node reads them)."""
    checked: dict[str, str] = {}
    for name, location in tables.items():
        if not name.isidentifier():
            raise BadInput(f"Table name {name!r} must be a plain identifier (letters, digits, _).")
        text = str(location)
        if "://" in text:  # object storage (s3://, gs://, az://, http://): Daft reads it
            checked[name] = text
            continue
        path = Path(text).expanduser().absolute()
        if not path.exists():
            raise BadInput(f"Table {name!r}: {path} does not exist.")
        checked[name] = str(path)
    return checked


def check_confined(sql: str, tables: dict[str, str], roots: Sequence[Path]) -> None:
    """For a user confined to the data roots: local tables inside the roots (no URLs), and
    the SQL reads only those tables."""
    from tusk.engines.base import inside_roots

    for name, location in tables.items():
        if "://" in str(location) or not inside_roots(location, roots):
            raise PermissionDenied(
                f"Table {name!r} is not a file in a data root: on a shared Tusk the cluster "
                "reads only the data roots.",
                "File not allowed",
            )
    check_reads(sql, tables)


def check_reads(sql: str, tables: dict[str, str]) -> None:
    """Refuse SQL that reaches past `tables` (and its CTEs): Daft's SQL reads any path it is
    given (FROM '/etc/x', read_csv(…)) and has functions that fetch and write URLs, so every
    function must be on the allow-list of pure functions (QueryFailed naming it) and every
    table one of `tables` (PermissionDenied)."""
    from sqlglot import exp

    from tusk.cluster import functions
    from tusk.engines.base import check_text

    check_text(sql)
    trees = functions.parse(sql)
    functions.check(trees)
    known = {n.lower() for n in tables}
    for tree in trees:
        ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            plain = isinstance(table.this, exp.Identifier) and not table.db and not table.catalog
            if not plain or table.name.lower() not in known | ctes:
                raise PermissionDenied(
                    f"{table.sql()} is not one of this query's tables "
                    f"({', '.join(sorted(tables)) or 'none'}).",
                    "Unknown table",
                )


def used_tables(sql: str, tables: dict[str, str]) -> dict[str, str]:
    """The entries of `tables` that `sql` names (all of them when sqlglot cannot tell): the
    runner reads each table's schema before Daft plans, so a Studio connection over a folder of
    many files paid every file's schema read on every query."""
    from sqlglot import exp

    from tusk.cluster import functions

    try:
        trees = functions.parse(sql)
    except BadInput:
        return tables
    if not trees or any(isinstance(t, exp.Command) for t in trees):
        return tables  # a statement sqlglot keeps as text (SHOW …): it may name any table
    named = {t.name.lower() for tree in trees for t in tree.find_all(exp.Table)}
    return {name: path for name, path in tables.items() if name.lower() in named}


@dataclass
class ClusterQuery:
    """A query running in its own process; `result()` waits, `cancel()` stops it."""

    id: int
    sql: str
    address: str
    timeout_s: float
    _proc: subprocess.Popen[bytes]
    _workdir: Path
    _runner: _Runner | None = None
    started: float = field(default_factory=time.monotonic)
    elapsed_s: float | None = None
    rows: int | None = None
    _status: str = "running"
    _error: TuskError | None = None
    _table: pa.Table | None = None
    _cancelled: threading.Event = field(default_factory=threading.Event)
    _finished: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    # Monotonic time each phase ended, here and in the runner (the host's one clock): where a
    # query's time went, for bench/cluster.py.
    marks: dict[str, float] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """running, done, failed or cancelled."""
        return self._status

    @property
    def pid(self) -> int:
        """The query process's id (also its session id)."""
        return self._proc.pid

    def done(self) -> bool:
        """True once the query has finished, failed or been cancelled."""
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the end (up to `timeout` s); True if it ended."""
        return self._finished.wait(timeout)

    def result(self, timeout: float | None = None) -> pa.Table:
        """The result as Arrow; raises QueryFailed / QueryCancelled as the query ended."""
        if not self._finished.wait(timeout):
            raise TimeoutError(f"query {self.id} still running")
        if self._error is not None:
            raise self._error
        assert self._table is not None
        return self._table

    def cancel(self, actor: User | None = None) -> None:
        """Cancel the query: kill its process (Ray then ends the tasks of that driver's job)."""
        from tusk import auth

        auth.require(actor, "cluster.cancel")
        self.cancel_unchecked()

    def cancel_unchecked(self) -> None:
        """Cancel without a permission check: for the code that submitted the query (the
        Studio's Cancel of its own run), whose submit was already checked."""
        self._cancelled.set()
        _kill_session(self._proc)
        self._finished.wait(10)

    def _watch(self) -> None:
        """Wait for the process, enforce the timeout, probe the head, then settle the outcome."""
        status, error, rows = "failed", None, None
        try:
            status, rows = self._wait_process()
        except TuskError as exc:
            error = exc
            status = "cancelled" if isinstance(exc, QueryCancelled) else "failed"
        except BaseException as exc:  # noqa: BLE001 - the watcher must always settle the query
            error = QueryFailed(f"{type(exc).__name__}: {exc}")
        finally:
            self.marks["settled"] = time.monotonic()
            self.elapsed_s = time.monotonic() - self.started
            self._error = error
            self._status = status
            self.rows = rows
            try:
                log.record_finished(self.id, status, rows, error.message if error else None)
            finally:
                shutil.rmtree(self._workdir, ignore_errors=True)
                if status != "done" and self._runner is not None:
                    _discard(self._runner)  # killed or failed: never reused, log removed
                self._finished.set()

    def _wait_process(self) -> tuple[str, int]:
        """Poll the process until it ends; returns ("done", rows) or raises."""
        deadline = self.started + self.timeout_s
        next_probe = time.monotonic() + PROBE_EVERY_S
        status_file = self._workdir / "status.json"
        while self._proc.poll() is None and not status_file.exists():
            now = time.monotonic()
            if self._cancelled.is_set():
                break
            if now >= deadline:
                _kill_session(self._proc)
                raise QueryFailed(
                    f"The query ran longer than {self.timeout_s:g} s and was stopped.",
                    "Query timed out",
                )
            if now >= next_probe:
                next_probe = now + PROBE_EVERY_S
                try:
                    check_head(self.address, timeout=HEAD_TIMEOUT_S)
                except ConnectionFailed as exc:
                    # Daft's client would wait ~60 s before dying on its own: stop it now.
                    _kill_session(self._proc)
                    raise ConnectionFailed(
                        f"The cluster head went away during the query. {exc.message}",
                        "Cluster unreachable",
                    ) from None
            self._pause()
        self.marks["seen"] = time.monotonic()
        if self._cancelled.is_set():
            _kill_session(self._proc)
            raise QueryCancelled("The cluster query was cancelled.")
        try:
            outcome = self._read_outcome()
        except BaseException:
            _kill_session(self._proc)  # a failed runner exits anyway; never reuse it
            raise
        self.marks["read"] = time.monotonic()
        if self._runner is not None:
            _keep_warm(self._runner)
        else:
            _kill_session(self._proc)
        return outcome

    def _pause(self) -> None:
        """Sleep up to WAIT_STEP_S, waking when the runner signals an answer (or exits)."""
        fd = self._runner.notice_fd if self._runner is not None else -1
        if fd < 0:
            time.sleep(WAIT_STEP_S)
            return
        try:
            ready, _, _ = select.select([fd], [], [], WAIT_STEP_S)
            if ready and not os.read(fd, 64):
                time.sleep(WAIT_STEP_S)  # EOF: the runner exited; poll() sees it next
        except OSError:  # closed by a discard: fall back to polling
            time.sleep(WAIT_STEP_S)

    def _read_outcome(self) -> tuple[str, int]:
        """Turn the runner's status and output files into a table or an error."""
        status_file = self._workdir / "status.json"
        if not status_file.exists():
            log_path = self._runner.log_path if self._runner else self._workdir / "runner.log"
            tail = _tail(log_path)
            raise QueryFailed(
                f"The query process exited with code {self._proc.returncode} before "
                f"answering (did the head stop?).\n{tail}".rstrip()
            )
        report = json.loads(status_file.read_text(encoding="utf-8"))
        if not report["ok"]:
            raise QueryFailed(
                f"Daft: {daft_message(report['error'])}", "Query failed on the cluster"
            )
        self.marks.update(report.get("marks", {}))
        import pyarrow as pa

        with pa.memory_map(str(self._workdir / "result.arrow")) as source:
            # Read into memory: the work folder is removed once the query settles.
            self._table = pa.ipc.open_file(source).read_all().combine_chunks()
        return "done", int(report["rows"])


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# The last "package.Exception: text" line of a Ray task error is the cause the user can act on.
_CAUSE = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?\w*(?:Error|Exception)(?:\([\w.]*\))?: (?P<text>.+)$")


def daft_message(error: str) -> str:
    """Daft's own words from a runner error: no terminal colours, no Ray task traceback."""
    text = _ANSI.sub("", error).strip()
    if "Traceback" not in text and "\n  File " not in text:
        return text
    causes = [m.group("text") for line in text.splitlines() if (m := _CAUSE.match(line.strip()))]
    return causes[-1].strip() if causes else text


def _kill_session(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the query process's whole session (it may have spawned helpers)."""
    for pid in [proc.pid, *session_pids(proc.pid)]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL cannot be ignored
        proc.wait(timeout=5)


def _tail(path: Path, lines: int = 8) -> str:
    """The last lines of a log file (or nothing)."""
    if not path.exists():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def submit(
    address: str,
    sql: str,
    tables: dict[str, str],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    actor: User | None = None,
) -> ClusterQuery:
    """Start `sql` on the cluster at `address` over `tables` (name -> Parquet/CSV path).

    Raises PermissionDenied without cluster.submit and ConnectionFailed (in ≤ 5 s) when the
    head does not answer; everything else is reported by the returned query's `result()`.
    """
    from tusk import auth, files

    auth.require(actor, "cluster.submit")
    roots = files.confinement(actor)
    if roots is not None:
        check_confined(sql, check_tables(tables), roots)
    return start_query(
        address, sql, tables, timeout_s=timeout_s, user=actor.username if actor else None
    )


def start_query(
    address: str,
    sql: str,
    tables: dict[str, str],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    user: str | None = None,
) -> ClusterQuery:
    """`submit` for callers that checked cluster.submit themselves (the Studio's cluster
    engine, through tusk.queries.run); `user` goes into the query log."""
    from tusk.engines.base import check_text

    marks = {"submit": time.monotonic()}
    if not sql.strip():
        raise BadInput("There is no SQL to run.")
    check_text(sql)
    checked = check_tables(tables)
    marks["tables_checked"] = time.monotonic()
    check_head(address)
    marks["head"] = time.monotonic()
    query_id = log.record_submitted(sql, user, address)
    workdir = Path(tempfile.mkdtemp(prefix=f"tusk-query-{query_id}-"))
    spec = {
        "address": address,
        "sql": sql,
        "tables": used_tables(sql, checked),
        "output": str(workdir / "result.arrow"),
        "status": str(workdir / "status.json"),
    }
    (workdir / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    marks["logged"] = time.monotonic()
    try:
        runner = _take_warm(address)
        if runner is None or not _send(runner, workdir / "spec.json"):
            if runner is not None:
                _discard(runner)
            runner = _spawn(address)
            if not _send(runner, workdir / "spec.json"):
                _discard(runner)
                raise OSError("the query process closed its input at once")
    except OSError as exc:
        log.record_finished(query_id, "failed", error=str(exc))
        shutil.rmtree(workdir, ignore_errors=True)
        raise QueryFailed(f"Could not start the query process: {exc}") from None
    marks["sent"] = time.monotonic()
    log.record_started(query_id)
    query = ClusterQuery(query_id, sql, address, timeout_s, runner.proc, workdir, runner)
    query.marks.update(marks)
    query._thread = threading.Thread(target=query._watch, name=f"cluster-query-{query_id}")
    query._thread.daemon = True
    query._thread.start()
    return query


def run(
    address: str,
    sql: str,
    tables: dict[str, str],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    actor: User | None = None,
) -> pa.Table:
    """Submit and wait: the result as Arrow, or QueryFailed / QueryCancelled."""
    return submit(address, sql, tables, timeout_s=timeout_s, actor=actor).result()


def run_local(sql: str, tables: dict[str, str], *, actor: User | None = None) -> pa.Table:
    """Run `sql` on this machine with DataFusion over the same tables (no cluster needed);
    for a user confined to the data roots, as on the cluster, plus queries only (no DDL)."""
    from tusk import files
    from tusk.engines import isolation
    from tusk.engines.base import check_text

    check_text(sql)
    roots = files.confinement(actor)
    checked = check_tables(tables)
    if roots is not None:
        check_confined(sql, checked, roots)
    if isolation.enabled():  # the app: DataFusion runs in an engine worker, not the server
        key = ("datafusion", "run-here", "confined" if roots is not None else "open")
        return isolation.run(key, "tusk.cluster.client:run_here", sql, checked, roots is not None)
    return run_here(sql, checked, roots is not None)


def run_here(sql: str, tables: dict[str, str], queries_only: bool) -> pa.Table:
    """run_local's DataFusion run over checked tables (in this process: an engine worker
    when the app serves); with `queries_only`, no DDL, DML or other statement."""
    import pyarrow as pa
    from datafusion import SessionContext, SQLOptions, col

    from tusk.engines.base import is_panic

    options = None
    if queries_only:
        # Queries only, as the DataFusion engine's confine: no DDL, DML, SET or other statement.
        options = (
            SQLOptions().with_allow_ddl(False).with_allow_dml(False).with_allow_statements(False)
        )
    ctx = SessionContext()
    try:
        for name, location in tables.items():
            frame = ctx.read_csv(location) if is_csv(location) else ctx.read_parquet(location)
            # The same DECIMAL -> DOUBLE cast as on the cluster, so both give the same types.
            for column in frame.schema():
                if pa.types.is_decimal(column.type):
                    frame = frame.with_column(column.name, col(column.name).cast(pa.float64()))
            ctx.register_view(name, frame)
        return ctx.sql(sql, options).to_arrow_table()
    except TuskError:
        raise
    except BaseException as exc:  # noqa: BLE001 - a corrupt Parquet file panics DataFusion
        if not isinstance(exc, Exception) and not is_panic(exc):
            raise  # an interrupt or exit goes on up
        raise QueryFailed(f"DataFusion: {exc}") from None
