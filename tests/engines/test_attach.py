"""DuckDB attaches SQLite files and saved PostgreSQL connections READ_ONLY, so one query can
join a Parquet file with a PostgreSQL table; the PostgreSQL password never shows anywhere."""

from __future__ import annotations

import decimal
import logging
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from psycopg import sql as pgsql

from tests.conftest import pg_spec, server_connection
from tusk import config, files
from tusk.engines.duckdb import DuckDBConnection
from tusk.engines.registry import connect
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput, QueryFailed

HOSTILE = 'x"; DROP TABLE t; --'


@pytest.fixture
def duck() -> Iterator[DuckDBConnection]:
    """A DuckDB connection opened without extensions: attaching must load what it needs."""
    conn = connect(ConnectionSpec("a", "duckdb", path=":memory:", options={"extensions": ""}))
    assert isinstance(conn, DuckDBConnection)
    yield conn
    conn.close()


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A SQLite database with one table."""
    path = tmp_path / "shop's.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "create table items (id integer primary key, name text, price real);"
        "insert into items values (1, 'tea', 2.5), (2, 'mug', 7.0);"
    )
    db.commit()
    db.close()
    return path


# --- SQLite ---------------------------------------------------------------------------------


def test_attach_sqlite_under_a_hostile_alias_read_only(duck: DuckDBConnection, shop: Path) -> None:
    duck.attach_sqlite(shop, HOSTILE)
    assert duck.attached() == [HOSTILE]
    got = duck.execute('select name from "x""; DROP TABLE t; --".items order by id').table
    assert got.column(0).to_pylist() == ["tea", "mug"]
    with pytest.raises(QueryFailed, match="(?i)read.only"):
        duck.execute('insert into "x""; DROP TABLE t; --".items values (3, \'pot\', 1)')
    duck.detach(HOSTILE)
    assert duck.attached() == []
    with pytest.raises(BadInput, match="Nothing is attached"):
        duck.detach(HOSTILE)
    db = sqlite3.connect(shop)
    assert db.execute("select count(*) from items").fetchone() == (2,)
    db.close()


def test_attach_sqlite_errors(duck: DuckDBConnection, shop: Path, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="not a file"):
        duck.attach_sqlite(tmp_path / "missing.sqlite", "m")
    with pytest.raises(BadInput, match="alias"):
        duck.attach_sqlite(shop, "  ")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all" * 10)
    with pytest.raises(QueryFailed, match="not a database") as info:
        duck.attach_sqlite(junk, "j")  # fails at once, not at the first query
    assert info.value.title == "Cannot attach j"
    assert duck.attached() == []
    duck.attach_sqlite(shop, "s")
    with pytest.raises(QueryFailed, match="already"):
        duck.attach_sqlite(shop, "s")  # the alias is taken
    assert duck.attached() == ["s"]


# --- PostgreSQL -------------------------------------------------------------------------------


@pytest.fixture
def pg_shop(db: str) -> str:
    """A fresh PostgreSQL database with a customers table."""
    with server_connection(db) as conn:
        conn.execute(
            "create table customers (id int primary key, name text not null, country text);"
            "insert into customers values (1, 'Ada', 'UK'), (2, 'Bea', 'DE'), (3, 'Cy', null);"
        )
    return db


@pytest.fixture
def role(pg_shop: str) -> Iterator[tuple[str, str]]:
    """A login role with a distinctive password (quote, space, backslash, semicolon inside)."""
    name = f"tusk_attach_{uuid.uuid4().hex[:8]}"
    password = f"S3 cr'et\\{uuid.uuid4().hex};x=y"
    with server_connection(pg_shop) as conn:
        conn.execute(
            pgsql.SQL("create role {} login password {}").format(
                pgsql.Identifier(name), pgsql.Literal(password)
            )
        )
        conn.execute(pgsql.SQL("grant select on customers to {}").format(pgsql.Identifier(name)))
    yield name, password
    with server_connection(pg_shop) as conn:
        conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity where usename = %s", (name,)
        )
        conn.execute(pgsql.SQL("drop owned by {}").format(pgsql.Identifier(name)))
        conn.execute(pgsql.SQL("drop role {}").format(pgsql.Identifier(name)))


def _orders(folder: Path) -> Path:
    """A Parquet file of orders referencing customers 1, 2, 2 and 9 (no such customer)."""
    path = folder / "orders.parquet"
    table = pa.table(
        {
            "order_id": pa.array([10, 11, 12, 13], pa.int64()),
            "customer_id": pa.array([1, 2, 2, 9], pa.int32()),
            "amount": pa.array(
                [decimal.Decimal(x) for x in ("10.50", "3.25", "1.00", "99.99")],
                pa.decimal128(10, 2),
            ),
        }
    )
    pq.write_table(table, path)
    return path


@pytest.mark.postgres
def test_federated_join_of_a_parquet_file_and_a_postgres_table(
    duck: DuckDBConnection, pg_shop: str, tmp_path: Path
) -> None:
    """The Parquet file lives in a data root; the customers live in PostgreSQL."""
    lake = tmp_path / "lake"
    lake.mkdir()
    _orders(lake)
    config.set_value("data_roots", str(lake))
    duck.attach_postgres(pg_spec(pg_shop), "crm")
    assert duck.attached() == ["crm"]
    scan = files.scan_sql("lake", "orders.parquet")
    got = duck.execute(
        f"""
        select c.name, count(*) as orders, sum(o.amount) as total
        from {scan} o join crm.public.customers c on c.id = o.customer_id
        group by c.name order by c.name
        """
    ).table.to_pylist()
    assert got == [
        {"name": "Ada", "orders": 1, "total": decimal.Decimal("10.50")},
        {"name": "Bea", "orders": 2, "total": decimal.Decimal("4.25")},
    ]
    with pytest.raises(QueryFailed, match="(?i)read.only"):
        duck.execute("insert into crm.public.customers values (4, 'Di', 'FR')")
    duck.detach("crm")
    assert duck.attached() == []


@pytest.mark.postgres
def test_attached_postgres_keeps_no_readable_password(
    duck: DuckDBConnection, pg_shop: str, role: tuple[str, str], tmp_path: Path
) -> None:
    """Attached with a password: no secret is left to list, and no view of the catalog shows it."""
    user, password = role
    duck.attach_postgres(pg_spec(pg_shop).with_changes(user=user, password=password), "crm")
    assert duck.execute("select count(*) from crm.public.customers").table.column(0)[0].as_py() == 3
    assert duck.execute("select * from duckdb_secrets()").table.num_rows == 0
    everything = " ".join(
        str(duck.execute(f"select * from {f}", limit=None).table.to_pylist())
        for f in ("duckdb_databases()", "duckdb_settings()", "duckdb_secrets()")
    )
    assert password not in everything
    assert user in everything  # the connection string without the password is shown
    with pytest.raises(QueryFailed) as info:  # a later error in a query on the attached db
        duck.execute("select * from postgres_query('crm', 'select 1/0')")
    _assert_no_password(info.value, password)


@pytest.mark.postgres
def test_password_from_the_environment(
    duck: DuckDBConnection, pg_shop: str, role: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    user, password = role
    monkeypatch.setenv("TUSK_TEST_ATTACH_PW", password)
    spec = pg_spec(pg_shop).with_changes(
        user=user, password=None, password_env="TUSK_TEST_ATTACH_PW"
    )
    duck.attach_postgres(spec, "crm")
    assert duck.execute("select count(*) from crm.public.customers").table.column(0)[0].as_py() == 3


def _assert_no_password(exc: BaseException, password: str) -> None:
    """Neither the error nor anything chained to it holds the password (raw or SQL-quoted)."""
    quoted = password.replace("'", "''")
    seen: BaseException | None = exc
    while seen is not None:
        for text in (str(seen), repr(seen), repr(seen.args), getattr(seen, "message", "")):
            assert password not in text and quoted not in text, text
        seen = seen.__cause__ or seen.__context__


@pytest.mark.postgres
@pytest.mark.parametrize("case", ["wrong password", "no such database", "closed port"])
def test_attach_errors_never_contain_the_password(
    pg_shop: str,
    role: tuple[str, str],
    case: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    user, password = role
    spec = pg_spec(pg_shop).with_changes(user=user, password=password)
    if case == "wrong password":
        password = password + "-wrong"
        spec = spec.with_changes(password=password)
        expected = "password authentication failed"
    elif case == "no such database":
        spec = spec.with_changes(database=f"nope_{uuid.uuid4().hex[:6]}")
        expected = "does not exist"
    else:
        spec = spec.with_changes(port=1)
        expected = "(?i)refused|could not connect"
    conn = connect(ConnectionSpec("a", "duckdb", path=":memory:", options={"extensions": ""}))
    assert isinstance(conn, DuckDBConnection)
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(QueryFailed, match=expected) as info:
            conn.attach_postgres(spec, "crm")
        assert info.value.title == "Cannot attach crm"
        _assert_no_password(info.value, password)
        assert conn.attached() == []
        assert conn.execute("select * from duckdb_secrets()").table.num_rows == 0
    finally:
        conn.close()
    assert password not in caplog.text


def test_attach_postgres_needs_a_postgres_spec(duck: DuckDBConnection, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="not PostgreSQL"):
        duck.attach_postgres(ConnectionSpec("s", "sqlite", path=str(tmp_path / "x.db")), "x")
