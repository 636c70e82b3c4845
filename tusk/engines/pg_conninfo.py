"""libpq connection strings for a saved PostgreSQL connection: the engine's, tusk.admin's,
DuckDB's ATTACH and the bulk scanner's read-only sessions (psycopg builds and checks them)."""

from __future__ import annotations

from typing import Any

import psycopg
import psycopg.conninfo

from tusk.engines.base import CONNECT_TIMEOUT_S, check_text
from tusk.engines.pg_errors import scrub
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput


def conninfo(spec: ConnectionSpec) -> str:
    """A libpq connection string (holds the password: never log or show it)."""
    s = spec
    params: dict[str, Any] = {
        "host": s.host or "localhost",
        "port": s.port or 5432,
        "dbname": s.database or "postgres",
        "user": s.user or "postgres",
        "connect_timeout": CONNECT_TIMEOUT_S,
        "application_name": "tusk",
    }
    secret = s.secret()
    if secret:
        params["password"] = secret
    params.update(s.options)
    for key, value in params.items():
        # libpq reads the connection string up to a NUL: "127.0.0.1\x00x" would reach
        # 127.0.0.1 and drop every setting after it. The password is never echoed.
        shown = "The password" if key == "password" else f"The connection setting {key!r}"
        check_text(str(key), "A connection option's name")
        check_text(str(value), shown)
    try:
        return psycopg.conninfo.make_conninfo("", **params)
    except psycopg.ProgrammingError as exc:  # an option libpq does not know
        reason = scrub(str(exc).strip(), secret)
        raise BadInput(
            f"{reason[:1].upper()}{reason[1:]}. A PostgreSQL connection's options are libpq "
            "parameters (sslmode, application_name, options …): correct or remove it.",
            "Bad connection options",
        ) from None


def read_only_conninfo(conninfo: str) -> str:
    """A libpq connection string whose sessions start read-only (the bulk scanner's)."""
    params = psycopg.conninfo.conninfo_to_dict(conninfo)
    options = str(params.get("options") or "")
    params["options"] = (options + " -c default_transaction_read_only=on").strip()
    return psycopg.conninfo.make_conninfo("", **params)
