"""Databases attached to DuckDB show in its catalog (so in the schema browser and autocomplete)
as `Table.database` = the alias, and the SQL Tusk writes for them runs."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import pg_spec, server_connection
from tusk.catalog import Catalog, ForeignKey, Table
from tusk.completion import completions
from tusk.engines.duckdb import DuckDBConnection
from tusk.engines.registry import connect
from tusk.engines.spec import ConnectionSpec
from tusk.ui.studio.schema_browser import select_sql

HOSTILE_TABLE = 'x"; drop table y; --'
HOSTILE_ALIAS = 'a.b"; DROP TABLE t; --'


@pytest.fixture
def duck() -> Iterator[DuckDBConnection]:
    """An in-memory DuckDB with its own main.orders and a schema literally named "shop.main"."""
    conn = connect(ConnectionSpec("d", "duckdb", path=":memory:", options={"extensions": ""}))
    assert isinstance(conn, DuckDBConnection)
    conn.execute(
        "create table orders (order_no int primary key, note text);"
        "insert into orders values (7, 'own');"
        'create schema "shop.main";'
        'create table "shop.main".orders (dotted int);'
        'insert into "shop.main".orders values (42);'
    )
    yield conn
    conn.close()


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A SQLite file: customers ← orders (PK and FK), a hostile-named table and a view."""
    path = tmp_path / "shop.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        f"""
        create table customers (id integer primary key, name text not null);
        create table orders (
            id integer primary key,
            customer_id integer not null references customers(id),
            total real
        );
        create table "{HOSTILE_TABLE.replace('"', '""')}" (a integer primary key, b text);
        create view big_orders as select * from orders where total > 5;
        insert into customers values (1, 'Ada'), (2, 'Bea');
        insert into orders values (10, 1, 2.5), (11, 2, 9.0);
        insert into "{HOSTILE_TABLE.replace('"', '""')}" values (1, 'boo');
        """
    )
    db.commit()
    db.close()
    return path


def _attached(catalog: Catalog, database: str) -> dict[str, Table]:
    """An attached database's tables by name."""
    return {t.name: t for t in catalog.tables if t.database == database}


def _runs(duck: DuckDBConnection, sql: str) -> list[dict]:
    """Rows of `sql` run on the connection."""
    return duck.execute(sql).table.to_pylist()


# --- SQLite -----------------------------------------------------------------------------------


def test_attached_sqlite_tables_show_under_their_alias(duck: DuckDBConnection, shop: Path) -> None:
    own_before = duck.catalog()
    duck.attach_sqlite(shop, "shop")
    catalog = duck.catalog()

    # The own database is exactly as before, and listed first.
    own = tuple(t for t in catalog.tables if t.database is None)
    assert own == own_before.tables
    assert catalog.tables[: len(own)] == own
    assert catalog.schemas() == ["main", "shop.main"]  # the own database's schemas only
    assert catalog.databases() == ["shop"]
    assert (None, "shop.main") in catalog.namespaces()
    assert ("shop", "main") in catalog.namespaces()

    tables = _attached(catalog, "shop")
    assert set(tables) == {"customers", "orders", HOSTILE_TABLE, "big_orders"}
    assert {t.schema for t in tables.values()} == {"main"}
    orders = catalog.table("orders", "main", database="shop")
    assert orders is tables["orders"]
    assert [c.name for c in orders.columns] == ["id", "customer_id", "total"]
    assert orders.qualified_name == "shop.main.orders"
    assert orders.kind == "table"
    assert orders.row_estimate is None  # sqlite_scanner says 10000 for every table: not shown
    # sqlite_scanner reports primary keys and NOT NULL, but not SQLite's foreign keys.
    assert orders.primary_key == ("id",)
    assert orders.column("id").primary_key
    assert not orders.column("customer_id").nullable
    assert orders.foreign_keys == ()
    assert tables["customers"].primary_key == ("id",)
    assert tables[HOSTILE_TABLE].primary_key == ("a",)
    assert tables["big_orders"].kind == "view"

    # The own tables keep their own names: no attached table leaks in.
    assert catalog.table("orders").database is None
    assert [c.name for c in catalog.table("orders", "main").columns] == ["order_no", "note"]
    with pytest.raises(KeyError):
        catalog.table("customers")


