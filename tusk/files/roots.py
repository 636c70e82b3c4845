"""The data roots: which folders the file browser may open, and `resolve`, the one way a
root name plus a relative path becomes a checked absolute path (no `..`, no absolute paths, no
NUL bytes, no symlink that leaves the root)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from tusk import auth, config, private
from tusk.errors import BadInput
from tusk.files.demo import _ensure_demo_files

if TYPE_CHECKING:
    from tusk.auth.schema import User

log = logging.getLogger("tusk.files")
DATA_DIR = "data"  # under Tusk's home: the default root, and the demo folder's parent
DEMO_ROOT = "demo"
_MAX_NAME_BYTES = 255  # a file name's limit on Linux and macOS file systems
_MAX_PATH_BYTES = 4000  # under PATH_MAX (4096 with the NUL), leaving room for a temp name


@dataclass(frozen=True)
class Root:
    """A folder the file browser may open, under a unique short name."""

    name: str
    path: Path


def roots() -> list[Root]:
    """The data roots: the `data_roots` setting (default TUSK_HOME/data), then the demo files."""
    data = config.home() / DATA_DIR
    data.mkdir(mode=0o700, exist_ok=True)
    configured = [Path(p).expanduser() for p in config.get("data_roots")] or [data]
    demo = data / DEMO_ROOT
    _ensure_demo_files(demo)
    found: list[Root] = []
    names: set[str] = set()
    paths: set[Path] = set()
    for folder in [*configured, demo]:
        try:
            path = folder.resolve()
        except (OSError, RuntimeError):
            continue
        if path in paths or not path.is_dir():
            continue  # a root removed since it was configured is simply not shown
        if private.contains_home(path):
            # Tusk's own files (secret key, auth.db) must never be inside a data root: SQL
            # confined to the roots could read them.
            log.warning("data root %s holds Tusk's home %s: not used", path, private.home())
            continue
        name = path.name or "root"
        n = 2
        while name in names:
            name, n = f"{path.name or 'root'}-{n}", n + 1
        found.append(Root(name, path))
        names.add(name)
        paths.add(path)
    return found


def confinement(actor: User | None) -> tuple[Path, ...] | None:
    """The folders SQL run for `actor` may read and write: the data roots for every signed-in
    user in multi-user mode, admins too (DuckDB confines a whole database file, which all
    sessions of this process share); None, no limit, in single-user mode and for the trusted
    CLI (no actor)."""
    if actor is None or auth.mode() != "multi":
        return None
    return tuple(r.path for r in roots())


def root(name: str) -> Root:
    """The root called `name`."""
    known = roots()
    for r in known:
        if r.name == name:
            return r
    raise BadInput(
        f"There is no data root called {name!r}; the roots are: "
        f"{', '.join(r.name for r in known) or 'none'}.",
        "Unknown data root",
    )


def resolve(root_name: str, relative: str = "") -> Path:
    """The absolute path of `relative` inside the root, or BadInput if it would leave it."""
    base = root(root_name).path
    rel = _relative(relative)
    if len(os.fsencode(base / rel)) > _MAX_PATH_BYTES:
        raise BadInput(
            f"This path is longer than {_MAX_PATH_BYTES:,} bytes with its data root, the file "
            "system's limit: use fewer or shorter folder names.",
            "Path too long",
        )
    try:
        path = (base / rel).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise BadInput(f"Cannot follow {_show(root_name, rel)}: {exc}.", "Bad path") from None
    if not path.is_relative_to(base):
        raise BadInput(
            f"{_show(root_name, rel)} leads outside the data root through a symbolic link: "
            "Tusk only opens files inside its data roots.",
            "Outside the data root",
        )
    return path


def _relative(relative: str) -> PurePosixPath:
    """A checked relative path: no NUL, not absolute, no `..` part."""
    text = str(relative or "")
    if "\x00" in text:
        raise BadInput("A path cannot contain a NUL character.", "Bad path")
    rel = PurePosixPath(text)
    if rel.is_absolute():  # "~x" is a plain name here: nothing expands it
        raise BadInput(
            f"{text!r} is an absolute path: give a path relative to the data root.", "Bad path"
        )
    if ".." in rel.parts:
        raise BadInput(
            f"{text!r} climbs out with '..': give a path inside the data root.", "Bad path"
        )
    try:
        os.fsencode(text)
    except UnicodeEncodeError:
        raise BadInput(f"{text!r} is not a valid file name.", "Bad path") from None
    # The OS refuses longer names with "File name too long": say so before asking it.
    if any(len(os.fsencode(part)) > _MAX_NAME_BYTES for part in rel.parts):
        raise BadInput(
            f"A name in this path is longer than {_MAX_NAME_BYTES} bytes, the file system's "
            "limit: shorten it.",
            "Name too long",
        )
    if len(os.fsencode(text)) > _MAX_PATH_BYTES:
        raise BadInput(
            f"This path is longer than {_MAX_PATH_BYTES:,} bytes, the file system's limit: "
            "use fewer or shorter folder names.",
            "Path too long",
        )
    return rel


def _show(root_name: str, rel: PurePosixPath | str) -> str:
    """How a path appears in messages: root/relative, never the server's absolute path."""
    text = str(rel)
    return root_name if text in ("", ".") else f"{root_name}/{text}"


def _posix(rel: PurePosixPath) -> str:
    text = str(rel)
    return "" if text == "." else text
