"""Backups with pg_dump and restores with pg_restore (psql for plain SQL), run as child
processes watched by a thread so no page or session waits on them.

Every backup is verified before it is listed: `pg_restore --list` must read the archive, a
plain script must end with pg_dump's completion trailer. A failed, cancelled or unverifiable
dump is removed. Each verified backup has a JSON sidecar (`<name>.meta.json`) describing it;
`list_backups` shows only those. Passwords reach the tools through a temporary 0600 pgpass
file, never the command line, and are scrubbed from everything the tools print.

One job per module, and callers import from here (`from tusk.admin import backup`):

- `options`: what pg_dump writes (`BackupOptions`) and the checks on names and jobs
- `catalog`: what the server offers to back up and restore into
- `folder`: the backups folder — list, get, read for download, delete, reserve a name
- `tooljob`: a client tool as a watched child process (`ToolJob`, cancel, its environment)
- `archive`: a finished dump read back — table of contents and verification
- `dumper`: back up now (`start_backup`, `BackupJob`)
- `restorer`: restore a backup (`restore`, `RestoreJob`)
"""

from __future__ import annotations

import shutil  # noqa: F401 - tests/admin/test_backup.py reaches it as backup.shutil

from tusk.admin.backup.archive import verify_dump
from tusk.admin.backup.catalog import DumpCatalog, dump_catalog, list_databases
from tusk.admin.backup.dumper import BackupJob, start_backup
from tusk.admin.backup.folder import (
    PERMISSION,
    Backup,
    backups_dir,
    delete_backup,
    get_backup,
    list_backups,
    read_backup,
)
from tusk.admin.backup.options import FORMATS, BackupOptions, Format
from tusk.admin.backup.restorer import RestoreJob, restore
from tusk.admin.backup.tooljob import Status, ToolJob, child_env

# The names these had when backup was one module; tests still call them so.
_verify = verify_dump
_child_env = child_env

__all__ = [
    "FORMATS",
    "PERMISSION",
    "Backup",
    "BackupJob",
    "BackupOptions",
    "DumpCatalog",
    "Format",
    "RestoreJob",
    "Status",
    "ToolJob",
    "backups_dir",
    "delete_backup",
    "dump_catalog",
    "get_backup",
    "list_backups",
    "list_databases",
    "read_backup",
    "restore",
    "start_backup",
]
