"""Schema page → Compare, driven like a user: pick A and B, compare, filter, open the DDL in a
Studio tab (which runs nothing), and the errors and refusals on the way."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest
from psycopg import sql
from streamlit.testing.v1 import AppTest

from tests.conftest import pg_spec, server_connection
from tests.ui.conftest import open_app, sign_in
from tusk import connections
from tusk.engines.spec import ConnectionSpec
from tusk.ui.schema import compare as view
from tusk.ui.schema import page

SCHEMA = "pages/8_Schema.py"
A_SCRIPT = """
create table "Order ""Items"" 2" (id integer primary key, qty integer, gone text);
create table old (x text);
insert into old values ('keep me');
"""
B_SCRIPT = """
create table "Order ""Items"" 2" (id integer primary key, qty bigint not null, added text);
create table fresh (id integer primary key);
"""


def _build(database: str, script: str) -> None:
    with server_connection(database) as conn:
        conn.execute(sql.SQL("create schema {}").format(sql.Identifier("Shop 1")))
        conn.execute('set search_path to "Shop 1"')
        conn.execute(script.encode())


@pytest.fixture
def two(make_database: Callable[[], str]) -> tuple[str, str]:
    """Two saved PostgreSQL connections, "pg a" and "pg b", each with schema "Shop 1"."""
    a, b = make_database(), make_database()
    _build(a, A_SCRIPT)
    _build(b, B_SCRIPT)
    connections.add(pg_spec(a, name="pg a"))
    connections.add(pg_spec(b, name="pg b"))
    return a, b


def open_compare(user: str | None = None) -> AppTest:
    """The Schema page on its Compare tab (chosen before the first run, as a click does)."""
    at = open_app()
    if user is not None:
        sign_in(at, user)
    at.session_state[page.TAB_KEY] = page.TABS[1]
    at.switch_page(SCHEMA).run()
    assert not at.exception
    return at


def pick(at: AppTest, side: str, connection: str, schema: str) -> AppTest:
    at.selectbox(key=f"{view.P}{side}").set_value(connection).run()
    at.selectbox(key=f"{view.P}{side}_schema").set_value(schema).run()
    assert not at.exception
    return at


def compared(at: AppTest) -> AppTest:
    pick(at, "a", "pg a", "Shop 1")
    pick(at, "b", "pg b", "Shop 1")
    at.button(key=f"{view.P}run").click().run()
    assert not at.exception
    return at


@pytest.mark.postgres
def test_differences_side_by_side_and_the_ddl_with_its_warnings(two: tuple[str, str]) -> None:
    at = compared(open_compare())
    frame = at.dataframe[0].value
    assert list(frame.columns) == ["Change", "Kind", "Object", "A", "B"]
    assert set(frame["Object"]) >= {"fresh", "old", 'Order "Items" 2.qty', 'Order "Items" 2.gone'}
    assert "🔴 removed" in set(frame["Change"]) and "🟢 added" in set(frame["Change"])
    ddl = at.code[0].value
    assert 'ALTER TABLE "Shop 1"."Order ""Items"" 2" ADD COLUMN added text;' in ddl
    assert "-- WARNING: drops the table and every row in it" in ddl
    assert any("can lose data" in w.value for w in at.warning)

    # A filter narrows the table without reading the schemas again.
    kept = at.session_state[view.RESULT_KEY]
    at.multiselect(key=f"{view.P}kinds").set_value(["table"]).run()
    assert set(at.dataframe[0].value["Kind"]) == {"table"}
    at.multiselect(key=f"{view.P}changes").set_value(["added"]).run()
    assert list(at.dataframe[0].value["Object"]) == ["fresh"]
    assert at.session_state[view.RESULT_KEY] is kept


@pytest.mark.postgres
def test_open_in_a_query_tab_runs_nothing(two: tuple[str, str]) -> None:
    a, _ = two
    at = compared(open_compare())
    ddl = at.code[0].value
    at.button(key=f"{view.P}open").click().run()
    assert not at.exception
    tabs = at.session_state["studio_tabs"]
    opened = tabs[-1]
    assert opened.sql.strip() == ddl.strip()  # st.code drops the last newline
    assert opened.connection == "pg a"
    assert opened.title == "Migrate Shop 1"
    with server_connection(a) as conn:  # the old table and its row are still there
        assert conn.execute('select x from "Shop 1".old').fetchall() == [("keep me",)]


@pytest.fixture
def hung_port() -> Iterator[int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield listener.getsockname()[1]
    listener.close()


def test_a_server_that_does_not_answer_shows_an_error(hung_port: int) -> None:
    connections.add(
        ConnectionSpec("hung", "postgres", host="127.0.0.1", port=hung_port, user="u", password="p")
    )
    at = open_compare()
    at.selectbox(key=f"{view.P}a").set_value("hung").run()
    assert not at.exception
    assert any("timeout" in e.value.lower() for e in at.error)
    assert at.button(key=f"{view.P}run").disabled


@pytest.mark.postgres
def test_the_compare_error_keeps_the_last_result(two: tuple[str, str]) -> None:
    _, b = two
    at = compared(open_compare())
    with server_connection(b) as conn:  # B's schema goes while the page still lists it
        conn.execute('drop schema "Shop 1" cascade')
    at.button(key=f"{view.P}run").click().run()
    assert not at.exception
    assert any("no schema" in e.value for e in at.error)
    assert at.dataframe  # the previous comparison is still shown


def test_without_connections_use_there_is_no_compare(multi_user: Callable[..., None]) -> None:
    multi_user({"guest": "Viewers"})
    at = open_app()
    sign_in(at, "guest")
    at.session_state[page.TAB_KEY] = page.TABS[1]
    at.switch_page(SCHEMA).run()
    assert not at.exception
    assert not [b for b in at.button if b.key == f"{view.P}run"]
