"""Writing into data roots: uploads, deletes, exports, each published atomically (a temp file
renamed into place), never outside a root."""

from __future__ import annotations

import os
import re
import unicodedata
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from tusk import auth, config
from tusk import export as exporting
from tusk.engines.base import (
    Connection,
    Params,
    check_encodable,
)
from tusk.errors import BadInput
from tusk.files.listing import Entry, unchecked_info
from tusk.files.roots import _MAX_NAME_BYTES, _posix, _relative, _show, resolve

if TYPE_CHECKING:
    from tusk.auth.schema import User

_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")
_CHUNK = 1 << 20
_MB = 1024 * 1024


def safe_name(name: str) -> str:
    """A file name made safe to write: path separators and control characters become _,
    no leading dots or spaces (no hidden files, no '..'), at most 255 bytes."""
    text = unicodedata.normalize("NFC", str(name or ""))
    check_encodable(text, "The file name")
    text = _UNSAFE_NAME.sub("_", text).strip().lstrip(". ").rstrip()
    if len(text.encode("utf-8")) > _MAX_NAME_BYTES:
        stem, dot, ext = text.rpartition(".")
        ext = (dot + ext) if dot and len(ext) <= 16 else ""
        stem = text[: len(text) - len(ext)]
        budget = _MAX_NAME_BYTES - len(ext.encode("utf-8"))
        stem = stem.encode("utf-8")[:budget].decode("utf-8", "ignore").rstrip()
        text = stem + ext
    if not text or not text.strip("_"):
        raise BadInput(f"{name!r} is not a usable file name.", "Bad file name")
    return text


def upload_limit_mb() -> int:
    """The largest upload in MB (1 MB = 1024 × 1024 bytes): the upload_max_mb setting."""
    return int(config.get("upload_max_mb"))


def upload(
    root_name: str,
    relative_dir: str,
    name: str,
    data: bytes | BinaryIO,
    *,
    overwrite: bool = False,
    actor: User | None = None,
) -> Entry:
    """Write an uploaded file into a folder of a root (needs data.import). The name is made
    safe; an existing file is only replaced with overwrite=True; the write is atomic and
    at most `upload_max_mb` MB."""
    auth.require(actor, "data.import")
    filename = safe_name(name)
    folder, relative = target(root_name, relative_dir, filename, overwrite)
    limit_mb = upload_limit_mb()
    limit = limit_mb * _MB
    if isinstance(data, bytes | bytearray | memoryview) and len(data) > limit:
        raise BadInput(_too_big(filename, limit_mb), "File too large")

    def fill(fh: BinaryIO) -> None:
        if isinstance(data, bytes | bytearray | memoryview):
            fh.write(data)
            return
        written = 0
        while chunk := data.read(_CHUNK):
            written += len(chunk)
            if written > limit:
                raise BadInput(_too_big(filename, limit_mb), "File too large")
            fh.write(chunk)

    return _write(root_name, relative, folder / filename, overwrite, fill)


def delete(root_name: str, relative: str, *, actor: User | None = None) -> None:
    """Delete one file from a root (needs data.import); folders are refused."""
    auth.require(actor, "data.import")
    rel = _relative(relative)
    shown = _show(root_name, rel)
    if not _posix(rel):
        raise BadInput("A data root itself cannot be deleted.", "Not a file")
    path = resolve(root_name, relative)
    # The link itself (not its target) is what the browser shows under this name.
    link = resolve(root_name, _posix(rel.parent)) / rel.name
    if path.is_dir():
        raise BadInput(f"{shown} is a folder: Tusk deletes files only.", "Not a file")
    if not link.is_symlink() and not path.exists():
        raise BadInput(f"{shown} does not exist.", "No such file")
    try:
        (link if link.is_symlink() else path).unlink()
    except FileNotFoundError:
        raise BadInput(f"{shown} does not exist.", "No such file") from None
    except OSError as exc:
        raise BadInput(f"Cannot delete {shown}: {exc.strerror}.", "Delete failed") from None


def export(
    conn: Connection,
    sql: str,
    fmt: str,
    root_name: str,
    relative: str,
    *,
    params: Params = None,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
    actor: User | None = None,
) -> Entry:
    """Stream a query's full result into a file in a root as csv/json/parquet (needs
    data.export, and queries.export, which tusk.export checks). `.fmt` is added to the name
    unless it ends so; an existing file is only replaced with overwrite=True."""
    auth.require(actor, "data.export")
    fmt = str(fmt).lower().lstrip(".")
    if fmt not in exporting.FORMATS:
        raise BadInput(
            f"Unknown export format {fmt!r}: use one of {', '.join(exporting.FORMATS)}.",
            "Unknown format",
        )
    rel = _relative(relative)
    if not _posix(rel):
        raise BadInput("Give the file a name to export to.", "File name missing")
    filename = safe_name(rel.name)
    if not filename.lower().endswith("." + fmt):
        filename += "." + fmt
    folder, relative = target(root_name, _posix(rel.parent), filename, overwrite)
    return _write(
        root_name,
        relative,
        folder / filename,
        overwrite,
        lambda fh: exporting.export(
            conn, sql, fmt, fh, params=params, progress=progress, actor=actor
        ),
    )


def _write(
    root_name: str, relative: str, path: Path, overwrite: bool, fill: Callable[[BinaryIO], object]
) -> Entry:
    """Write `path` through a temp file `fill` writes, synced, then published atomically; on
    any failure the temp file goes and an existing file stays as it was."""
    tmp = temp_path(path.parent)
    try:
        with open(tmp, "xb") as fh:
            fill(fh)
            fh.flush()
            os.fsync(fh.fileno())
        publish(tmp, path, overwrite, _show(root_name, relative))
    except OSError as exc:  # a full disk
        raise config.write_failed(_show(root_name, relative), exc) from None
    finally:
        tmp.unlink(missing_ok=True)
    return unchecked_info(root_name, relative)


def target(root_name: str, relative_dir: str, filename: str, overwrite: bool) -> tuple[Path, str]:
    """The folder to write into and the new file's relative path, refusing a clash early."""
    folder_rel = _relative(relative_dir)
    folder = resolve(root_name, relative_dir)
    if not folder.is_dir():
        raise BadInput(f"{_show(root_name, folder_rel)} is not a folder.", "No such folder")
    relative = _posix(folder_rel / filename)
    target = resolve(root_name, relative)  # an existing symlink here must stay inside too
    if target.is_dir():
        raise BadInput(f"{_show(root_name, relative)} is a folder.", "Name taken")
    if target.exists() and not overwrite:
        raise BadInput(_clash(_show(root_name, relative)), "File exists")
    return folder, relative


def temp_path(folder: Path) -> Path:
    """A hidden temp file name in the target folder (same file system, so rename is atomic;
    short, so a 255-byte file name still has room)."""
    return folder / f".tusk-{uuid.uuid4().hex}.part"


def publish(tmp: Path, target: Path, overwrite: bool, shown: str) -> None:
    """Move a finished temp file into place; without overwrite, never replace a file that
    appeared meanwhile (a hard link fails if the name exists, unlike rename)."""
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise BadInput(_clash(shown), "File exists") from None
    except OSError:  # a file system without hard links: check, then rename
        if target.exists():
            raise BadInput(_clash(shown), "File exists") from None
        os.replace(tmp, target)


def _clash(shown: str) -> str:
    return f"{shown} already exists — choose overwrite or another name."


def _too_big(name: str, limit_mb: int) -> str:
    return f"{name} is larger than the upload limit of {limit_mb:,} MB (the upload_max_mb setting)."
