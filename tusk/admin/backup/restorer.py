"""Restoring: a verified backup loaded into an existing or a new database on the connection's
server (`restore`), by pg_restore, or psql for a plain script (`RestoreJob`). A database made for
a restore that fails is dropped again."""

from __future__ import annotations

import contextlib
import logging
import re
from typing import TYPE_CHECKING, ClassVar

from psycopg import sql as pgsql

from tusk import admin, auth, config
from tusk.admin.backup.archive import read_toc
from tusk.admin.backup.folder import PERMISSION, Backup, get_backup
from tusk.admin.backup.options import check_database_name, check_jobs
from tusk.admin.backup.tooljob import ToolJob, child_env, require_postgres, tool_conninfo
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput, TuskError

if TYPE_CHECKING:
    from tusk.auth.schema import User

log = logging.getLogger("tusk.admin.backup")

# Lines printed by --verbose (LC_MESSAGES=C in the child keeps them in English).
_RESTORE_LINE = re.compile(r'processing data for table "(.*)"$')
_SCHEMA_ENTRY = re.compile(r"^\d+; \d+ \d+ SCHEMA - (.*)$")
_DATABASE_EXISTS_SQL = "select 1 as found from pg_database where datname = %s"
_TARGET_SCHEMAS_SQL = "select nspname as schema from pg_namespace"


class RestoreJob(ToolJob):
    """pg_restore (or psql for a plain script) loading one backup into a database."""

    kind: ClassVar[str] = "restore"
    _progress_line = _RESTORE_LINE

    def __init__(
        self,
        spec: ConnectionSpec,
        backup: Backup,
        target: str,
        created_database: bool,
        actor: User | None,
        detail: str,
    ) -> None:
        total = backup.data_tables if backup.format != "plain" else None
        super().__init__(target, spec.secret(), total or None)
        self.backup = backup
        self.created_database = created_database
        self._spec = spec
        self._actor = actor
        self._detail = detail

    def _after(self, code: int) -> None:
        if self._cancelled:
            self._end("cancelled", "The restore was cancelled." + self._undo_note())
            return
        if code != 0:
            self._end(
                "failed", f"The restore failed: {self._failure_text(code)}" + self._undo_note()
            )
            return
        self._end("ok", f"Restored {self.backup.name} into {self.database}.")
        try:
            admin.audit(self._actor, "admin.restore", self.database, self._detail)
        except Exception:  # the restore happened; a failed audit write must not hide it
            log.exception("audit of restore into %s failed", self.database)

    def _on_failure(self) -> None:
        self._undo_note()

    def _undo_note(self) -> str:
        """Drop the database this restore created (it holds nothing useful); say so."""
        if not self.created_database:
            return ""
        self.created_database = False
        try:
            _drop_database(self._spec, self.database)
        except TuskError as exc:
            return f" The new database {self.database} could not be removed: {exc.message}"
        return f" The new database {self.database} was removed."


