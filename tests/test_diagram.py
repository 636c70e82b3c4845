"""ER diagrams (tusk.diagram) from real SQLite, DuckDB, DataFusion and PostgreSQL catalogs:
edges for composite keys, self-references, two keys to one table, cross-schema and attached
databases; neighbourhoods per hops; the overview's refusal; hostile names escaped in DOT,
Mermaid and the laid-out SVG."""

from __future__ import annotations

import re
import sqlite3
import stat
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import pg_spec, server_connection
from tusk import diagram as er
from tusk.catalog import Catalog, Column, ForeignKey, Table
from tusk.engines.registry import connect
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput, TuskError

HOSTILE = 'x"; drop table y; --'
TAG = "<b>"
AMP = "a & b"
NEWLINE = "two\nlines"


def q(name: str) -> str:
    """A double-quoted SQL identifier (for the test's own setup scripts)."""
    return '"' + name.replace('"', '""') + '"'


# customers ← orders ← order_lines ← shipments (composite key), orders → addresses twice,
# employees → employees, a hostile-named table → customers, a view.
SHOP = f"""
create table customers (id integer primary key, name text not null);
create table addresses (id integer primary key, customer_id integer references customers(id));
create table orders (
    id integer primary key,
    customer_id integer not null references customers(id),
    billing_address_id integer references addresses(id),
    shipping_address_id integer references addresses(id)
);
create table order_lines (
    order_id integer not null references orders(id),
    line_no integer not null,
    qty integer,
    primary key (order_id, line_no)
);
create table shipments (
    id integer primary key,
    order_id integer,
    line_no integer,
    foreign key (order_id, line_no) references order_lines(order_id, line_no)
);
create table employees (id integer primary key, manager_id integer references employees(id));
create table {q(HOSTILE)} (
    {q(TAG)} integer primary key,
    {q(AMP)} text,
    {q(NEWLINE)} text,
    customer_id integer references customers(id)
);
create view big_orders as select * from orders where id > 5;
"""


def ids(picture: er.Diagram) -> set[str]:
    """The drawn tables' names (the tests' tables are all in one schema)."""
    return {tid[2] for tid in picture.ids()}


def edge_labels(picture: er.Diagram) -> set[tuple[str, str, str]]:
    """(source name, target name, label) of every edge."""
    return {(e.source[2], e.target[2], e.label) for e in picture.edges}


@pytest.fixture
def sqlite_catalog(tmp_path: Path) -> Catalog:
    """The shop schema in a real SQLite file, read through Tusk's engine."""
    path = tmp_path / "shop.sqlite"
    db = sqlite3.connect(path)
    db.executescript(SHOP)
    db.close()
    conn = connect(ConnectionSpec("shop", "sqlite", path=str(path)))
    try:
        return conn.catalog()
    finally:
        conn.close()


@pytest.fixture
def duck(tmp_path: Path) -> Iterator:
    """An in-memory DuckDB with customers ← orders (two keys) ← lines, and an attached DuckDB
    file with its own `customers` ← `invoices`."""
    other = tmp_path / "other.duckdb"
    conn = connect(ConnectionSpec("d", "duckdb", path=":memory:", options={"extensions": ""}))
    conn.execute(
        "create table customers (id integer primary key, name text);"
        "create table orders (id integer primary key, customer_id integer references customers(id),"
        " billing integer references customers(id));"
        "create table lines (order_id integer, line_no integer, primary key (order_id, line_no),"
        " foreign key (order_id) references orders(id));"
        f"attach '{other}' as other;"
        "create table other.main.customers (id integer primary key);"
        # DuckDB refuses a qualified name in REFERENCES: the key is made from inside `other`.
        "use other;"
        "create table invoices (id integer primary key,"
        " customer_id integer references customers(id));"
        "use memory;"
    )
    yield conn
    conn.close()


# --- edges and neighbourhoods ---------------------------------------------------------------


