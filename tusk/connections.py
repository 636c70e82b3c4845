"""Saved connections (connections.toml, mode 0600, passwords encrypted) and the demo database."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from tusk import auth, config, vault
from tusk.engines.spec import ENGINE_NAMES, ConnectionSpec
from tusk.errors import BadInput, TuskError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tusk.auth.store import User
    from tusk.engines.base import Connection

P = ParamSpec("P")
R = TypeVar("R")
DEMO_NAME = "demo"
MAX_NAME = 64


def demo_spec() -> ConnectionSpec:
    """The built-in DuckDB demo connection (its file is made on first use)."""
    return ConnectionSpec(DEMO_NAME, "duckdb", path=str(config.home() / "demo.duckdb"))


def _path():
    return config.home() / config.CONNECTIONS_FILE


def _to_record(spec: ConnectionSpec) -> dict[str, Any]:
    rec: dict[str, Any] = {"name": spec.name, "engine": spec.engine}
    for key in ("host", "port", "database", "user", "password_env", "path"):
        value = getattr(spec, key)
        if value not in (None, ""):
            rec[key] = value
    if spec.password:
        rec["password"] = vault.encrypt(spec.password)
    if spec.options:
        rec["options"] = {str(k): str(v) for k, v in spec.options.items()}
    return rec


def _from_record(rec: dict[str, Any], with_secret: bool = True) -> ConnectionSpec:
    password = rec.get("password") if with_secret else None
    return ConnectionSpec(
        name=str(rec["name"]),
        engine=str(rec["engine"]),
        host=rec.get("host"),
        port=int(rec["port"]) if rec.get("port") is not None else None,
        database=rec.get("database"),
        user=rec.get("user"),
        password=vault.decrypt(password) if password else None,
        password_env=rec.get("password_env"),
        path=rec.get("path"),
        options=dict(rec.get("options", {})),
    )


def _load_records() -> list[dict[str, Any]]:
    """The saved records, each checked: a damaged file is a BadInput naming it and the
    problem, with a copy kept aside (and nothing rewrites it until it is fixed)."""
    path = _path()
    data = config.read_toml(path)
    records = data.get("connections", [])
    problem = (
        "'connections' must be a list of tables"
        if not isinstance(records, list)
        else next(filter(None, (_record_problem(i, r) for i, r in enumerate(records, 1))), None)
    )
    if problem is not None:
        raise config.damaged(
            path, problem, "Fix the file, or move it away to start with no saved connections."
        )
    return records


_TEXT_FIELDS = ("host", "database", "user", "password", "password_env", "path")


def _record_problem(number: int, rec: Any) -> str | None:
    """What is wrong with one record of connections.toml, or None."""
    if not isinstance(rec, dict):
        return f"entry {number} is not a table"
    name = rec.get("name")
    if not isinstance(name, str) or not name.strip():
        return f"entry {number} has no name"
    engine = rec.get("engine")
    if engine is None:
        return f"connection {name!r} has no engine"
    if engine not in ENGINE_NAMES:
        return f"connection {name!r} has an unknown engine {engine!r}"
    port = rec.get("port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)):
        return f"connection {name!r} has a port that is not a number ({port!r})"
    for key in _TEXT_FIELDS:
        if key in rec and not isinstance(rec[key], str):
            return f"connection {name!r} has a {key} that is not text"
    options = rec.get("options", {})
    if not isinstance(options, dict) or any(isinstance(v, dict | list) for v in options.values()):
        return f"connection {name!r} has options that are not a table of values"
    return None


def _save_records(records: list[dict[str, Any]]) -> None:
    config.write_toml(_path(), {"connections": records}, mode=0o600)


def _serialized(action: Callable[P, R]) -> Callable[P, R]:
    """Run a read-modify-write of connections.toml under its lock: two sessions adding a
    connection at once must both be kept (an atomic rename alone keeps only the last)."""

    @functools.wraps(action)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with config.locked(_path()):
            return action(*args, **kwargs)

    return run


def list_connections() -> list[ConnectionSpec]:
    """Every saved connection, the demo first, without passwords (use get() to connect)."""
    return [demo_spec(), *(_from_record(r, with_secret=False) for r in _load_records())]


def names() -> list[str]:
    """Connection names, the demo first (reads no secrets)."""
    return [DEMO_NAME, *(str(r["name"]) for r in _load_records())]


def get(name: str) -> ConnectionSpec:
    """The connection called `name`."""
    if name == DEMO_NAME:
        return demo_spec()
    for rec in _load_records():
        if rec.get("name") == name:
            return _from_record(rec)
    raise BadInput(f"There is no connection called {name!r}.", "Unknown connection")


def validate(spec: ConnectionSpec) -> None:
    """Check a spec's fields before it is saved."""
    name = spec.name.strip()
    if not name:
        raise BadInput("Give the connection a name.", "Name missing")
    if len(name) > MAX_NAME:
        raise BadInput(f"Connection names are at most {MAX_NAME} characters.", "Name too long")
    if spec.engine not in ENGINE_NAMES:
        raise BadInput(f"Unknown engine {spec.engine!r}.")
    if spec.engine == "postgres":
        if not spec.host:
            raise BadInput("A PostgreSQL connection needs a host.", "Host missing")
        if spec.port is not None and not 1 <= spec.port <= 65535:
            raise BadInput(f"Port must be from 1 to 65535, not {spec.port}.", "Bad port")
    elif spec.engine == "cluster":
        if spec.port is not None and not 1 <= spec.port <= 65535:
            raise BadInput(f"Port must be from 1 to 65535, not {spec.port}.", "Bad port")
    elif spec.engine in ("sqlite", "duckdb") and not spec.path:
        raise BadInput(
            "Give the database file's path (DuckDB also accepts :memory:).", "Path missing"
        )


