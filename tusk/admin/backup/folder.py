"""The backups folder in Tusk's home: verified backups with their JSON sidecars
(`<name>.meta.json`), listed, read for download, deleted, and fresh names reserved for new ones.

`list_backups` shows only backups whose sidecar says they passed verification.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import tarfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tusk import admin, auth, config
from tusk.admin.backup.options import BackupOptions, Format
from tusk.errors import BadInput

if TYPE_CHECKING:
    from tusk.auth.schema import User

PERMISSION = "admin.backup"
META = ".meta.json"  # a backup's sidecar is its name plus this

_SUFFIX: dict[str, str] = {"custom": ".dump", "plain": ".sql", "directory": ".dir", "tar": ".tar"}
_LOCK = threading.Lock()  # reserves backup names between concurrent jobs


@dataclass(frozen=True)
class Backup:
    """One verified backup in the backups folder."""

    name: str
    path: Path
    database: str
    connection: str
    server: str
    format: Format
    created: datetime
    size: int
    options: BackupOptions
    entries: int  # archive TOC entries (0 for plain scripts)
    data_tables: int  # tables with rows in the archive (0 for plain scripts)
    elapsed_s: float

    @property
    def download_name(self) -> str:
        """The file name a download gets (a directory backup is sent as a tar)."""
        return f"{self.name}.tar" if self.format == "directory" else self.name


def backups_dir() -> Path:
    """The backups folder in Tusk's home, created 0700 (backups hold whole databases)."""
    # Absolute, so a path handed to a tool can never be read as one of its options.
    folder = (config.home() / config.BACKUPS_DIR).resolve()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        folder.chmod(0o700)
    return folder


def list_backups() -> list[Backup]:
    """Verified backups, newest first; anything without a good sidecar is left out."""
    found: list[Backup] = []
    folder = backups_dir()
    for meta in folder.glob(f"*{META}"):
        backup = _read_meta(meta)
        if backup is not None:
            found.append(backup)
    found.sort(key=lambda b: (b.created, b.name), reverse=True)
    return found


def get_backup(name: str) -> Backup:
    """One verified backup by file name; BadInput for unknown or unsafe names."""
    path = _safe_path(name)
    backup = _read_meta(path.parent / f"{path.name}{META}")
    if backup is None:
        raise BadInput(f"There is no verified backup named {name!r}.", "Unknown backup")
    return backup


def delete_backup(name: str, *, actor: User | None) -> None:
    """Remove a backup (file or directory) and its sidecar."""
    auth.require(actor, PERMISSION)
    backup = get_backup(name)
    # The sidecar goes first: a half-deleted backup must never be listed as good.
    (backup.path.parent / f"{backup.name}{META}").unlink(missing_ok=True)
    remove_path(backup.path)
    admin.audit(actor, "admin.backup.delete", backup.name, backup.database)


def read_backup(name: str, *, actor: User | None) -> bytes:
    """A backup's bytes for download; a directory backup as an uncompressed tar."""
    auth.require(actor, PERMISSION)
    backup = get_backup(name)
    if backup.format != "directory":
        return backup.path.read_bytes()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(backup.path, arcname=backup.name)
    return buffer.getvalue()


def _safe_path(name: str) -> Path:
    """The path of `name` inside the backups folder; BadInput for anything that could leave it."""
    if (
        not isinstance(name, str)
        or not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or name.startswith(".")
        or name.endswith(META)
    ):
        raise BadInput(f"{name!r} is not a backup name.", "Unknown backup")
    folder = backups_dir().resolve()
    path = folder / name
    if path.resolve().parent != folder:  # a symlink pointing elsewhere
        raise BadInput(f"{name!r} is not a backup name.", "Unknown backup")
    return path


def _read_meta(meta: Path) -> Backup | None:
    """The Backup a sidecar describes, or None when it is unreadable, unverified or orphaned."""
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
        if not data.get("verified"):
            return None
        name = str(data["name"])
        path = meta.parent / name
        if f"{name}{META}" != meta.name or not path.exists():
            return None
        options = BackupOptions.from_dict(data.get("options") or {})
        return Backup(
            name=name,
            path=path,
            database=str(data["database"]),
            connection=str(data.get("connection") or ""),
            server=str(data.get("server") or ""),
            format=options.format,
            created=datetime.fromisoformat(str(data["created"])),
            size=path_size(path),
            options=options,
            entries=int(data.get("entries") or 0),
            data_tables=int(data.get("data_tables") or 0),
            elapsed_s=float(data.get("elapsed_s") or 0.0),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def reserve_path(database: str, fmt: str) -> Path:
    """A fresh backup path, created empty so two jobs never pick the same name."""
    slug = re.sub(r"[^\w-]+", "_", database).strip("_")[:40] or "database"
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%SZ")
    folder = backups_dir()
    with _LOCK:
        for n in range(1, 1000):
            stem = f"{slug}_{stamp}" if n == 1 else f"{slug}_{stamp}-{n}"
            path = folder / f"{stem}{_SUFFIX[fmt]}"
            if path.exists() or (folder / f"{path.name}{META}").exists():
                continue
            try:
                if fmt == "directory":
                    path.mkdir(mode=0o700)  # pg_dump accepts an existing empty directory
                else:
                    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except FileExistsError:
                continue
            return path
    raise BadInput("Too many backups of this database in one second; try again.")


def remove_path(path: Path) -> None:
    """Delete a backup file or directory, whatever is left of it."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def path_size(path: Path) -> int:
    """Bytes in a file, or in all files of a directory."""
    try:
        if path.is_dir():
            return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
        return path.stat().st_size
    except OSError:
        return 0