def restore(
    spec: ConnectionSpec,
    backup_name: str,
    *,
    target_database: str,
    create_database: bool = False,
    clean: bool = False,
    no_owner: bool = False,
    jobs: int = 1,
    actor: User | None,
) -> RestoreJob:
    """Start restoring a verified backup into a database on the connection's server.

    `create_database` makes the target first (it must not exist; a failed restore removes it
    again); `clean` drops the backup's objects in the target before recreating them — callers
    confirm that with the user first. One transaction whenever `jobs` is 1.
    """
    auth.require(actor, PERMISSION)
    require_postgres(spec)
    backup = get_backup(backup_name)
    target = check_database_name(target_database)
    jobs = check_jobs(jobs)
    plain = backup.format == "plain"
    if clean and create_database:
        raise BadInput("Clean applies to an existing database; a new one is empty already.")
    if plain and (clean or no_owner or jobs > 1):
        raise BadInput(
            "A plain backup is an SQL script run as it is: clean, no owner and jobs do not "
            "apply. Choose them when backing up, or use the custom format."
        )
    if jobs > 1 and backup.format not in ("custom", "directory"):
        raise BadInput("Parallel restore (jobs above 1) needs a custom or directory backup.")
    tool = config.pg_tool("psql" if plain else "pg_restore")
    listing = None if plain else read_toc(backup.path)

    created = False
    server = admin.connect(spec)
    try:
        exists = server.one(_DATABASE_EXISTS_SQL, (target,)) is not None
        if create_database:
            if exists:
                raise BadInput(
                    f"A database named {target} already exists: restore into it as an "
                    "existing database, or choose another name.",
                    "Database exists",
                )
            server.execute(pgsql.SQL("create database {}").format(pgsql.Identifier(target)))
            created = True
        elif not exists:
            raise BadInput(
                f"There is no database named {target} on this server: choose an existing one "
                "or create a new one.",
                "Unknown database",
            )
    finally:
        server.close()

    detail = f"{backup.name} ({backup.database}, {backup.format})"
    job = RestoreJob(spec, backup, target, created, actor, detail)
    try:
        existing = _prepare_target(spec, target, backup, fresh=created)
        scratch, env = child_env(spec.secret())
        job._scratch = scratch
        conninfo = tool_conninfo(spec, target, "tusk restore")
        if plain:
            args = [
                tool,
                f"--dbname={conninfo}",
                "--no-psqlrc",
                "--quiet",
                "--set=ON_ERROR_STOP=1",
                "--single-transaction",
                f"--file={backup.path}",
            ]
        else:
            assert listing is not None
            use_list = scratch / "restore.list"
            use_list.write_text(_use_list(listing, existing), encoding="utf-8")
            args = [
                tool,
                f"--dbname={conninfo}",
                "--verbose",
                "--exit-on-error",
                f"--use-list={use_list}",
            ]
            if jobs > 1:
                args.append(f"--jobs={jobs}")
            else:
                args.append("--single-transaction")
            if clean:
                args += ["--clean", "--if-exists"]
            if no_owner:
                args.append("--no-owner")
            args.append(str(backup.path))
        job._launch(args, env)
    except BaseException:
        job._cleanup_scratch()
        if created:
            with contextlib.suppress(TuskError):
                _drop_database(spec, target)
        raise
    return job


def _prepare_target(spec: ConnectionSpec, target: str, backup: Backup, *, fresh: bool) -> set[str]:
    """Ready the target for what pg_dump leaves out or repeats; return the schemas it has.

    A table-only backup (pg_dump -t) has no CREATE SCHEMA, so its schemas are made here. A
    backup of chosen schemas does create them, and a new database already has `public`: an
    archive restore skips those entries (see `_use_list`), but a plain script cannot be edited,
    so in a database made for this restore the still-empty schemas it re-creates are dropped.
    """
    conn = admin.connect(spec.with_changes(database=target))
    try:
        existing = {str(r["schema"]) for r in conn.rows(_TARGET_SCHEMAS_SQL)}
        if fresh and backup.format == "plain":
            for schema in backup.options.schemas:
                if schema in existing:
                    # No CASCADE: a schema the template filled is an error, not a loss.
                    conn.execute(pgsql.SQL("drop schema {}").format(pgsql.Identifier(schema)))
                    existing.discard(schema)
        for schema in dict.fromkeys(s for s, _ in backup.options.tables):
            if schema not in existing:
                conn.execute(
                    pgsql.SQL("create schema if not exists {}").format(pgsql.Identifier(schema))
                )
                existing.add(schema)
        return existing
    finally:
        conn.close()


def _use_list(listing: str, existing: set[str]) -> str:
    """The archive's TOC with CREATE SCHEMA commented out for schemas the target already has
    (a fresh database has `public`, and `pg_dump -n public` would fail restoring it)."""
    names = sorted(existing, key=len, reverse=True)
    out: list[str] = []
    for line in listing.splitlines():
        m = _SCHEMA_ENTRY.match(line)
        # The entry reads "<name> <owner>"; names may hold spaces, so match known names.
        if m and any(m.group(1).startswith(f"{n} ") for n in names):
            line = f";{line}"
        out.append(line)
    return "\n".join(out) + "\n"


def _drop_database(spec: ConnectionSpec, name: str) -> None:
    """Drop a database this module created."""
    conn = admin.connect(spec)
    try:
        conn.execute(pgsql.SQL("drop database if exists {}").format(pgsql.Identifier(name)))
    finally:
        conn.close()
