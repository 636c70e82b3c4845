"""Saved connections (connections.toml, mode 0600, passwords encrypted) and the demo database."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from tusk import auth, config, private, vault
from tusk.engines.abilities import engine_abilities
from tusk.engines.spec import ENGINE_NAMES, ConnectionSpec
from tusk.errors import BadInput, PermissionDenied, TuskError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tusk.auth.schema import User
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
    kind = engine_abilities(spec.engine)
    if kind.host_required and not spec.host:
        raise BadInput(f"A {kind.label} connection needs a host.", "Host missing")
    if "port" in kind.connection_fields and spec.port is not None:
        if not 1 <= spec.port <= 65535:
            raise BadInput(f"Port must be from 1 to 65535, not {spec.port}.", "Bad port")
    elif kind.path_required and not spec.path:
        raise BadInput(
            "Give the database file's path (DuckDB also accepts :memory:).", "Path missing"
        )
    if spec.path and spec.path != ":memory:":
        private.check(spec.path)


def _check_place(spec: ConnectionSpec, actor: User | None) -> None:
    """On a shared Tusk, a connection a user saves keeps its file (or folder) inside the data
    roots, and names no server environment variable to read its password from (it could
    name any of the server's secrets and send it to a host of the user's choosing): both
    are for whoever sets the data roots (system.settings) to decide."""
    from tusk import files
    from tusk.engines.base import inside_roots

    roots = files.confinement(actor)
    if roots is None or auth.allowed(actor, "system.settings"):
        return
    placed = spec.path and spec.path != ":memory:" and engine_abilities(spec.engine).path_local
    if placed and not inside_roots(spec.path or "", roots):
        raise BadInput(
            f"{spec.path!r} is outside the data roots: on a shared Tusk a connection's "
            "file lives in a data root.",
            "Path not allowed",
        )
    if spec.password_env:
        raise PermissionDenied(
            "Reading a password from a server environment variable needs the "
            "system.settings permission; type the password instead.",
        )


@_serialized
def add(spec: ConnectionSpec, *, actor: User | None = None) -> ConnectionSpec:
    """Save a new connection; names are unique (needs connections.create)."""
    auth.require(actor, "connections.create")
    validate(spec)
    _check_place(spec, actor)
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
    _check_place(spec, actor)
    spec = spec.with_changes(name=spec.name.strip())
    records = _load_records()
    for i, rec in enumerate(records):
        if rec.get("name") == name:
            if spec.name != name and spec.name in names():
                raise BadInput(f"A connection called {spec.name!r} already exists.", "Name taken")
            new = _to_record(spec)
            if keep_password and not spec.password and "password" in rec:
                _refuse_moved_secret(_from_record(rec, with_secret=False), spec)
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


# Where a stored password is sent: changing any of these needs the password typed again.
_TARGET_FIELDS = ("engine", "host", "port", "user", "options")


def _refuse_moved_secret(stored: ConnectionSpec, wanted: ConnectionSpec) -> None:
    """BadInput when `wanted` points the stored password somewhere else (another host, port,
    user or libpq option, such as sslmode or hostaddr): whoever may edit a connection must
    not make it send the saved password to a server of their choosing."""
    moved = [f for f in _TARGET_FIELDS if getattr(stored, f) != getattr(wanted, f)]
    if moved:
        raise BadInput(
            f"The saved password is sent only where it was saved for: after changing "
            f"{', '.join(moved)}, type the password again.",
            "Password needed",
        )


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
    """Open a connection for `actor`, the one way pages and library actions do it.

    - `actor` needs queries.execute, and connections.use for anything but the built-in demo
      (a user without connections.use gets the demo read-only, enforced by the engine);
    - a file engine never opens one of Tusk's own files (tusk.private);
    - on a shared Tusk the session is confined to the data roots (files.confinement): SQL
      reads no file outside them, and writes none without data.export;
    - with isolation on (the app), in-process engines run in a worker process
      (tusk.engines.isolation), so a crash there cannot take the server down;
    - PostgreSQL connections in `attach` are attached to a DuckDB session (alias each),
      which a confined session cannot do.

    PermissionDenied, BadInput, ConnectionFailed / QueryFailed as checking, connecting or
    attaching fails."""
    from tusk import files
    from tusk.engines import isolation
    from tusk.engines.base import attaching
    from tusk.engines.registry import connect, engine_class

    read_only = _truthy(spec.options.get("read_only"))
    if auth.checked(actor):
        auth.require(actor, "queries.execute")
        if spec.name != DEMO_NAME:
            auth.require(actor, "connections.use")
        read_only = read_only or not auth.allowed(actor, "connections.use")
    if spec.path and spec.path != ":memory:" and spec.name != DEMO_NAME:
        private.check(spec.path)
    demo = spec.name == DEMO_NAME
    isolated = isolation.enabled() and spec.engine in isolation.IN_PROCESS
    if demo and not isolated:
        ensure_demo()
    roots = files.confinement(actor)
    write = auth.allowed(actor, "data.export")
    if roots is not None:
        if attach:
            raise BadInput(
                "On a shared Tusk, DuckDB sessions are confined to the data roots and cannot "
                "attach PostgreSQL.",
                "Attach unavailable",
            )
        # What the engine must leave out to be confinable (DuckDB: its scanners).
        confined = engine_class(spec.engine).confined_options
        spec = spec.with_changes(options={**spec.options, **confined})
    if isolated:
        conn: Connection = isolation.connect(
            spec,
            confine=(roots, write) if roots is not None else None,
            read_only=read_only,
            demo=demo,
        )
    else:
        conn = connect(spec)
    try:
        for pg, alias in attach:
            if not attaching(conn):
                raise BadInput(f"{spec.name} cannot attach databases.", "Cannot attach")
            conn.attach_postgres(pg, alias)
        if roots is not None:
            conn.confine(roots, write=write)
        if read_only:
            conn.set_read_only()
    except BaseException:
        conn.close()
        raise
    return conn


def _truthy(value: object) -> bool:
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


def test(spec: ConnectionSpec) -> TestOutcome:
    """Open the connection and run `select 1`; never raises for database errors. An
    in-process engine opens in a worker when isolation is on (a corrupt file that crashes
    the engine must not crash the server)."""
    from tusk.engines import isolation
    from tusk.engines.registry import connect

    isolated = isolation.enabled() and spec.engine in isolation.IN_PROCESS
    if spec.name == DEMO_NAME:
        if not isolated:
            ensure_demo()
    elif spec.path and spec.path != ":memory:":
        why = private.reason(spec.path)
        if why is not None:
            return TestOutcome(False, f"The connection's file cannot be used: {why}.", 0.0)
    start = time.perf_counter()
    try:
        if isolated:
            conn: Connection = isolation.connect(spec, demo=spec.name == DEMO_NAME)
        else:
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


def test_saved(name: str, *, actor: User | None = None) -> TestOutcome:
    """Test the saved connection `name` as it is (needs connections.use, as opening it does,
    except for the demo)."""
    if name != DEMO_NAME:
        auth.require(actor, "connections.use")
    return test(get(name))


def test_edit(name: str, spec: ConnectionSpec, *, actor: User | None = None) -> TestOutcome:
    """Test an edited form of the saved connection `name` (needs connections.edit): an empty
    password field uses the saved password only while the connection still points where it
    was saved for (else BadInput asks for it again)."""
    auth.require(actor, "connections.edit")
    stored = get(name)
    if not spec.password and not spec.password_env and stored.password:
        _refuse_moved_secret(stored, spec)
        spec = spec.with_changes(password=stored.password)
    _check_place(spec, actor)
    return test(spec)


def ensure_demo() -> ConnectionSpec:
    """The demo's spec, its database made on first use. With isolation on (the app) the
    engine worker that holds the file makes it when a session opens (open_for), as no other
    process may open a DuckDB file a worker writes."""
    from tusk.demo import create_demo
    from tusk.engines import isolation

    spec = demo_spec()
    if not isolation.enabled():
        create_demo(spec.path or "")
    return spec
