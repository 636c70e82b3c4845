"""The history store: record, search, clear, migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tusk.store import history


def test_record_and_search(tusk_home: Path) -> None:
    """Entries come back newest first and match on any part of the statement."""
    history.record("demo", "duckdb", "select 1", duration_s=0.01, row_count=1)
    history.record("pg", "postgres", "select * from orders", duration_s=0.2, row_count=10)
    history.record("pg", "postgres", "selec 1", error="syntax error")
    everything = history.search()
    assert [e.statement for e in everything] == ["selec 1", "select * from orders", "select 1"]
    assert [e.statement for e in history.search("ORDERS")] == ["select * from orders"]
    assert [e.statement for e in history.search(connection="demo")] == ["select 1"]
    failed = history.search(errors_only=True)
    assert len(failed) == 1 and failed[0].error == "syntax error" and not failed[0].ok


def test_like_wildcards_are_literal(tusk_home: Path) -> None:
    """Searching for % or _ finds those characters, not everything."""
    history.record("demo", "duckdb", "select 100 % 7")
    history.record("demo", "duckdb", "select 1")
    assert [e.statement for e in history.search("%")] == ["select 100 % 7"]


def test_clear_one_connection_or_all(tusk_home: Path) -> None:
    """clear() removes one connection's entries, or everything."""
    history.record("a", "duckdb", "select 1")
    history.record("b", "duckdb", "select 2")
    assert history.clear("a") == 1
    assert [e.connection for e in history.search()] == ["b"]
    assert history.clear() == 1
    assert history.search() == []


def test_store_is_wal_and_versioned(tusk_home: Path) -> None:
    """history.db uses WAL and records its schema version."""
    history.record("a", "duckdb", "select 1")
    con = sqlite3.connect(tusk_home / "history.db")
    assert con.execute("pragma journal_mode").fetchone()[0] == "wal"
    assert con.execute("pragma user_version").fetchone()[0] == len(history.MIGRATIONS)
    con.close()


def test_users_history_is_kept_apart(tusk_home: Path) -> None:
    """In multi-user mode each user searches and clears only their own statements."""
    history.record("demo", "duckdb", "select 'ann'", username="ann")
    history.record("demo", "duckdb", "select 'bob'", username="bob")
    assert [e.statement for e in history.search(username="ann")] == ["select 'ann'"]
    assert history.clear(username="bob") == 1
    assert [e.statement for e in history.search()] == ["select 'ann'"]


def test_version_one_file_is_migrated(tusk_home: Path) -> None:
    """A history.db from the first schema gains the username column and keeps its rows."""
    tusk_home.mkdir(parents=True, exist_ok=True)
    old = sqlite3.connect(tusk_home / "history.db")
    old.executescript(history.MIGRATIONS[0] + ";\npragma user_version = 1;")
    old.execute(
        "insert into history (ts, connection, engine, statement) values "
        "('2026-01-01T00:00:00+00:00', 'demo', 'duckdb', 'select 1')"
    )
    old.commit()
    old.close()
    assert [e.statement for e in history.search()] == ["select 1"]
    history.record("demo", "duckdb", "select 2", username="ann")
    assert [e.statement for e in history.search(username="ann")] == ["select 2"]
