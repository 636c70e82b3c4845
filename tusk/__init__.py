"""Tusk: SQL studio, PostgreSQL admin, DuckDB analytics and Polars pipelines."""

__version__ = "0.1.0"
