"""Tusk's home folder (~/.tusk or $TUSK_HOME) and its settings file, written atomically.

Every read-modify-write of a shared file (settings, connections, the demo database and its
data files) runs inside `locked(path)`: an flock on a sibling `.NAME.lock` file, which serializes threads
and processes alike (each open() is its own file description). A file Tusk cannot parse is
never rewritten: a copy is kept aside (`keep_aside`) and the error names the file.
"""

from __future__ import annotations

import errno
import fcntl
import glob
import json
import os
import shutil
import tempfile
import threading
import time
import tomllib
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tusk.errors import BadInput, TuskError

CONFIG_FILE = "config.toml"
CONNECTIONS_FILE = "connections.toml"
HISTORY_DB = "history.db"
BACKUPS_DIR = "backups"
PIPELINES_DIR = "pipelines"
LOCK_TIMEOUT_S = 30.0


def home_path() -> Path:
    """Where Tusk's home folder is (~/.tusk or $TUSK_HOME), without creating it."""
    return Path(os.environ.get("TUSK_HOME") or "~/.tusk").expanduser()


def home() -> Path:
    """Tusk's home folder, created (mode 0700) if missing."""
    path = home_path()
    if not path.exists():  # exist_ok: two threads may both find it missing
        path.mkdir(parents=True, mode=0o700, exist_ok=True)
        (path / BACKUPS_DIR).mkdir(mode=0o700, exist_ok=True)
    return path


# --- writing safely -------------------------------------------------------------------------

_held = threading.local()  # the lock paths this thread holds, so a nested `locked` is a no-op