def test_select_sql_of_every_table_runs_attached_or_not(duck: DuckDBConnection, shop: Path) -> None:
    duck.attach_sqlite(shop, "shop")
    catalog = duck.catalog()
    for table in catalog.tables:
        _runs(duck, select_sql(table, "main"))  # raises QueryFailed if the name is wrong

    hostile = catalog.table(HOSTILE_TABLE, "main", database="shop")
    sql = select_sql(hostile, "main")
    assert sql == 'SELECT * FROM shop.main."x""; drop table y; --" LIMIT 100'
    assert _runs(duck, sql) == [{"a": 1, "b": "boo"}]
    orders = catalog.table("orders", "main", database="shop")
    assert select_sql(orders, "main") == "SELECT * FROM shop.main.orders LIMIT 100"
    assert [r["id"] for r in _runs(duck, select_sql(orders, "main"))] == [10, 11]
    view = catalog.table("big_orders", "main", database="shop")
    assert [r["id"] for r in _runs(duck, select_sql(view, "main"))] == [11]
    # A schema whose name has a dot is one name, not database.schema.
    dotted = catalog.table("orders", "shop.main")
    assert select_sql(dotted, "main") == 'SELECT * FROM "shop.main".orders LIMIT 100'
    assert _runs(duck, select_sql(dotted, "main")) == [{"dotted": 42}]
    own = catalog.table("orders", "main")
    assert _runs(duck, select_sql(own, "main")) == [{"order_no": 7, "note": "own"}]


def test_hostile_and_reserved_aliases_are_quoted_part_by_part(
    duck: DuckDBConnection, shop: Path
) -> None:
    duck.attach_sqlite(shop, HOSTILE_ALIAS)
    duck.attach_sqlite(shop, "order")  # a reserved word
    catalog = duck.catalog()
    assert catalog.databases() == [HOSTILE_ALIAS, "order"]  # sorted by name
    for alias in (HOSTILE_ALIAS, "order"):
        tables = _attached(catalog, alias)
        assert set(tables) == {"customers", "orders", HOSTILE_TABLE, "big_orders"}
        for table in tables.values():
            _runs(duck, select_sql(table, "main"))
    orders = catalog.table("orders", "main", database=HOSTILE_ALIAS)
    assert select_sql(orders, "main") == (
        'SELECT * FROM "a.b""; DROP TABLE t; --".main.orders LIMIT 100'
    )
    assert select_sql(catalog.table("orders", "main", database="order"), "main") == (
        'SELECT * FROM "order".main.orders LIMIT 100'
    )


def test_completion_offers_attached_tables_as_runnable_names(
    duck: DuckDBConnection, shop: Path
) -> None:
    duck.attach_sqlite(shop, "shop")
    duck.attach_sqlite(shop, HOSTILE_ALIAS)
    catalog = duck.catalog()
    entries = completions(catalog, "", "duckdb")
    by_value = {e["value"]: e for e in entries}
    assert by_value["shop.main.orders"]["caption"] == "shop.main.orders"
    assert by_value["shop.main.orders"]["meta"] == "table"
    assert by_value["shop.main.big_orders"]["meta"] == "view"
    assert 'shop.main."x""; drop table y; --"' in by_value
    assert '"a.b""; DROP TABLE t; --".main.customers' in by_value
    assert by_value["shop"]["meta"] == "database"
    assert by_value["shop.main"]["meta"] == "schema"
    assert by_value['"shop.main"']["meta"] == "schema"  # the own schema with a dot
    assert "customers" in by_value  # the bare name, for after a typed `shop.main.`
    # Every qualified table name offered is valid SQL naming that table.
    qualified = [
        e["value"] for e in entries if e["meta"] in ("table", "view") and "." in e["value"]
    ]
    assert len(qualified) == 2 * 4 + 1  # two attachments of four, and "shop.main".orders
    for value in qualified:
        _runs(duck, f"select * from {value} limit 1")


def test_completion_offers_the_columns_of_the_attached_table_the_query_names(
    duck: DuckDBConnection, shop: Path
) -> None:
    duck.attach_sqlite(shop, "shop")
    catalog = duck.catalog()

    def columns(sql: str) -> set[str]:
        return {e["value"] for e in completions(catalog, sql, "duckdb") if e["score"] == 900}

    attached = {"id", "customer_id", "total"}
    assert columns("select  from shop.main.orders") == attached  # parsed by sqlglot
    assert columns("select o. from shop.main.orders o where") == attached  # token scan
    assert columns("select  from shop.orders") == attached  # DuckDB's catalog.table
    assert columns("select  from orders") == {"order_no", "note"}  # the own one wins
    assert columns("select  from main.orders") == {"order_no", "note"}
    assert columns('select  from "shop.main".orders') == {"dotted"}
    assert columns("select  from memory.main.orders") == {"order_no", "note"}
    assert columns("select  from customers") == {"id", "name"}  # only attached: still a hint


