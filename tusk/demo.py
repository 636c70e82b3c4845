"""The demo DuckDB database: a small shop with cities (lat/lon), customers, products, orders."""

from __future__ import annotations

import contextlib
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from tusk import config
from tusk.errors import TuskError

if TYPE_CHECKING:
    from tusk.engines.base import Connection

log = logging.getLogger(__name__)

DEMO_TABLES = ("cities", "customers", "products", "orders", "order_items")

# Deterministic data, built by DuckDB itself (no random seed to manage).
_SCHEMA = """
create table cities (
    id integer primary key,
    name varchar not null,
    country varchar not null,
    lat double not null,
    lon double not null,
    population integer
);
create table customers (
    id integer primary key,
    name varchar not null,
    email varchar not null unique,
    city_id integer not null references cities(id),
    signed_up date not null
);
create table products (
    id integer primary key,
    name varchar not null,
    category varchar not null,
    price decimal(10, 2) not null
);
create table orders (
    id integer primary key,
    customer_id integer not null references customers(id),
    ordered_at timestamp not null,
    status varchar not null
);
create table order_items (
    order_id integer not null references orders(id),
    line integer not null,
    product_id integer not null references products(id),
    quantity integer not null,
    primary key (order_id, line)
);
insert into cities values
    (1, 'Lisbon', 'Portugal', 38.7223, -9.1393, 545000),
    (2, 'Berlin', 'Germany', 52.5200, 13.4050, 3645000),
    (3, 'Paris', 'France', 48.8566, 2.3522, 2161000),
    (4, 'Madrid', 'Spain', 40.4168, -3.7038, 3223000),
    (5, 'Rome', 'Italy', 41.9028, 12.4964, 2873000),
    (6, 'Amsterdam', 'Netherlands', 52.3676, 4.9041, 872000),
    (7, 'Vienna', 'Austria', 48.2082, 16.3738, 1897000),
    (8, 'Warsaw', 'Poland', 52.2297, 21.0122, 1790000),
    (9, 'Stockholm', 'Sweden', 59.3293, 18.0686, 975000),
    (10, 'Dublin', 'Ireland', 53.3498, -6.2603, 555000),
    (11, 'Prague', 'Czechia', 50.0755, 14.4378, 1309000),
    (12, 'Athens', 'Greece', 37.9838, 23.7275, 664000);
insert into customers
select i, 'Customer ' || i, 'customer' || i || '@example.com',
       1 + (hash(i) % 12)::integer, date '2023-01-01' + (hash(i * 7) % 900)::integer
from range(1, 1001) t(i);
insert into products
select i,
       ['Tea', 'Coffee', 'Cocoa', 'Mug', 'Kettle', 'Grinder'][1 + (i % 6)] || ' ' || i,
       ['drinks', 'drinks', 'drinks', 'kitchen', 'kitchen', 'kitchen'][1 + (i % 6)],
       (2 + (hash(i) % 9800) / 100.0)::decimal(10, 2)
from range(1, 61) t(i);
insert into orders
select i, 1 + (hash(i) % 1000)::integer,
       timestamp '2024-01-01' + to_seconds((hash(i * 3) % 31536000)::bigint),
       ['new', 'paid', 'shipped', 'delivered', 'cancelled'][1 + (hash(i * 5) % 5)::integer]
from range(1, 5001) t(i);
insert into order_items
select o.i, l.j, 1 + (hash(o.i * 100 + l.j) % 60)::integer, 1 + (hash(o.i + l.j) % 4)::integer
from range(1, 5001) o(i), range(1, 4) l(j)
where l.j <= 1 + (hash(o.i) % 3);
"""


_STATEMENT = re.compile(r"^(?:create table|insert into) (\w+)")


def _statements() -> dict[str, list[str]]:
    """_SCHEMA's statements grouped by the table they create or fill, in FK order (a table
    after the tables it references)."""
    grouped: dict[str, list[str]] = {t: [] for t in DEMO_TABLES}
    for statement in (s.strip() for s in _SCHEMA.split(";\n")):
        match = _STATEMENT.match(statement)
        if match:
            grouped[match.group(1)].append(statement.rstrip(";"))
    return grouped


def create_demo(path: str) -> bool:
    """Make sure the demo database at `path` holds every demo table; True if any was created.

    A new file is built whole under another name and renamed into place. An existing file is
    never deleted or replaced (users may have written their own tables into it): only the
    demo tables missing from it are created again, in FK order, each with its rows in one
    transaction; one that cannot be (a user's object in the way) is left as it is, and the
    log says so. A lock file makes threads and processes doing this at once take turns.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with config.locked(target):
        if not target.exists():
            _build(target)
            return True
        conn = _open(target)
        try:
            missing = [t for t in DEMO_TABLES if t not in _names(conn)]
            if not missing:
                return False
            return _recreate(conn, missing, target)
        finally:
            conn.close()


def _open(path: Path) -> Connection:
    from tusk.engines.registry import connect
    from tusk.engines.spec import ConnectionSpec

    return connect(ConnectionSpec("demo", "duckdb", path=str(path), options=_PLAIN))


def _names(conn: Connection) -> set[str]:
    """Tables and views in the demo's main schema (a user's view named like a demo table
    counts: it is left alone)."""
    result = conn.execute(
        "select table_name from information_schema.tables "
        "where table_catalog = current_database() and table_schema = 'main'",
        limit=None,
    )
    return {str(v) for v in result.table.column(0).to_pylist()}


def _build(target: Path) -> None:
    """A new demo file: built under another name, then renamed (a half-built demo never
    appears); only ever called while holding the lock, when no file is there."""
    tmp = target.with_suffix(".building")
    tmp.unlink(missing_ok=True)  # left by a build that was killed
    conn = _open(tmp)
    try:
        conn.execute(_SCHEMA + ";\ncheckpoint", limit=None)
    finally:
        conn.close()
    tmp.rename(target)


def _recreate(conn: Connection, missing: list[str], target: Path) -> bool:
    """Create the missing demo tables with their rows; a failure leaves that table out."""
    statements = _statements()
    created = False
    for table in missing:  # DEMO_TABLES order: referenced tables first
        try:
            conn.execute("begin transaction", limit=None)
            for statement in statements[table]:
                conn.execute(statement, limit=None)
            conn.execute("commit", limit=None)
            created = True
        except TuskError as exc:
            # A failed statement may already have ended the transaction.
            with contextlib.suppress(TuskError):
                conn.execute("rollback", limit=None)
            log.warning(
                "The demo table %s could not be created again in %s and is left out: %s",
                table,
                target,
                exc.message,
            )
    if created:
        conn.execute("checkpoint", limit=None)
    return created


_PLAIN = {"extensions": ""}  # building the demo needs no extensions
