"""The comparison action: who may run it, what a server that does not answer gives, and what
SQLite and DuckDB catalogs allow."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.conftest import pg_spec, server_connection
from tusk.engines import isolation, pg_schema
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput, ConnectionFailed, PermissionDenied, QueryFailed
from tusk.schemadiff.comparison import compare_schemas


@pytest.fixture
def hung_server() -> Iterator[ConnectionSpec]:
    """A port that accepts TCP connections and never answers (a server hung or firewalled
    after the handshake): only libpq's connect timeout ends the wait."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    yield ConnectionSpec("hung", "postgres", host="127.0.0.1", port=port, user="x", password="y")
    listener.close()


def test_a_server_that_does_not_answer_gives_a_readable_error(hung_server: ConnectionSpec) -> None:
    with pytest.raises(ConnectionFailed) as caught:
        compare_schemas(hung_server, "public", hung_server, "public")
    assert "timeout" in caught.value.message.lower()
    assert "Traceback" not in caught.value.message


@pytest.mark.postgres
def test_a_catalog_read_past_its_statement_timeout_is_a_query_error(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg_schema, "STATEMENT_TIMEOUT", "50ms")
    slow = "select pg_sleep(2)::text, null::text where %(schema)s::text is not null"
    monkeypatch.setattr(pg_schema, "_TABLES", slow)
    spec = pg_spec(db)
    with pytest.raises(QueryFailed) as caught:
        compare_schemas(spec, "public", spec, "public")
    assert "statement timeout" in caught.value.message


@pytest.mark.postgres
def test_a_missing_schema_is_bad_input(db: str) -> None:
    spec = pg_spec(db)
    with pytest.raises(BadInput, match="no schema 'nope'"):
        compare_schemas(spec, "public", spec, "nope")
    with pytest.raises(BadInput, match="NUL"):  # libpq would cut the name at the NUL
        compare_schemas(spec, "public", spec, "public\x00x")


@pytest.mark.postgres
def test_comparing_needs_connections_use(db: str, users: dict[str, Any]) -> None:
    spec = pg_spec(db)
    with pytest.raises(PermissionDenied, match="connections.use"):
        compare_schemas(spec, "public", spec, "public", actor=users["viewer"])
    with pytest.raises(PermissionDenied, match="Sign in"):
        compare_schemas(spec, "public", spec, "public", actor=None)
    result = compare_schemas(spec, "public", spec, "public", actor=users["analyst"])
    assert result.differences == ()


def _sqlite(path: Path, script: str) -> ConnectionSpec:
    with sqlite3.connect(path) as conn:
        conn.executescript(script)
    conn.close()
    return ConnectionSpec(path.stem, "sqlite", path=str(path))


def _duckdb(path: Path, script: str) -> ConnectionSpec:
    with duckdb.connect(str(path)) as conn:
        conn.execute(script)
    return ConnectionSpec(path.stem, "duckdb", path=str(path))


SQLITE_A = '''
create table "Parent ""P""" (id integer primary key, name text not null);
create table child (id integer primary key, parent integer, gone text);
create table old (x text);
create index child_parent on child (parent);
create view v as select id from child;
'''
SQLITE_B = '''
create table "Parent ""P""" (id integer primary key, name text);
create table child (id integer primary key,
                    parent integer references "Parent ""P"""(id), added real default 1.5);
create table fresh (k text, n int, primary key (k, n));
create index child_parent on child (parent, id);
create view "W's" as select 1 as one;
'''


@pytest.mark.parametrize("isolated", [False, True], ids=["in-process", "worker"])
@pytest.mark.parametrize("make", [_sqlite, _duckdb], ids=["sqlite", "duckdb"])
def test_file_engines_compare_tables_keys_indexes_and_views(
    make: Callable[[Path, str], ConnectionSpec], isolated: bool, tmp_path: Path
) -> None:
    isolation.enable(isolated)  # the app reads SQLite and DuckDB in worker processes
    a = make(tmp_path / "a.db", SQLITE_A)
    b = make(tmp_path / "b.db", SQLITE_B)
    result = compare_schemas(a, "main", b, "main")
    # DuckDB names a foreign key itself (child_parent_id_fkey), SQLite leaves it unnamed.
    found = {(d.kind, d.name.split("_")[0], d.change, d.aspect) for d in result.differences}
    assert found == {
        ("table", "fresh", "added", ""),
        ("table", "old", "removed", ""),
        ("column", 'Parent "P".name', "changed", "nullability"),
        ("column", "child.added", "added", ""),
        ("column", "child.gone", "removed", ""),
        ("foreign key", "child.child", "added", ""),
        ("index", "child", "changed", ""),
        ("view", "v", "removed", ""),
        ("view", "W's", "added", ""),
    }
    assert result.note is not None and "as their CREATE statements" in result.note
    text = result.migration.text()
    assert 'FOREIGN KEY (parent) REFERENCES "Parent ""P"""(id)' in text
    assert "CONSTRAINT fresh_pkey PRIMARY KEY (k, n)" in text
    assert "DROP VIEW main.v;" in text
    assert "DROP INDEX main.child_parent;" in text
    assert text.index("DROP INDEX main.child_parent;") < text.index("DROP COLUMN gone")
    made = text.lower().index("create index child_parent on child")
    assert made > text.index("ADD COLUMN added")
    assert compare_schemas(b, "main", b, "main").differences == ()


@pytest.mark.postgres
def test_postgres_against_sqlite_compares_what_both_catalogs_hold(db: str, tmp_path: Path) -> None:
    with server_connection(db) as conn:
        conn.execute("create table t (id integer primary key, n text check (n <> ''))")
        conn.execute("create index t_n on t (n)")
    lite = _sqlite(tmp_path / "l.db", "create table t (id integer primary key, n text)")
    result = compare_schemas(pg_spec(db), "public", lite, "main")
    assert {(d.kind, d.aspect) for d in result.differences} == {("column", "type")}
    assert result.note is not None and "indexes and views need one engine" in result.note
