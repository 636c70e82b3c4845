"""What it takes to open a connection: one small value type shared by every engine."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qsl, unquote, urlsplit

from tusk.errors import BadInput

ENGINE_NAMES = ("postgres", "sqlite", "duckdb", "datafusion", "cluster")


@dataclass(frozen=True)
class ConnectionSpec:
    """A saved connection: engine plus its fields. The password never shows in repr."""

    name: str
    engine: str
    host: str | None = None
    port: int | None = None
    database: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    password_env: str | None = None  # read the password from this environment variable
    path: str | None = None  # SQLite/DuckDB file, DataFusion data folder
    options: dict[str, str] = field(default_factory=dict)  # e.g. sslmode, application_name

    def __post_init__(self) -> None:
        if self.engine not in ENGINE_NAMES:
            raise BadInput(
                f"Unknown engine {self.engine!r}: use one of {', '.join(ENGINE_NAMES)}.",
                "Unknown engine",
            )
        fields = {
            "name": self.name,
            "host": self.host,
            "database": self.database,
            "user": self.user,
            "password": self.password,
            "password_env": self.password_env,
            "path": self.path,
        }
        fields.update({f"option {k!r}": f"{k}={v}" for k, v in self.options.items()})
        for label, text in fields.items():
            try:
                if isinstance(text, str):
                    text.encode("utf-8")
            except UnicodeEncodeError:  # saving or connecting would raise it, raw
                raise BadInput(
                    f"The connection's {label} holds a character with no UTF-8 form (half of "
                    "a surrogate pair): retype it.",
                    "Character cannot be encoded",
                ) from None

    def secret(self) -> str | None:
        """The password to use: the stored one, else the named environment variable."""
        if self.password:
            return self.password
        if self.password_env:
            return os.environ.get(self.password_env)
        return None

    def with_changes(self, **changes: object) -> ConnectionSpec:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]  # fields checked by replace

    def describe(self) -> str:
        """Where this connection points, without any secret (for lists and headers)."""
        if self.engine == "postgres":
            who = f"{self.user}@" if self.user else ""
            return f"{who}{self.host or 'localhost'}:{self.port or 5432}/{self.database or ''}"
        return self.path or ":memory:"


def spec_from_uri(name: str, uri: str) -> ConnectionSpec:
    """Parse a postgresql:// URI into fields, so the password can be stored apart from it."""
    parts = urlsplit(uri.strip())
    if parts.scheme not in ("postgres", "postgresql"):
        raise BadInput(
            "A PostgreSQL URI starts with postgresql:// (for example "
            "postgresql://user@host:5432/dbname).",
            "Not a PostgreSQL URI",
        )
    try:
        port = parts.port
    except ValueError as exc:
        raise BadInput(f"The port in the URI is not a number: {exc}", "Bad port") from None
    return ConnectionSpec(
        name=name,
        engine="postgres",
        host=unquote(parts.hostname) if parts.hostname else None,
        port=port,
        database=unquote(parts.path.lstrip("/")) or None,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        options=dict(parse_qsl(parts.query)),
    )
