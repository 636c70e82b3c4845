"""Open one of Tusk's SQLite files in WAL mode and bring its schema up to date."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path


def open_store(path: Path, migrations: Sequence[str]) -> sqlite3.Connection:
    """Connect, switch to WAL and apply migrations past PRAGMA user_version, each atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
    con.execute("pragma journal_mode=wal")
    con.execute("pragma foreign_keys=on")
    version = con.execute("pragma user_version").fetchone()[0]
    for number, script in enumerate(migrations[version:], start=version + 1):
        con.execute("begin immediate")
        try:
            # Another process may have migrated while we waited for the lock.
            if con.execute("pragma user_version").fetchone()[0] >= number:
                con.execute("commit")
                continue
            for statement in script.split(";\n"):
                if statement.strip():
                    con.execute(statement)
            con.execute(f"pragma user_version = {int(number)}")
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    return con