def test_sqlite_edges_one_per_key(sqlite_catalog: Catalog) -> None:
    labels = edge_labels(er.overview(sqlite_catalog))
    assert ("orders", "addresses", "billing_address_id → id") in labels
    assert ("orders", "addresses", "shipping_address_id → id") in labels  # both keys drawn
    assert ("employees", "employees", "manager_id → id") in labels  # self-reference
    # The composite key is one edge labelled with both columns.
    assert ("shipments", "order_lines", "order_id, line_no") in labels
    assert len([e for e in er.edges(sqlite_catalog) if e.source[2] == "shipments"]) == 1
    assert (HOSTILE, "customers", "customer_id → id") in labels


def test_neighbourhood_grows_with_hops_in_both_directions(sqlite_catalog: Catalog) -> None:
    focus = (None, "main", "customers")
    one = er.neighbourhood(sqlite_catalog, focus, 1)
    assert ids(one) == {"customers", "addresses", "orders", HOSTILE}
    assert one.focus == focus and one.tables[0].name == "customers"
    two = er.neighbourhood(sqlite_catalog, focus, 2)
    assert ids(two) == ids(one) | {"order_lines"}
    three = er.neighbourhood(sqlite_catalog, focus, 3)
    assert ids(three) == ids(two) | {"shipments"}
    assert three.distance[(None, "main", "shipments")] == 3
    # Edges only among drawn tables; the view and employees are never reached.
    assert "employees" not in ids(three) and "big_orders" not in ids(three)
    assert all(e.source in three.distance and e.target in three.distance for e in three.edges)
    # From the other end, keys are followed backwards too.
    back = er.neighbourhood(sqlite_catalog, (None, "main", "shipments"), 2)
    assert ids(back) == {"shipments", "order_lines", "orders"}


def test_self_reference_is_its_own_neighbourhood(sqlite_catalog: Catalog) -> None:
    picture = er.neighbourhood(sqlite_catalog, (None, "main", "employees"), 3)
    assert ids(picture) == {"employees"}
    assert edge_labels(picture) == {("employees", "employees", "manager_id → id")}


def test_focused_view_is_capped_and_says_how_many_are_left_out(sqlite_catalog: Catalog) -> None:
    picture = er.neighbourhood(sqlite_catalog, (None, "main", "customers"), 3, limit=3)
    assert len(picture.tables) == 3
    assert picture.tables[0].name == "customers"  # the focus always, then the nearest
    assert all(picture.distance[tid] <= 1 for tid in picture.ids())
    assert picture.left_out == 6 - 3


def test_bad_hops_and_unknown_tables_are_bad_input(sqlite_catalog: Catalog) -> None:
    for hops in (0, 4, -1):
        with pytest.raises(BadInput, match="Hops must be 1 to 3"):
            er.neighbourhood(sqlite_catalog, (None, "main", "customers"), hops)
    with pytest.raises(BadInput, match="no table main.nope"):
        er.neighbourhood(sqlite_catalog, (None, "main", "nope"), 1)


def test_filters_by_schema_and_name(sqlite_catalog: Catalog) -> None:
    assert {t.name for t in er.filter_tables(sqlite_catalog, name="ORDER")} == {
        "orders",
        "order_lines",
        "big_orders",
    }
    assert er.filter_tables(sqlite_catalog, "elsewhere") == []
    assert len(er.filter_tables(sqlite_catalog, "main")) == len(sqlite_catalog.tables)
    picture = er.overview(sqlite_catalog, name="order")
    # Only keys among the filtered tables are drawn.
    assert edge_labels(picture) == {("order_lines", "orders", "order_id → id")}


def test_overview_refuses_above_the_limit_with_a_pointer_to_the_focused_view(
    sqlite_catalog: Catalog,
) -> None:
    with pytest.raises(BadInput, match="focused view") as refused:
        er.overview(sqlite_catalog, limit=3)
    assert "8 tables" in refused.value.message
    assert len(er.overview(sqlite_catalog, limit=8).tables) == 8


def test_a_huge_schema_is_refused_without_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_layout(*args: object, **kwargs: object) -> str:
        raise AssertionError("laid out")

    monkeypatch.setattr(er, "to_svg", no_layout)
    monkeypatch.setattr(er, "to_dot", no_layout)
    tables = tuple(
        Table(
            "public",
            f"t{i}",
            columns=(Column("id", "int", primary_key=True), Column("ref", "int")),
            primary_key=("id",),
            foreign_keys=(ForeignKey(("ref",), "public", "t0", ("id",)),),
        )
        for i in range(3000)
    )
    with pytest.raises(BadInput, match="3,000 tables"):
        er.overview(Catalog(tables))
    # Every table references the hub: its focused view stops at the cap and counts the rest.
    picture = er.neighbourhood(Catalog(tables), (None, "public", "t0"), 1)
    assert len(picture.tables) == er.FOCUS_LIMIT
    assert picture.left_out == 3000 - er.FOCUS_LIMIT


