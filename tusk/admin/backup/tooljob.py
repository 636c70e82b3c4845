"""PostgreSQL client tools (pg_dump, pg_restore, psql) run as child processes watched by a
thread, so no page or session waits on them: `ToolJob`, its cancel, and the child's connection
string and environment.

Passwords reach the tools through a temporary 0600 pgpass file, never the command line, and are
scrubbed from everything the tools print.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import weakref
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, Literal

import psycopg

from tusk.engines.abilities import engine_abilities
from tusk.engines.pg_errors import scrub as _scrub
from tusk.engines.postgres import PostgresEngine
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput

log = logging.getLogger("tusk.admin.backup")

Status = Literal["running", "verifying", "ok", "failed", "cancelled"]

_MAX_LINES = 5000  # stderr lines kept per job; --verbose prints one per object


class ToolJob:
    """A PostgreSQL client tool running as a child process, its stderr read by a thread.

    Safe to read from any thread; `cancel()` stops the tool (and its parallel workers).
    """

    kind: ClassVar[str] = "job"
    _progress_line: ClassVar[re.Pattern[str] | None] = None

    def __init__(self, database: str, secret: str | None, tables_total: int | None) -> None:
        self.database = database
        self.started_at = datetime.now(UTC)
        self._started = time.monotonic()
        self._finished: float | None = None
        self._secret = secret
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._lines: collections.deque[str] = collections.deque(maxlen=_MAX_LINES)
        self._status: Status = "running"
        self._message = ""
        self._cancelled = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._scratch: Path | None = None  # temp folder with the pgpass (and restore list)
        self.tables_done = 0
        self.tables_total = tables_total
        self.current_table = ""

    # -- what the UI reads --

    @property
    def status(self) -> Status:
        """running, verifying, ok, failed or cancelled."""
        with self._lock:
            return self._status

    @property
    def message(self) -> str:
        """What happened, in a sentence (the tool's error when it failed)."""
        with self._lock:
            return self._message

    @property
    def done(self) -> bool:
        """True once the job ended, whatever the outcome."""
        return self._done.is_set()

    @property
    def elapsed_s(self) -> float:
        """Seconds since the start (until the end once done)."""
        end = self._finished if self._finished is not None else time.monotonic()
        return end - self._started

    def lines(self, last: int | None = None) -> list[str]:
        """The tool's stderr so far (password scrubbed), optionally only the last lines."""
        with self._lock:
            lines = list(self._lines)
        return lines[-last:] if last else lines

    @property
    def progress(self) -> float | None:
        """Share of the tables done, 0-1, when the total is known."""
        total = self.tables_total
        if not total:
            return None
        return min(self.tables_done / total, 1.0)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends (or timeout seconds pass); True when it ended."""
        return self._done.wait(timeout)

    def cancel(self) -> None:
        """Stop the tool; the job ends as cancelled and leaves nothing half-made behind."""
        with self._lock:
            proc = self._proc
            if self._done.is_set() or proc is None or proc.returncode is not None:
                return  # once reaped, its process group id may belong to someone else
            self._cancelled = True
        # The tool runs in its own process group: this reaches parallel workers too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)

    # -- running --

    def _launch(self, args: list[str], env: dict[str, str]) -> None:
        """Start the tool and the thread that follows it."""
        try:
            self._proc = subprocess.Popen(  # noqa: S603 - an argument list, never a shell
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=env,
                umask=0o077,  # dumps hold whole databases: readable by the owner only
                start_new_session=True,
            )
        except OSError as exc:
            self._cleanup_scratch()
            raise BadInput(
                f"Could not run {args[0]}: {exc.strerror or exc}. Check the pg_bin_path "
                "setting (`tusk config set pg_bin_path …`)."
            ) from None
        _LIVE.add(self)
        threading.Thread(target=self._follow, name=f"tusk-{self.kind}", daemon=True).start()

    def _follow(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stderr is not None
        try:
            for raw in proc.stderr:
                self._note(_scrub(raw.decode("utf-8", "replace").rstrip("\r\n"), self._secret))
            code = proc.wait()
            self._cleanup_scratch()
            self._after(code)
        except Exception as exc:  # the thread must end the job whatever happens
            log.exception("%s job failed", self.kind)
            self._end("failed", _scrub(f"{type(exc).__name__}: {exc}", self._secret))
            self._on_failure()
        finally:
            self._cleanup_scratch()
            self._done.set()
            _LIVE.discard(self)

    def _note(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)
        if self._progress_line is not None:
            m = self._progress_line.search(line)
            if m:
                self.tables_done += 1
                self.current_table = m.group(1)

    def _set(self, status: Status) -> None:
        with self._lock:
            self._status = status

    def _end(self, status: Status, message: str) -> None:
        with self._lock:
            self._status = status
            self._message = message
            self._finished = time.monotonic()

    def _after(self, code: int) -> None:
        """Decide the outcome once the tool exited (subclasses)."""
        raise NotImplementedError

    def _on_failure(self) -> None:
        """Undo what a failed job left behind (subclasses)."""

    def _failure_text(self, code: int) -> str:
        """The tool's own error lines, or its last words."""
        lines = self.lines()
        errors = [ln for ln in lines if re.search(r"error:|ERROR:|FATAL:|fatal:", ln)]
        picked = errors[:3] or lines[-3:]
        text = "\n".join(picked).strip()
        return text or f"the tool exited with code {code}"

    def _cleanup_scratch(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


_LIVE: weakref.WeakSet[ToolJob] = weakref.WeakSet()  # jobs whose tool is still running


@atexit.register
def _cancel_running_jobs() -> None:
    """When Tusk exits, cancel the tools it started (they run in their own process groups, so
    Ctrl+C does not reach them) and let their threads remove what they left half-written."""
    jobs = list(_LIVE)
    for job in jobs:
        job.cancel()
    for job in jobs:
        job.wait(5)


def require_postgres(spec: ConnectionSpec) -> None:
    if not engine_abilities(spec.engine).administrable:
        raise BadInput(
            f"{spec.name!r} is a {spec.engine} connection; backups work on PostgreSQL.",
            "Not PostgreSQL",
        )


def tool_conninfo(spec: ConnectionSpec, database: str, application: str) -> str:
    """A libpq connection string for a client tool: everything but the password."""
    params = psycopg.conninfo.conninfo_to_dict(PostgresEngine(spec).conninfo())
    params.pop("password", None)
    params.pop("passfile", None)
    params["dbname"] = database
    params["application_name"] = application
    return psycopg.conninfo.make_conninfo("", **params)


def child_env(secret: str | None) -> tuple[Path, dict[str, str]]:
    """A private temp folder and the child's environment; the password goes into a 0600
    pgpass file in that folder (libpq refuses looser modes), never onto the command line."""
    env = locale_env(dict(os.environ))
    scratch = Path(tempfile.mkdtemp(prefix="tusk-pg-"))  # mode 0700
    if secret:
        env.pop("PGPASSWORD", None)
        if "\n" in secret or "\r" in secret:
            # pgpass has no way to write a line break; the child's environment is private too.
            env["PGPASSWORD"] = secret
        else:
            escaped = secret.replace("\\", "\\\\").replace(":", "\\:")
            pgpass = scratch / "pgpass"
            fd = os.open(pgpass, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(f"*:*:*:*:{escaped}\n")
            env["PGPASSFILE"] = str(pgpass)
    return scratch, env


def locale_env(env: dict[str, str]) -> dict[str, str]:
    """English tool messages: progress is read from them."""
    env.pop("LC_ALL", None)
    env["LC_MESSAGES"] = "C"
    return env
