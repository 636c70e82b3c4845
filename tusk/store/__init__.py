"""Tusk's own SQLite stores (history, saved queries) with schema migrations."""