def test_detached_databases_leave_the_catalog(duck: DuckDBConnection, shop: Path) -> None:
    duck.attach_sqlite(shop, "shop")
    assert _attached(duck.catalog(), "shop")
    duck.detach("shop")
    assert duck.catalog().databases() == []


def test_attached_duckdb_files_report_foreign_keys_and_sizes(
    duck: DuckDBConnection, tmp_path: Path
) -> None:
    """A DuckDB file attached with plain SQL: its FKs and row estimates come through."""
    path = str(tmp_path / "other.duckdb").replace("'", "''")
    duck.execute(f"attach '{path}' as other")
    duck.execute(
        "use other;"
        "create table parent (id int primary key);"
        "create table child (id int primary key, parent_id int references parent(id));"
        "insert into parent values (1), (2);"
        "use memory"
    )
    catalog = duck.catalog()
    child = catalog.table("child", "main", database="other")
    assert child.foreign_keys == (
        ForeignKey(("parent_id",), "main", "parent", ("id",), "child_parent_id_id_fkey", "other"),
    )
    assert catalog.table("parent", "main", database="other").row_estimate == 2
    assert _runs(duck, select_sql(child, "main")) == []


# --- PostgreSQL -------------------------------------------------------------------------------


@pytest.fixture
def pg_shop(db: str) -> str:
    """A fresh PostgreSQL database: two schemas, a PK/FK pair and an oddly named table."""
    with server_connection(db) as conn:
        conn.execute(
            """
            create schema sales;
            create table public.customers (id int primary key, name text not null);
            create table sales.orders (
                id int primary key,
                customer_id int not null references public.customers(id),
                total numeric(10, 2)
            );
            create table public."Odd Name" (id int primary key, "x""y" text);
            create view sales.big as select * from sales.orders where total > 5;
            insert into public.customers values (1, 'Ada'), (2, 'Bea');
            insert into sales.orders values (10, 1, 2.50), (11, 2, 9.00);
            insert into public."Odd Name" values (1, 'odd');
            """
        )
    return db


@pytest.mark.postgres
def test_attached_postgres_tables_show_under_their_alias(
    duck: DuckDBConnection, pg_shop: str
) -> None:
    own_before = duck.catalog()
    duck.attach_postgres(pg_spec(pg_shop), "pg")
    catalog = duck.catalog()
    assert tuple(t for t in catalog.tables if t.database is None) == own_before.tables

    tables = {(t.schema, t.name): t for t in catalog.tables if t.database == "pg"}
    # The server's own pg_catalog and information_schema stay out.
    assert set(tables) == {
        ("public", "customers"),
        ("public", "Odd Name"),
        ("sales", "orders"),
        ("sales", "big"),  # the PostgreSQL scanner lists a view as a table
    }
    assert ("pg", "public") in catalog.namespaces()
    orders = tables[("sales", "orders")]
    assert [c.name for c in orders.columns] == ["id", "customer_id", "total"]
    assert orders.column("total").type == "DECIMAL(10,2)"
    assert orders.primary_key == ("id",)
    assert not orders.column("customer_id").nullable
    assert orders.row_estimate is None  # the scanner says 0 for every table: not shown

    odd = tables[("public", "Odd Name")]
    assert [c.name for c in odd.columns] == ["id", 'x"y']
    sql = select_sql(odd, "main")
    assert sql == 'SELECT * FROM pg.public."Odd Name" LIMIT 100'
    assert _runs(duck, sql) == [{"id": 1, 'x"y': "odd"}]
    for table in tables.values():
        assert _runs(duck, select_sql(table, "main")), table

    by_value = {e["value"]: e for e in completions(catalog, "", "duckdb")}
    assert 'pg.public."Odd Name"' in by_value
    assert by_value["pg.sales.orders"]["caption"] == "pg.sales.orders"
    columns = completions(catalog, "select  from pg.sales.orders o", "duckdb")
    assert {e["value"] for e in columns if e["score"] == 1000} == {
        "o.id",
        "o.customer_id",
        "o.total",
    }


@pytest.mark.postgres
def test_refreshing_shows_tables_created_on_the_server_after_attach(
    duck: DuckDBConnection, pg_shop: str
) -> None:
    """The scanner caches a server's catalog at ATTACH: catalog() (F5) reads it afresh."""
    duck.attach_postgres(pg_spec(pg_shop), "pg")
    assert ("public", "late") not in {(t.schema, t.name) for t in duck.catalog().tables}
    with server_connection(pg_shop) as server:
        server.execute("create table public.late (id int)")
    names = {(t.database, t.schema, t.name) for t in duck.catalog().tables}
    assert ("pg", "public", "late") in names
    assert _runs(duck, "select count(*) as n from pg.public.late") == [{"n": 0}]
