"""Tusk's own files: its home folder (config, connections, secret key, auth, history, saved
queries, drafts, backups) except the default data root inside it.

No connection may point at one of them, whatever the spelling: a symbolic link, `..`, a hard
link elsewhere, or a `file:` URI. Otherwise a user allowed to add a SQLite connection could
open auth.db and make themselves an administrator. Data roots never contain the home either
(tusk.files.roots drops such a root), so SQL confined to the roots cannot reach it.
"""

from __future__ import annotations

import os
from pathlib import Path

from tusk import config
from tusk.errors import BadInput

DATA_DIR = "data"  # the default data root inside the home (tusk.files.DATA_DIR)


def home() -> Path:
    """Tusk's home, symbolic links resolved."""
    return config.home_path().expanduser().resolve()


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def reason(path: str | os.PathLike[str]) -> str | None:
    """Why `path` would reach Tusk's own files, or None when it does not."""
    text = os.fspath(path)
    if "\x00" in text:
        return "it contains a NUL character"
    if text.lower().startswith("file:"):
        return "it is a file: URI (give a plain path)"
    own = home()
    try:
        real = Path(text).expanduser().resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        return f"it cannot be resolved ({exc})"
    if _inside(real, own) and not _inside(real, own / DATA_DIR):
        return "it lies in Tusk's own home folder, which holds its settings and secrets"
    try:
        st = real.stat()
    except OSError:
        return None  # does not exist (yet): a new file, made where the path says
    if st.st_nlink > 1 and real.is_file() and (st.st_dev, st.st_ino) in _own_inodes(own):
        return "it is a hard link to one of Tusk's own files"
    return None


def _own_inodes(own: Path) -> set[tuple[int, int]]:
    """(device, inode) of every file in the home outside its data folder."""
    found: set[tuple[int, int]] = set()
    for folder, dirs, names in os.walk(own):
        if Path(folder) == own and DATA_DIR in dirs:
            dirs.remove(DATA_DIR)
        for name in names:
            try:
                st = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            found.add((st.st_dev, st.st_ino))
    return found


def check(path: str | os.PathLike[str], what: str = "The connection's file") -> None:
    """BadInput when `path` would reach Tusk's own files."""
    why = reason(path)
    if why is not None:
        raise BadInput(
            f"{what} cannot be {os.fspath(path)!r}: {why}. Choose a file in a data root.",
            "Path not allowed",
        )


def contains_home(folder: Path) -> bool:
    """True when `folder` is Tusk's home, holds it, or lies inside it outside its data folder
    (such a folder must never be a data root)."""
    own = home()
    try:
        real = folder.expanduser().resolve()
    except (OSError, RuntimeError):
        return True
    return _inside(own, real) or (_inside(real, own) and not _inside(real, own / DATA_DIR))