def test_duckdb_attached_database_keeps_its_own_identity(duck: object) -> None:
    catalog = duck.catalog()  # type: ignore[attr-defined]
    own = (None, "main", "customers")
    attached = ("other", "main", "customers")
    assert own in {er.table_id(t) for t in catalog.tables}
    assert attached in {er.table_id(t) for t in catalog.tables}
    labels = {(e.source, e.target, e.label) for e in er.edges(catalog)}
    assert (("other", "main", "invoices"), attached, "customer_id → id") in labels
    assert ((None, "main", "orders"), own, "billing → id") in labels
    # Neighbourhoods never cross from the own customers into the attached one.
    assert set(er.neighbourhood(catalog, own, 3).ids()) == {
        own,
        (None, "main", "orders"),
        (None, "main", "lines"),
    }
    assert set(er.neighbourhood(catalog, attached, 1).ids()) == {
        attached,
        ("other", "main", "invoices"),
    }
    dot = er.to_dot(er.neighbourhood(catalog, attached, 1))
    assert "other.main.customers" in dot
    assert "other.main.invoices" in er.to_svg(dot)


def test_datafusion_tables_draw_without_keys() -> None:
    conn = connect(ConnectionSpec("f", "datafusion"))
    try:
        conn.execute("create table items (id int, name varchar)")
        conn.execute("create table sales (item_id int, qty int)")
        catalog = conn.catalog()
    finally:
        conn.close()
    picture = er.overview(catalog)
    assert {t.name for t in picture.tables} >= {"items", "sales"}
    assert picture.edges == ()
    svg = er.to_svg(er.to_dot(picture))
    assert "items" in svg and "sales" in svg
    assert "erDiagram" in er.to_mermaid(picture)


# --- escaping -------------------------------------------------------------------------------


def svg_texts(svg: str) -> list[str]:
    """Every text of a (well-formed) SVG, entities decoded."""
    root = ET.fromstring(er.svg_element(svg))
    return [el.text or "" for el in root.iter("{http://www.w3.org/2000/svg}text")]


SVG_TAGS = {"svg", "g", "title", "polygon", "text", "path", "polyline", "ellipse"}


def svg_tags(svg: str) -> set[str]:
    """The element names of an SVG."""
    return {el.tag.split("}")[-1] for el in ET.fromstring(er.svg_element(svg)).iter()}


def test_hostile_names_render_as_text_in_dot_and_svg(sqlite_catalog: Catalog) -> None:
    picture = er.neighbourhood(sqlite_catalog, (None, "main", HOSTILE), 1)
    dot = er.to_dot(picture)
    # One statement per table and edge: no name opened a new one.
    assert len(re.findall(r"^  t\d+ \[label=<", dot, re.M)) == len(picture.tables)
    assert len(re.findall(r"^  t\d+:\w+ -> t\d+:\w+ \[", dot, re.M)) == len(picture.edges)
    assert HOSTILE not in dot and "x&quot;; drop table y; --" in dot
    assert "&lt;b&gt;" in dot and "a &amp; b" in dot and "two\\nlines" in dot
    svg = er.to_svg(dot)
    texts = svg_texts(svg)
    assert f"main.{HOSTILE}" in texts  # shown exactly as written
    assert TAG in texts and AMP in texts and "two\\nlines" in texts
    assert svg_tags(svg) <= SVG_TAGS  # no name became an element


def test_control_characters_cannot_break_the_xml() -> None:
    weird = "a\x01b\x1fc\u2028d\r"
    table = Table("s", weird, columns=(Column(weird, "int"),))
    svg = er.to_svg(er.to_dot(er.overview(Catalog((table,)))))
    assert "s.a\\x01b\\x1fc\u2028d\\r" in svg_texts(svg)