@_serialized
def add(spec: ConnectionSpec, *, actor: User | None = None) -> ConnectionSpec:
    """Save a new connection; names are unique (needs connections.create)."""
    auth.require(actor, "connections.create")
    validate(spec)
    spec = spec.with_changes(name=spec.name.strip())
    if spec.name in names():
        raise BadInput(f"A connection called {spec.name!r} already exists.", "Name taken")
    records = _load_records()
    records.append(_to_record(spec))
    _save_records(records)
    return spec


@_serialized
def update(
    name: str, spec: ConnectionSpec, *, keep_password: bool = True, actor: User | None = None
) -> ConnectionSpec:
    """Replace a saved connection; with keep_password, an empty password keeps the old one."""
    auth.require(actor, "connections.edit")
    if name == DEMO_NAME:
        raise BadInput("The demo connection is built in and cannot be edited.")
    validate(spec)
    spec = spec.with_changes(name=spec.name.strip())
    records = _load_records()
    for i, rec in enumerate(records):
        if rec.get("name") == name:
            if spec.name != name and spec.name in names():
                raise BadInput(f"A connection called {spec.name!r} already exists.", "Name taken")
            new = _to_record(spec)
            if keep_password and not spec.password and "password" in rec:
                new["password"] = rec["password"]
            records[i] = new
            _save_records(records)
            return spec
    raise BadInput(f"There is no connection called {name!r}.", "Unknown connection")


@_serialized
def delete(name: str, *, actor: User | None = None) -> None:
    """Remove a saved connection (needs connections.delete)."""
    auth.require(actor, "connections.delete")
    if name == DEMO_NAME:
        raise BadInput("The demo connection is built in and cannot be deleted.")
    records = _load_records()
    kept = [r for r in records if r.get("name") != name]
    if len(kept) == len(records):
        raise BadInput(f"There is no connection called {name!r}.", "Unknown connection")
    _save_records(kept)


@dataclass(frozen=True)
class TestOutcome:
    """Result of testing a connection."""

    ok: bool
    message: str
    elapsed_s: float


def open_for(
    spec: ConnectionSpec,
    actor: User | None = None,
    *,
    attach: Sequence[tuple[ConnectionSpec, str]] = (),
) -> Connection:
    """Open a connection for `actor`: PostgreSQL connections in `attach` are attached to a
    DuckDB session (alias each), then the session is confined to the data roots when the
    actor is (files.confinement) — SQL can then read no file outside them, and without
    data.export write none. ConnectionFailed / QueryFailed as connecting or attaching fails."""
    from tusk import files
    from tusk.engines.registry import connect

    if spec.name == DEMO_NAME:
        ensure_demo()
    conn = connect(spec)
    try:
        for pg, alias in attach:
            conn.attach_postgres(pg, alias)  # type: ignore[attr-defined] - DuckDB only
        roots = files.confinement(actor)
        if roots is not None:
            conn.confine(roots, write=auth.allowed(actor, "data.export"))
    except BaseException:
        conn.close()
        raise
    return conn


def test(spec: ConnectionSpec) -> TestOutcome:
    """Open the connection and run `select 1`; never raises for database errors."""
    from tusk.engines.registry import connect

    if spec.name == DEMO_NAME:
        ensure_demo()
    start = time.perf_counter()
    try:
        conn = connect(spec)
        try:
            conn.execute("select 1", limit=1)
        finally:
            conn.close()
    except TuskError as exc:
        return TestOutcome(False, exc.message, time.perf_counter() - start)
    return TestOutcome(True, "Connected.", time.perf_counter() - start)


def ensure_demo() -> ConnectionSpec:
    """Create the demo database on first use; return its spec."""
    from tusk.demo import create_demo

    spec = demo_spec()
    create_demo(spec.path or "")
    return spec
