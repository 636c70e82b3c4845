"""The demo DuckDB database: a small shop with cities (lat/lon), customers, products, orders."""

from __future__ import annotations

from pathlib import Path

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


def create_demo(path: str) -> bool:
    """Create the demo database at `path` unless it already holds the demo; True if created."""
    from tusk.engines.registry import connect
    from tusk.engines.spec import ConnectionSpec

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        conn = connect(ConnectionSpec("demo", "duckdb", path=str(target), options=_PLAIN))
        try:
            have = {t.name for t in conn.catalog().tables}
        finally:
            conn.close()
        if set(DEMO_TABLES) <= have:
            return False
    tmp = target.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    conn = connect(ConnectionSpec("demo", "duckdb", path=str(tmp), options=_PLAIN))
    try:
        conn.execute(_SCHEMA + ";\ncheckpoint", limit=None)
    finally:
        conn.close()
    tmp.replace(target)  # whole or nothing: a half-built demo never appears
    return True


_PLAIN = {"extensions": ""}  # building the demo needs no extensions
