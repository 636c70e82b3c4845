"""Names the Admin tests share; the fixtures (make_database, db, db_spec, conn, users) live in
tests/conftest.py so the page tests in tests/ui can use them too."""

from __future__ import annotations

from tests.conftest import HOSTILE, SERVER, UNICODE, server_connection

__all__ = ["HOSTILE", "SERVER", "UNICODE", "server_connection"]