@contextmanager
def locked(path: Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold `path`'s advisory lock (flock on the sibling `.NAME.lock`) for a read-modify-write.

    Atomic rename alone loses updates: two writers read the same old file and the second
    rename drops the first one's change. Re-entrant within a thread; TuskError after `timeout`.
    """
    key = str(path.absolute())
    held: set[str] = _held.__dict__.setdefault("paths", set())
    if key in held:
        yield
        return
    lock_path = path.parent / f".{path.name}.lock"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise write_failed(path, exc) from None
    try:
        deadline = time.monotonic() + timeout
        delay = 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                # Polling (not a blocking flock) so a stuck holder cannot hang us forever.
                if time.monotonic() > deadline:
                    raise TuskError(
                        f"{path} is being changed by another Tusk process that has not finished "
                        f"within {timeout:.0f} s; try again.",
                        "File busy",
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.02)
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)
    finally:
        os.close(fd)  # closing the descriptor releases the flock


_WRITE_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EFBIG: "the file would be larger than the system allows",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "Tusk may not write there",
    errno.EPERM: "Tusk may not write there",
    errno.ENAMETOOLONG: "the file name or path is too long",
}


def write_failed(path: Path | str, exc: OSError) -> TuskError:
    """The clear error for a write of `path` (or how to name it) that failed with `exc`:
    disk full, read-only, name too long …"""
    reason = _WRITE_REASONS.get(exc.errno or 0) or exc.strerror or str(exc)
    message = f"Could not save {path}: {reason}. Nothing was changed; the previous version is kept."
    if exc.errno == errno.ENAMETOOLONG:
        return BadInput(message, "Name too long")
    return TuskError(message, "Could not save")


def atomic_write(path: Path, data: str | bytes, mode: int = 0o600) -> None:
    """Write a file via a temp file + rename, so readers never see half a file; a failed write
    (disk full …) is a TuskError and leaves the previous file as it was."""
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:64]}.", suffix=".tmp")
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise write_failed(path, exc) from None
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


def write_new(path: Path, data: str | bytes, mode: int = 0o600) -> bool:
    """Write a file only if no file of that name exists, even when two writers race (a hard
    link fails if the name is taken, unlike rename); True if this call wrote it."""
    tmp = path.parent / f".tusk-{os.getpid()}-{threading.get_ident()}-{time.monotonic_ns()}.part"
    try:
        atomic_write(tmp, data, mode)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError as exc:
            raise write_failed(path, exc) from None
        return True
    finally:
        tmp.unlink(missing_ok=True)


def keep_aside(path: Path) -> Path | None:
    """Copy a damaged file next to itself as NAME.bad-YYYYMMDD-HHMMSS (mode 0600; a SQLite
    file's -wal with it), once per content; the copy's path, or None if it could not be made."""
    try:
        with locked(path):
            data = path.read_bytes()
            pattern = glob.escape(path.name) + ".bad-*"
            for old in sorted(path.parent.glob(pattern)):
                if old.name.endswith("-wal") or old.stat().st_size != len(data):
                    continue
                if old.read_bytes() == data:
                    return old
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            target = path.with_name(f"{path.name}.bad-{stamp}")
            n = 2
            while target.exists():
                target, n = path.with_name(f"{path.name}.bad-{stamp}-{n}"), n + 1
            atomic_write(target, data, 0o600)
            wal = path.with_name(path.name + "-wal")
            if wal.exists():
                shutil.copyfile(wal, target.with_name(target.name + "-wal"))
                os.chmod(target.with_name(target.name + "-wal"), 0o600)
            return target
    except (OSError, TuskError):
        return None


def damaged(path: Path, problem: str, fix: str) -> BadInput:
    """The error for a state file Tusk cannot use: which file, what is wrong, where the copy
    kept aside is (made here), and what to do. The file itself is left as it is."""
    copy = keep_aside(path) if path.exists() else None
    kept = (
        f"A copy was kept as {copy.name}."
        if copy is not None
        else "Tusk could not make a backup copy; the file is left as it is."
    )
    return BadInput(f"{path} is damaged: {problem}. {kept} {fix}", "Damaged file")


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; a missing file is empty, a damaged one a clear BadInput (a copy kept
    aside; the file itself is never rewritten while it cannot be read)."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise BadInput(f"Cannot read {path}: {exc.strerror or exc}.", "Cannot read file") from None
    if not text.strip():
        # Tusk never writes an empty file: this one was cut short (an empty config.toml
        # would silently mean the defaults, single-user mode included).
        raise damaged(path, "it is empty", "Fix the file, or move it away to start afresh.")
    try:
        return tomllib.loads(text.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise damaged(
            path, f"it is not valid TOML ({exc})", "Fix the file, or move it away to start afresh."
        ) from None


def write_toml(path: Path, data: dict[str, Any], mode: int = 0o600) -> None:
    """Write TOML atomically with the given file mode."""
    import tomli_w

    atomic_write(path, tomli_w.dumps(data), mode)


# --- settings ------------------------------------------------------------------------------------


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise BadInput(f"port must be a number from 1 to 65535, not {value!r}.") from None
    if not 1 <= port <= 65535:
        raise BadInput(f"port must be from 1 to 65535, not {port}.")
    return port


def _choice(*options: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        v = value.strip().lower()
        if v not in options:
            raise BadInput(f"use one of {', '.join(options)} (got {value!r}).")
        return v

    return check


def _pg_bin_path(value: str) -> str:
    if value == "":
        return ""
    path = Path(value).expanduser()
    if not path.is_dir():
        raise BadInput(f"pg_bin_path must be an existing folder, and {path} is not one.")
    if not (path / "pg_dump").exists():
        raise BadInput(
            f"pg_bin_path {path} has no pg_dump in it: point it at PostgreSQL's bin folder."
        )
    return str(path.resolve())


def _limit(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise BadInput(f"default_limit must be a whole number, not {value!r}.") from None
    if not 1 <= n <= 1_000_000:
        raise BadInput(f"default_limit must be from 1 to 1,000,000, not {n}.")
    return n


def _host(value: str) -> str:
    v = value.strip()
    if not v or any(c.isspace() for c in v):
        raise BadInput(f"host must be a host name or address, not {value!r}.")
    return v


def _roots(value: str) -> list[str]:
    roots = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        path = Path(part).expanduser()
        if not path.is_dir():
            raise BadInput(f"data root {path} is not an existing folder.")
        roots.append(str(path.resolve()))
    return roots


def _upload_mb(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise BadInput(f"upload_max_mb must be a whole number of MB, not {value!r}.") from None
    if not 1 <= n <= 100_000:
        raise BadInput(f"upload_max_mb must be from 1 to 100,000 MB, not {n}.")
    return n


def _tiles_url(value: str) -> str:
    """An http(s) tile URL template with {z}, {x} and {y}, or empty for no basemap."""
    url = str(value).strip()
    if not url:
        return ""
    if not url.startswith(("http://", "https://")) or not all(
        part in url for part in ("{z}", "{x}", "{y}")
    ):
        raise BadInput(f"{url!r} is not a tile URL template: use http(s)://…/{{z}}/{{x}}/{{y}}.png")
    return url


def _check_text(value: str) -> None:
    """Refuse NUL and other control characters and unpaired surrogates in a setting's text:
    they end up in a file name, a URL or a command line, which would cut or reject them."""
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cs"):
            what = "a NUL byte" if ch == "\x00" else f"the character {ascii(ch)}"
            raise BadInput(f"the value contains {what}, which no setting accepts.")


def _scalar(parse: Callable[[str], Any]) -> Callable[[Any], Any]:
    """A stored value checked by the CLI's parser: a TOML string or number, nothing else."""

    def check(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise BadInput(f"it must be a single value, not {type(value).__name__}.")
        _check_text(str(value))
        return parse(str(value))

    return check


def _stored_text(value: Any) -> str:
    """A stored path: text (whether the folder still exists is checked where it is used)."""
    if not isinstance(value, str):
        raise BadInput(f"it must be text, not {type(value).__name__}.")
    _check_text(value)
    return value


def _stored_auth_mode(value: Any) -> str:
    """Exactly "single" or "multi": a typo must never turn login off."""
    if value not in ("single", "multi"):
        raise BadInput('it must be exactly "single" or "multi" (lower case, no spaces).')
    return str(value)


def _stored_roots(value: Any) -> list[str]:
    """A list of folders (one that has gone away is simply not shown by the file browser)."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadInput('it must be a list of folder paths, such as ["/data", "/srv/files"].')
    for folder in value:
        _check_text(folder)
    return list(value)


@dataclass(frozen=True)
class Setting:
    """One known setting: its default, how to parse a CLI string, what it means, and how to
    check the value config.toml holds (a wrong type or a typo there is an error, never a
    silent default)."""

    default: Any
    parse: Callable[[str], Any]
    help: str
    check: Callable[[Any], Any] | None = None  # default: _scalar(parse)

    def stored(self, value: Any) -> Any:
        """The setting's value from what config.toml holds; BadInput saying what is wrong."""
        return (self.check or _scalar(self.parse))(value)


SETTINGS: dict[str, Setting] = {
    "host": Setting("127.0.0.1", _host, "address `tusk studio` listens on"),
    "port": Setting(8000, _port, "port `tusk studio` listens on"),
    "pg_bin_path": Setting(
        "", _pg_bin_path, "folder with pg_dump/pg_restore (empty: search PATH)", _stored_text
    ),
    "auth_mode": Setting(
        "single", _choice("single", "multi"), "single (no login) or multi-user", _stored_auth_mode
    ),
    "theme": Setting("light", _choice("light", "dark"), "studio colour theme"),
    "default_limit": Setting(1000, _limit, "rows fetched by an interactive query"),
    "data_roots": Setting(
        [], _roots, "comma-separated folders the file browser may open", _stored_roots
    ),
    "upload_max_mb": Setting(200, _upload_mb, "largest file an upload may write, in MB"),
    "map_tiles_url": Setting(
        "", _tiles_url, "basemap tile URL template ({z}/{x}/{y}); empty: no basemap (offline)"
    ),
}


_cache: dict[Path, tuple[tuple[int, int, int], dict[str, Any]]] = {}

# Rules of other modules about a setting's new value (`add_check`): config sits below them and
# imports none of them, so the module that owns the rule hands it in.
_checks: dict[str, list[Callable[[Any], None]]] = {}


def add_check(key: str, check: Callable[[Any], None]) -> None:
    """Run `check(value)` before `set_value` stores a new value of `key`; it raises TuskError
    to refuse the value (tusk.auth: multi-user mode needs users first)."""
    if key not in SETTINGS:
        raise BadInput(_unknown(key))
    if check not in _checks.setdefault(key, []):
        _checks[key].append(check)


def load() -> dict[str, Any]:
    """All settings: defaults overlaid with config.toml (re-read only when the file changes:
    every page run asks for the mode, theme and limit several times). A value of the wrong
    type or out of range is a BadInput naming the file, the key and the problem."""
    path = home_path() / CONFIG_FILE  # reading settings creates nothing
    try:
        st = path.stat()
        # atomic_write replaces the file, so the inode changes even within one clock tick
        stamp = (st.st_mtime_ns, st.st_ino, st.st_size)
    except OSError:
        stamp = (-1, -1, -1)
    hit = _cache.get(path)
    if hit is not None and hit[0] == stamp:
        return dict(hit[1])
    stored = read_toml(path)
    values = {k: s.default for k, s in SETTINGS.items()}
    problems = []
    for key, raw in stored.items():
        if key not in SETTINGS:
            continue  # a setting of a newer Tusk, or one no longer used
        try:
            values[key] = SETTINGS[key].stored(raw)
        except BadInput as exc:
            problems.append(f"{key} = {_shown(raw)}: {exc.message}")
    if problems:
        raise BadInput(
            f"{path} has {'a bad value' if len(problems) == 1 else 'bad values'}: "
            + " ".join(problems)
            + " Fix it with `tusk config set KEY VALUE` or edit the file.",
            "Bad setting",
        )
    _cache[path] = (stamp, values)
    return dict(values)


def _shown(raw: Any) -> str:
    """A stored value for a message: quoted, escaped, short."""
    text = json.dumps(raw) if isinstance(raw, str) else repr(raw)  # as TOML spells it
    return text if len(text) <= 80 else text[:77] + "…"


def get(key: str) -> Any:
    """One setting's value."""
    if key not in SETTINGS:
        raise BadInput(_unknown(key))
    return load()[key]


def set_value(key: str, raw: str) -> Any:
    """Validate and store one setting from its text form; returns the stored value.
    NUL, control characters and unpaired surrogates are refused; writers are serialized."""
    if key not in SETTINGS:
        raise BadInput(_unknown(key))
    try:
        _check_text(str(raw))
        value = SETTINGS[key].parse(raw)
    except BadInput as exc:
        raise BadInput(f"Bad value for {key}: {exc.message}") from None
    for check in _checks.get(key, ()):
        check(value)
    path = home() / CONFIG_FILE
    with locked(path):  # a setting changed at the same time elsewhere must not be lost
        stored = read_toml(path)
        stored[key] = value
        write_toml(path, stored)
    return value


def pg_tool(name: str) -> str:
    """Path of a PostgreSQL client tool (pg_dump, pg_restore, psql): --pg-bin-path for this
    run, else the pg_bin_path setting, else PATH; BadInput when it cannot be found."""
    import shutil

    folder = os.environ.get("TUSK_PG_BIN_PATH") or get("pg_bin_path")
    if folder:
        path = Path(folder) / name
        if path.exists():
            return str(path)
        raise BadInput(f"{name} is not in {folder}: fix it with `tusk config set pg_bin_path`.")
    found = shutil.which(name)
    if not found:
        raise BadInput(
            f"{name} was not found on PATH: install the PostgreSQL client or run "
            "`tusk config set pg_bin_path /usr/lib/postgresql/15/bin`."
        )
    return found


def _unknown(key: str) -> str:
    return f"Unknown setting {key!r}. Known settings: {', '.join(SETTINGS)}."
