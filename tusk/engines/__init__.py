"""Database engines behind one protocol: PostgreSQL, SQLite, DuckDB, DataFusion."""

from tusk.engines.base import Connection, Engine
from tusk.engines.result import QueryResult
from tusk.engines.spec import ConnectionSpec

__all__ = ["Connection", "ConnectionSpec", "Engine", "QueryResult"]
