"""Saved connections (connections.toml, mode 0600, passwords encrypted) and the demo database."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tusk import auth, config, vault
from tusk.engines.spec import ENGINE_NAMES, ConnectionSpec
from tusk.errors import BadInput, TuskError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tusk.auth.store import User
    from tusk.engines.base import Connection

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
    data = config.read_toml(_path())
    records = data.get("connections", [])
    if not isinstance(records, list):
        raise BadInput(f"{_path()} is malformed: 'connections' must be a list of tables.")
    return records


def _save_records(records: list[dict[str, Any]]) -> None:
    config.write_toml(_path(), {"connections": records}, mode=0o600)


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
    except Exception as exc:  # noqa: BLE001 - a test reports, never raises (a driver's surprise)
        reason = str(exc).strip() or "no message"
        secret = spec.secret()
        if secret:
            reason = reason.replace(secret, "********")
        return TestOutcome(False, f"{type(exc).__name__}: {reason}", time.perf_counter() - start)
    return TestOutcome(True, "Connected.", time.perf_counter() - start)


def ensure_demo() -> ConnectionSpec:
    """Create the demo database on first use; return its spec."""
    from tusk.demo import create_demo

    spec = demo_spec()
    create_demo(spec.path or "")
    return spec
