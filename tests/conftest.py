"""Shared fixtures: an isolated TUSK_HOME for every test, a real PostgreSQL test database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tusk.engines.spec import ConnectionSpec

PG_HOST = os.environ.get("TUSK_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TUSK_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("TUSK_TEST_PG_USER", "postgres")
PG_PASSWORD = os.environ.get("TUSK_TEST_PG_PASSWORD", "tusk")  # set by scripts/pg-up
REPO = Path(__file__).resolve().parent.parent
# Tusk's password rule: at least 12 characters, not containing the user name, not one
# character repeated, not a common password (tusk.auth.passwords.check_password).
PASSWORD = "correct-horse-battery-9"  # every test user's, unless a test says otherwise
ADMIN_PASSWORD = "staple-horse-battery-7"  # the admin made by bootstrap.init in fixtures


@pytest.fixture(autouse=True)
def tusk_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own empty Tusk home; what a page run switched on for the whole
    process (the server's flags, engine worker processes) ends with the test."""
    from tusk import auth
    from tusk.engines import isolation

    home = tmp_path / "tusk-home"
    monkeypatch.setenv("TUSK_HOME", str(home))
    monkeypatch.delenv("TUSK_PG_BIN_PATH", raising=False)
    monkeypatch.setattr(isolation, "_enabled", [])
    monkeypatch.setattr(auth, "_serving", [])
    yield home
    isolation.shutdown()


def pg_spec(database: str, name: str = "pg") -> ConnectionSpec:
    """A spec for the local test server."""
    return ConnectionSpec(
        name,
        "postgres",
        host=PG_HOST,
        port=PG_PORT,
        database=database,
        user=PG_USER,
        password=PG_PASSWORD,
    )


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database created for this test session and dropped after it."""
    import psycopg
    from psycopg import sql

    name = f"tusk_test_{uuid.uuid4().hex[:8]}"
    admin = dict(host=PG_HOST, port=PG_PORT, user=PG_USER, password=PG_PASSWORD, dbname="postgres")
    try:
        with psycopg.connect(**admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not running (run scripts/pg-up): {exc}")
    yield name
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )


@pytest.fixture
def pg(pg_database: str) -> ConnectionSpec:
    """A connection spec for the session's PostgreSQL test database."""
    return pg_spec(pg_database)


# --- PostgreSQL databases and admin connections (Admin library and page tests) -----------------

SERVER = dict(host=PG_HOST, port=PG_PORT, user=PG_USER, password=PG_PASSWORD)


def server_connection(dbname: str = "postgres") -> Any:
    """A plain autocommit psycopg connection, for setting up what a test needs."""
    import psycopg

    return psycopg.connect(**SERVER, dbname=dbname, autocommit=True, connect_timeout=5)


@pytest.fixture
def make_database() -> Iterator[Callable[[], str]]:
    """Create fresh databases on demand; all are dropped (sessions terminated) afterwards."""
    made: list[str] = []

    from psycopg import sql

    def make() -> str:
        name = f"tusk_adm_{uuid.uuid4().hex[:8]}"
        with server_connection() as conn:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        made.append(name)
        return name

    yield make
    with server_connection() as conn:
        for name in made:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


@pytest.fixture
def db(make_database: Callable[[], str]) -> str:
    """One fresh database for this test."""
    return make_database()


@pytest.fixture
def db_spec(db: str) -> ConnectionSpec:
    """A saved-connection spec for the fresh database."""
    return pg_spec(db, name="admin-test")


@pytest.fixture
def conn(db_spec: ConnectionSpec) -> Iterator[Any]:
    """An admin connection (tusk.admin.AdminConnection) to the fresh database."""
    from tusk import admin

    c = admin.connect(db_spec)
    yield c
    c.close()


@pytest.fixture
def users(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Multi-user mode with one user per default group: viewer, analyst, engineer, admin."""
    from tusk import config
    from tusk.auth import passwords
    from tusk.auth.bootstrap import init
    from tusk.auth.users import create_user, get_user

    monkeypatch.setattr(passwords, "BCRYPT_ROUNDS", 4)
    init(ADMIN_PASSWORD)
    for name, group in (
        ("viewer", "Viewers"),
        ("analyst", "Analysts"),
        ("engineer", "Data Engineers"),
    ):
        create_user(name, PASSWORD, groups=[group])
    config.set_value("auth_mode", "multi")
    return {n: get_user(n) for n in ("viewer", "analyst", "engineer", "admin")}


HOSTILE = 'x"; DROP TABLE t; --'
UNICODE = "Zürich 🐘 таблица"


def wait_for(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll until `check()` is true: the server's views lag its clients by a moment."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
