"""Backing up: pg_dump of a connection's database in the background (`start_backup`), then the
verification and sidecar that list it (`BackupJob`). A failed, cancelled or unverifiable dump is
removed."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from tusk import admin, auth, config
from tusk.admin.backup.archive import verify_dump
from tusk.admin.backup.folder import META, PERMISSION, path_size, remove_path, reserve_path
from tusk.admin.backup.options import BackupOptions
from tusk.admin.backup.tooljob import ToolJob, child_env, require_postgres, tool_conninfo
from tusk.engines.spec import ConnectionSpec
from tusk.errors import TuskError

if TYPE_CHECKING:
    from tusk.auth.schema import User

log = logging.getLogger("tusk.admin.backup")

_FORMAT_FLAG: dict[str, str] = {"custom": "c", "plain": "p", "directory": "d", "tar": "t"}
# Lines printed by --verbose (LC_MESSAGES=C in the child keeps them in English).
_DUMP_LINE = re.compile(r'dumping contents of table "(.*)"$')


class BackupJob(ToolJob):
    """pg_dump writing one backup, then its verification."""

    kind: ClassVar[str] = "backup"
    _progress_line = _DUMP_LINE

    def __init__(
        self,
        spec: ConnectionSpec,
        options: BackupOptions,
        path: Path,
        actor: User | None,
        tables_total: int | None,
    ) -> None:
        super().__init__(spec.database or "postgres", spec.secret(), tables_total)
        self.options = options
        self.path = path
        self.name = path.name
        self._spec = spec
        self._actor = actor

    @property
    def bytes_written(self) -> int:
        """Size of the backup so far."""
        return path_size(self.path)

    def _after(self, code: int) -> None:
        if self._cancelled:
            remove_path(self.path)
            self._end("cancelled", "The backup was cancelled; its partial file was removed.")
            return
        if code != 0:
            remove_path(self.path)
            self._end("failed", f"pg_dump failed: {self._failure_text(code)}")
            return
        self._set("verifying")
        try:
            entries, data_tables = verify_dump(self.path, self.options.format)
        except TuskError as exc:
            remove_path(self.path)
            self._end("failed", f"The backup did not pass verification: {exc.message}")
            return
        meta = {
            "name": self.name,
            "database": self.database,
            "connection": self._spec.name,
            "server": f"{self._spec.host or 'localhost'}:{self._spec.port or 5432}",
            "created": self.started_at.isoformat(),
            "options": self.options.to_dict(),
            "verified": True,
            "entries": entries,
            "data_tables": data_tables,
            "elapsed_s": round(self.elapsed_s, 3),
        }
        config.atomic_write(
            self.path.parent / f"{self.name}{META}", json.dumps(meta, indent=2), mode=0o600
        )
        if self.tables_total is None:
            self.tables_total = data_tables
        self._end("ok", f"Backed up {self.database} to {self.name} and verified it.")
        try:
            detail = f"{self.name}: {self.options.format}, {self.options.describe()}"
            admin.audit(self._actor, "admin.backup", self.database, detail)
        except Exception:  # the backup is good; a failed audit write must not hide it
            log.exception("audit of backup %s failed", self.name)

    def _on_failure(self) -> None:
        (self.path.parent / f"{self.name}{META}").unlink(missing_ok=True)
        remove_path(self.path)


def start_backup(
    spec: ConnectionSpec,
    options: BackupOptions | None = None,
    *,
    actor: User | None,
    tables_total: int | None = None,
) -> BackupJob:
    """Start pg_dump of the connection's database in the background; the job verifies it.

    `tables_total` (from `DumpCatalog.data_tables`) turns on the progress share.
    """
    auth.require(actor, PERMISSION)
    require_postgres(spec)
    opts = (options or BackupOptions()).checked()
    tool = config.pg_tool("pg_dump")
    database = spec.database or "postgres"
    path = reserve_path(database, opts.format)
    job = BackupJob(spec, opts, path, actor, tables_total)
    args = [
        tool,
        f"--dbname={tool_conninfo(spec, database, 'tusk backup')}",
        f"--format={_FORMAT_FLAG[opts.format]}",
        f"--file={path}",
        "--verbose",
        "--strict-names",  # a chosen schema or table that does not exist is an error
    ]
    if opts.schema_only:
        args.append("--schema-only")
    if opts.data_only:
        args.append("--data-only")
    args += [f"--schema={_pattern(s)}" for s in opts.schemas]
    args += [f"--table={_pattern(s, t)}" for s, t in opts.tables]
    if opts.compression is not None:
        args.append(f"--compress={opts.compression}")
    if opts.jobs > 1:
        args.append(f"--jobs={opts.jobs}")
    if opts.no_owner:
        args.append("--no-owner")
    try:
        job._scratch, env = child_env(spec.secret())
        job._launch(args, env)
    except BaseException:
        remove_path(path)
        raise
    return job


def _pattern(*parts: str) -> str:
    """A pg_dump name pattern that matches exactly these names (quoted, quotes doubled)."""
    return ".".join('"' + p.replace('"', '""') + '"' for p in parts)
