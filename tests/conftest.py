"""Shared fixtures: an isolated TUSK_HOME for every test, a real PostgreSQL test database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tusk.engines.spec import ConnectionSpec

PG_HOST = os.environ.get("TUSK_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TUSK_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("TUSK_TEST_PG_USER", "postgres")
PG_PASSWORD = os.environ.get("TUSK_TEST_PG_PASSWORD", "tusk")  # set by scripts/pg-up
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def tusk_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty Tusk home."""
    home = tmp_path / "tusk-home"
    monkeypatch.setenv("TUSK_HOME", str(home))
    monkeypatch.delenv("TUSK_PG_BIN_PATH", raising=False)
    return home


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
