"""Tusk's home folder (~/.tusk or $TUSK_HOME) and its settings file, written atomically."""

from __future__ import annotations

import os
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tusk.errors import BadInput

CONFIG_FILE = "config.toml"
CONNECTIONS_FILE = "connections.toml"
HISTORY_DB = "history.db"
BACKUPS_DIR = "backups"
PIPELINES_DIR = "pipelines"


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


def atomic_write(path: Path, data: str | bytes, mode: int = 0o600) -> None:
    """Write a file via a temp file + rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; a missing file is empty, a broken one a clear BadInput."""
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path} is not valid TOML: {exc}. Fix or remove the file.") from None


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


@dataclass(frozen=True)
class Setting:
    """One known setting: its default, how to parse a CLI string, and what it means."""

    default: Any
    parse: Callable[[str], Any]
    help: str


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


SETTINGS: dict[str, Setting] = {
    "host": Setting("127.0.0.1", _host, "address `tusk studio` listens on"),
    "port": Setting(8000, _port, "port `tusk studio` listens on"),
    "pg_bin_path": Setting("", _pg_bin_path, "folder with pg_dump/pg_restore (empty: search PATH)"),
    "auth_mode": Setting("single", _choice("single", "multi"), "single (no login) or multi-user"),
    "theme": Setting("light", _choice("light", "dark"), "studio colour theme"),
    "default_limit": Setting(1000, _limit, "rows fetched by an interactive query"),
    "data_roots": Setting([], _roots, "comma-separated folders the file browser may open"),
    "upload_max_mb": Setting(200, _upload_mb, "largest file an upload may write, in MB"),
    "map_tiles_url": Setting(
        "", _tiles_url, "basemap tile URL template ({z}/{x}/{y}); empty: no basemap (offline)"
    ),
}


_cache: dict[Path, tuple[tuple[int, int, int], dict[str, Any]]] = {}


def load() -> dict[str, Any]:
    """All settings: defaults overlaid with config.toml (re-read only when the file changes:
    every page run asks for the mode, theme and limit several times)."""
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
    values.update({k: v for k, v in stored.items() if k in SETTINGS})
    _cache[path] = (stamp, values)
    return dict(values)


def get(key: str) -> Any:
    """One setting's value."""
    if key not in SETTINGS:
        raise BadInput(_unknown(key))
    return load()[key]


def set_value(key: str, raw: str) -> Any:
    """Validate and store one setting from its text form; returns the stored value."""
    if key not in SETTINGS:
        raise BadInput(_unknown(key))
    try:
        value = SETTINGS[key].parse(raw)
    except BadInput as exc:
        raise BadInput(f"Bad value for {key}: {exc.message}") from None
    if key == "auth_mode" and value == "multi":
        from tusk.auth import store  # only here: the auth store is heavy to import

        if not store.initialised():
            raise BadInput(
                "Multi-user mode needs users first: run `tusk auth init`, then enable it."
            )
    path = home() / CONFIG_FILE
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
