"""Listing a data root: the entries of a folder, what kind of file each is (by magic bytes for
ambiguous names), never anything outside the root."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from tusk import auth
from tusk.errors import BadInput
from tusk.files.roots import _posix, _relative, _show, resolve, root

if TYPE_CHECKING:
    from tusk.auth.schema import User

KINDS = ("parquet", "csv", "json", "sqlite", "duckdb")
_LABELS = {
    "parquet": "Parquet",
    "csv": "CSV",
    "json": "JSON",
    "sqlite": "SQLite",
    "duckdb": "DuckDB",
}
_EXTENSIONS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".sqlite": "sqlite",
    ".sqlite3": "sqlite",
    ".db3": "sqlite",
    ".duckdb": "duckdb",
    ".ddb": "duckdb",
}
_COMPRESSED = (".gz", ".zst")  # DuckDB reads CSV and JSON compressed this way as they are
# Only these are opened to read their first bytes: the magic decides ambiguous names (.db, no
# extension) and overrides a misleading extension; other files are never opened to be listed.
_SNIFFED = {"", ".db", ".bin", ".dat", ".data", ".parquet", ".pq", ".sqlite", ".sqlite3", ".db3"}
_SNIFFED |= {".duckdb", ".ddb"}
_SQLITE_MAGIC = b"SQLite format 3\x00"
_PARQUET_MAGIC = b"PAR1"
_DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of a DuckDB database file


@dataclass(frozen=True)
class Entry:
    """One file or folder inside a root."""

    root: str
    relative: str  # POSIX path from the root ("" is the root itself)
    name: str
    is_dir: bool
    size: int  # bytes; 0 for folders
    modified: datetime  # local time, time-zone aware
    kind: str | None  # one of KINDS, or None for anything Tusk cannot read


def listdir(root_name: str, relative: str = "", *, actor: User | None = None) -> list[Entry]:
    """Folders then files (by name) in a folder of a root (needs data.view); dot-files and
    symlinks that lead outside the root are left out."""
    auth.require(actor, "data.view")
    base = root(root_name).path
    folder = resolve(root_name, relative)
    rel = _relative(relative)
    if not folder.is_dir():
        raise BadInput(f"{_show(root_name, rel)} is not a folder.", "Not a folder")
    entries: list[Entry] = []
    try:
        with os.scandir(folder) as it:
            for item in it:
                if item.name.startswith("."):
                    continue
                entry = _entry(root_name, base, Path(item.path), _posix(rel / item.name))
                if entry is not None:
                    entries.append(entry)
    except PermissionError:
        raise BadInput(f"Tusk may not read the folder {_show(root_name, rel)}.") from None
    entries.sort(key=lambda e: (not e.is_dir, e.name.casefold(), e.name))
    return entries


def info(root_name: str, relative: str, *, actor: User | None = None) -> Entry:
    """The Entry for one file or folder (needs data.view)."""
    auth.require(actor, "data.view")
    return unchecked_info(root_name, relative)


def unchecked_info(root_name: str, relative: str) -> Entry:
    """The Entry for one file or folder, unchecked: for a file the caller has just written."""
    base = root(root_name).path
    path = resolve(root_name, relative)
    rel = _relative(relative)
    entry = _entry(root_name, base, base / rel, _posix(rel), resolved=path)
    if entry is None:
        raise BadInput(f"{_show(root_name, rel)} does not exist.", "No such file")
    return entry


def _entry(
    root_name: str, base: Path, path: Path, relative: str, resolved: Path | None = None
) -> Entry | None:
    """An Entry, or None for what the browser does not show (outside the root, gone, special)."""
    try:
        if resolved is None and path.is_symlink():
            resolved = path.resolve()
            if not resolved.is_relative_to(base):
                return None
        st = path.stat()  # follows the symlink, whose target is inside the root
    except (OSError, RuntimeError):
        return None
    is_dir = stat.S_ISDIR(st.st_mode)
    if not is_dir and not stat.S_ISREG(st.st_mode):
        return None  # sockets, FIFOs and devices: reading a FIFO would block forever
    name = PurePosixPath(relative).name if relative else root_name
    return Entry(
        root=root_name,
        relative=relative,
        name=name,
        is_dir=is_dir,
        size=0 if is_dir else st.st_size,
        modified=datetime.fromtimestamp(st.st_mtime).astimezone(),
        kind=None if is_dir else _kind(path, st.st_size),
    )


def _kind(path: Path, size: int) -> str | None:
    """The file's kind from its extension, or from its first bytes where those decide."""
    suffix = path.suffix.lower()
    if suffix in _COMPRESSED:
        inner = _EXTENSIONS.get(Path(path.stem).suffix.lower())
        return inner if inner in ("csv", "json") else None
    by_name = _EXTENSIONS.get(suffix)
    if suffix in _SNIFFED and size >= 16:
        by_magic = _magic(path)
        if by_magic is not None:
            return by_magic
    return by_name


def _magic(path: Path) -> str | None:
    """parquet / sqlite / duckdb when the first bytes say so."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return None
    if head.startswith(_SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(_PARQUET_MAGIC):
        return "parquet"
    if head[8:12] == _DUCKDB_MAGIC:
        return "duckdb"
    return None