MERMAID_ENTITY = re.compile(r'^  t\d+\["[^"%\\\n]*"\] \{$')
MERMAID_ATTRIBUTE = re.compile(
    r'^    [A-Za-z_][\w\-\[\]()]* [A-Za-z_][\w\-\[\]()]*( PK| FK| PK, FK)?( "[^"%\\]*")?$'
)
MERMAID_EDGE = re.compile(r'^  t\d+ \}o--\|\| t\d+ : "[^"%\\]*"$')


def test_mermaid_is_sanitized_and_quoted(sqlite_catalog: Catalog) -> None:
    text = er.to_mermaid(er.overview(sqlite_catalog))
    lines = text.splitlines()
    assert lines[0] == "erDiagram"
    for line in lines[1:]:
        assert (
            MERMAID_ENTITY.match(line)
            or MERMAID_ATTRIBUTE.match(line)
            or MERMAID_EDGE.match(line)
            or line == "  }"
        ), line
    assert any(line.endswith('["main.x＂; drop table y; --"] {') for line in lines)
    assert '    integer _b_ PK "＜b＞"' in lines  # the real name kept in the comment
    assert '    text two_lines "two＼nlines"' in lines
    assert sum(1 for line in lines if MERMAID_EDGE.match(line)) == len(er.edges(sqlite_catalog))


# --- SVG program ----------------------------------------------------------------------------


def test_layout_program_is_found_beside_python() -> None:
    program = er.layout_program()
    assert program is not None and Path(program).name == "graphviz-pure"


def test_missing_failing_and_slow_layout_are_tusk_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(TuskError, match="graphviz-pure failed"):
        er.to_svg("digraph { this is not dot")
    monkeypatch.setattr(er, "layout_program", lambda: None)
    with pytest.raises(TuskError, match="not found"):
        er.to_svg("digraph {}")
    slow = tmp_path / "slow"
    slow.write_text("#!/bin/sh\nsleep 10\n")
    slow.chmod(slow.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(er, "layout_program", lambda: str(slow))
    with pytest.raises(TuskError, match="longer than 0.5 s"):
        er.to_svg("digraph {}", timeout=0.5)


# --- PostgreSQL -----------------------------------------------------------------------------

PG_SCHEMA = f"""
create schema sales;
create schema {q(HOSTILE)};
create table public.customers (id int primary key, region text, unique (id, region));
create table sales.orders (
    id int primary key,
    customer_id int references public.customers(id),
    billing_id int references public.customers(id),
    region text,
    foreign key (customer_id, region) references public.customers(id, region)
);
create table sales.orders_tree (id int primary key, parent_id int references sales.orders_tree(id));
create table {q(HOSTILE)}.{q(TAG)} (
    {q(AMP)} int primary key,
    order_id int references sales.orders(id)
);
"""


@pytest.mark.postgres
def test_postgres_cross_schema_composite_and_hostile(db: str) -> None:
    with server_connection(db) as setup:
        setup.execute(PG_SCHEMA)
    conn = connect(pg_spec(db))
    try:
        catalog = conn.catalog()
    finally:
        conn.close()
    customers = (None, "public", "customers")
    labels = {(e.source, e.target, e.label) for e in er.edges(catalog)}
    orders = (None, "sales", "orders")
    assert (orders, customers, "customer_id → id") in labels
    assert (orders, customers, "billing_id → id") in labels
    assert (orders, customers, "customer_id, region → id, region") in labels  # one edge
    tree = (None, "sales", "orders_tree")
    assert (tree, tree, "parent_id → id") in labels
    hostile = (None, HOSTILE, TAG)
    assert (hostile, orders, "order_id → id") in labels
    assert set(er.neighbourhood(catalog, customers, 1).ids()) == {customers, orders}
    assert set(er.neighbourhood(catalog, customers, 2).ids()) == {customers, orders, hostile}
    picture = er.neighbourhood(catalog, hostile, 2)
    svg = er.to_svg(er.to_dot(picture))
    assert f"{HOSTILE}.{TAG}" in svg_texts(svg)
    assert svg_tags(svg) <= SVG_TAGS and "&lt;b&gt;" in svg
    assert len([line for line in er.to_mermaid(picture).splitlines() if "}o--||" in line]) == 4
