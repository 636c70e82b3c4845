"""Fixtures for the Admin library tests: real PostgreSQL databases and admin connections."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql

from tests.conftest import PG_HOST, PG_PASSWORD, PG_PORT, PG_USER, pg_spec
from tusk import admin, config
from tusk.admin import AdminConnection
from tusk.auth import store
from tusk.engines.spec import ConnectionSpec

SERVER = dict(host=PG_HOST, port=PG_PORT, user=PG_USER, password=PG_PASSWORD)


def server_connection(dbname: str = "postgres") -> psycopg.Connection:
    """A plain autocommit psycopg connection, for setting up what a test needs."""
    return psycopg.connect(**SERVER, dbname=dbname, autocommit=True, connect_timeout=5)


@pytest.fixture
def make_database() -> Iterator[Callable[[], str]]:
    """Create fresh databases on demand; all are dropped (sessions terminated) afterwards."""
    made: list[str] = []

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
def conn(db_spec: ConnectionSpec) -> Iterator[AdminConnection]:
    """An admin connection to the fresh database."""
    c = admin.connect(db_spec)
    yield c
    c.close()


@pytest.fixture
def users(monkeypatch: pytest.MonkeyPatch) -> dict[str, store.User]:
    """Multi-user mode with one user per default group: viewer, analyst, engineer, admin."""
    monkeypatch.setattr(store, "BCRYPT_ROUNDS", 4)
    store.init("secret")
    for name, group in (
        ("viewer", "Viewers"),
        ("analyst", "Analysts"),
        ("engineer", "Data Engineers"),
    ):
        store.create_user(name, "pw", groups=[group])
    config.set_value("auth_mode", "multi")
    return {n: store.get_user(n) for n in ("viewer", "analyst", "engineer", "admin")}


HOSTILE = 'x"; DROP TABLE t; --'
UNICODE = "Zürich 🐘 таблица"
