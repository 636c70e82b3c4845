"""Autocomplete: keywords, schemas, tables, and the columns of the tables a query mentions."""

from __future__ import annotations

import pytest
import sqlglot

from tusk import completion
from tusk.catalog import Catalog, Column, ForeignKey, Table
from tusk.completion import (
    COLUMN_SCORE,
    KEYWORD_SCORE,
    QUALIFIED_COLUMN_SCORE,
    SCHEMA_SCORE,
    TABLE_SCORE,
    completions,
    keywords,
    referenced_tables,
)
from tusk.engines.registry import connect
from tusk.engines.spec import ConnectionSpec

SHOP = Catalog(
    (
        Table(
            "public",
            "orders",
            columns=(
                Column("id", "integer", primary_key=True),
                Column("customer_id", "integer"),
                Column("total", "numeric"),
                Column("created_at", "timestamp"),
            ),
            primary_key=("id",),
            foreign_keys=(ForeignKey(("customer_id",), "public", "customers", ("id",)),),
        ),
        Table(
            "public",
            "customers",
            columns=(Column("id", "integer", primary_key=True), Column("name", "text")),
            primary_key=("id",),
        ),
        Table("public", "order_totals", kind="view", columns=(Column("day", "date"),)),
        Table("sales", "items", columns=(Column("sku", "text"), Column("price", "numeric"))),
        # Same name as a public table, other columns: schema qualification must pick this one.
        Table("archive", "orders", columns=(Column("archived_on", "date"),)),
        Table(
            "public",
            "Big Orders",
            columns=(
                Column("Order Id", "integer"),
                Column('say "hi"', "text"),
                Column("Straße", "text"),
                Column("🦆", "text"),
                Column("Amount", "numeric"),
                Column("order", "text"),
                Column("plain", "text"),
            ),
        ),
    )
)


def by_value(items: list[dict]) -> dict[str, dict]:
    """Completions keyed by value (values are unique)."""
    return {c["value"]: c for c in items}


def values(sql: str = "", dialect: str = "postgres", catalog: Catalog = SHOP) -> set[str]:
    """Just the values offered for `sql`."""
    return {c["value"] for c in completions(catalog, sql, dialect)}


def parse_fails(sql: str, dialect: str = "postgres") -> bool:
    """Whether sqlglot rejects `sql`, so completion had to fall back to the token stream."""
    try:
        sqlglot.parse(sql, read=dialect)
    except sqlglot.errors.SqlglotError:
        return True
    return False


# --- keywords ---------------------------------------------------------------------------------


def test_keywords_are_curated_per_dialect() -> None:
    for dialect in ("postgres", "sqlite", "duckdb", "datafusion"):
        words = keywords(dialect)
        assert {"SELECT", "FROM", "WHERE", "GROUP BY", "LEFT JOIN", "COUNT"} <= set(words)
        assert len(words) == len(set(words))
    assert "QUALIFY" in keywords("duckdb") and "QUALIFY" not in keywords("sqlite")
    assert "PRAGMA" in keywords("sqlite") and "PRAGMA" not in keywords("postgres")
    assert "ILIKE" in keywords("postgres") and "ILIKE" not in keywords("sqlite")
    assert "CREATE EXTERNAL TABLE" in keywords("datafusion")
    assert "SELECT" in keywords("no-such-engine")  # an unknown engine still gets the basics


# --- catalog entries (no query) ----------------------------------------------------------------


def test_without_sql_offers_keywords_schemas_tables_and_views_but_no_columns() -> None:
    items = by_value(completions(SHOP))
    assert items["SELECT"] == {
        "caption": "SELECT",
        "value": "SELECT",
        "meta": "keyword",
        "score": KEYWORD_SCORE,
    }
    assert items["sales"]["meta"] == "schema" and items["sales"]["score"] == SCHEMA_SCORE
    assert items["orders"]["meta"] == "table" and items["orders"]["score"] == TABLE_SCORE
    assert items["order_totals"]["meta"] == "view"
    # Outside the default schema a table is also offered qualified; inside it is not.
    assert items["sales.items"]["caption"] == "sales.items"
    assert items["archive.orders"]["meta"] == "table"
    assert "public.orders" not in items
    assert not [c for c in items.values() if c["meta"].startswith("column")]
    assert KEYWORD_SCORE < SCHEMA_SCORE < TABLE_SCORE < COLUMN_SCORE < QUALIFIED_COLUMN_SCORE


def test_default_schema_follows_the_dialect() -> None:
    cat = Catalog((Table("main", "t", columns=(Column("a", "INTEGER"),)),))
    assert "main.t" not in values(dialect="duckdb", catalog=cat)
    assert "main.t" not in values(dialect="sqlite", catalog=cat)
    assert "main.t" in values(dialect="postgres", catalog=cat)
    assert "main.t" in values(dialect="datafusion", catalog=cat)


# --- referenced tables -------------------------------------------------------------------------


def test_referenced_tables_maps_aliases_with_and_without_as() -> None:
    sql = "select * from orders as o join customers c on c.id = o.customer_id"
    assert referenced_tables(sql) == {"o": (None, "orders"), "c": (None, "customers")}


def test_referenced_tables_keys_are_lower_case_and_keep_schema() -> None:
    sql = 'select * from SALES.Items I, archive.orders, "Big Orders" "BO"'
    assert referenced_tables(sql) == {
        "i": ("SALES", "Items"),
        "orders": ("archive", "orders"),
        "bo": (None, "Big Orders"),
    }


def test_referenced_tables_reads_incomplete_sql_from_tokens() -> None:
    sql = "select o. from orders o left join sales.items i on i."
    assert parse_fails(sql)
    assert referenced_tables(sql) == {"o": (None, "orders"), "i": ("sales", "items")}


def test_referenced_tables_include_ctes_and_subqueries() -> None:
    sql = "with recent as (select * from orders) select * from recent r, (select 1 as k) s"
    assert referenced_tables(sql) == {
        "recent": (None, "recent"),
        "orders": (None, "orders"),
        "r": (None, "recent"),
        "s": (None, "s"),
    }


def test_referenced_tables_ignore_from_inside_function_calls() -> None:
    sql = "select extract(year from created_at), substring(x from 2) from orders o where o.total is distinct from "
    assert parse_fails(sql)
    assert referenced_tables(sql) == {"o": (None, "orders")}


def test_referenced_tables_spans_statements_and_dml() -> None:
    sql = "insert into orders (id) values (1);\nupdate customers c set name = '';\ndelete from sales.items where"
    assert parse_fails(sql)
    assert referenced_tables(sql) == {
        "orders": (None, "orders"),
        "c": (None, "customers"),
        "items": ("sales", "items"),
    }


# --- columns of referenced tables --------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "select o. from orders o join customers c on c.id = o.customer_id",
        "select o. from orders as o join customers as c on c.id = o.customer_id",
        "select o.id from orders o join customers c on c.id = o.customer_id",  # complete SQL
        "select * from orders o, customers c where ",
    ],
)
def test_aliases_offer_qualified_and_bare_columns(sql: str) -> None:
    items = by_value(completions(SHOP, sql))
    for value in ("o.id", "o.customer_id", "o.total", "c.id", "c.name", "id", "name", "total"):
        assert value in items, value
    assert items["o.total"] == {
        "caption": "o.total",
        "value": "o.total",
        "meta": "column · orders · numeric",
        "score": QUALIFIED_COLUMN_SCORE,
    }
    assert items["name"]["meta"] == "column · customers · text"
    assert items["name"]["score"] == COLUMN_SCORE
    assert "c.total" not in items and "o.name" not in items  # each alias gets its own columns
    assert "sku" not in items  # tables the query does not mention offer no columns


def test_unaliased_table_qualifies_columns_with_its_name() -> None:
    got = values("select * from customers where ")
    assert {"customers.id", "customers.name", "name"} <= got
    assert "total" not in got


def test_table_names_match_case_insensitively_and_keep_catalog_spelling() -> None:
    items = by_value(completions(SHOP, "SELECT O. FROM ORDERS O"))
    assert items["O.total"]["meta"] == "column · orders · numeric"
    assert referenced_tables("select * from Customers") == {"customers": (None, "Customers")}
    assert "customers.name" in values("select * from Customers")


def test_schema_qualified_tables_pick_the_right_schema() -> None:
    assert {"i.sku", "i.price"} <= values("select i. from sales.items i")
    archived = values("select a. from archive.orders a")
    assert "a.archived_on" in archived and "a.total" not in archived
    # Unqualified, the default schema wins over another schema's table of the same name,
    # wherever it comes in the catalog.
    for cat in (SHOP, Catalog(tuple(reversed(SHOP.tables)))):
        public = values("select a. from orders a", catalog=cat)
        assert "a.total" in public and "a.archived_on" not in public


def test_self_join_offers_both_aliases() -> None:
    got = values("select a.id, b. from orders a join orders b on b.id = a.id + 1")
    assert {"a.id", "b.id", "a.total", "b.total"} <= got


def test_unknown_tables_and_aliases_offer_nothing_extra() -> None:
    assert values("select x. from nowhere x") == values()


# --- quoting -----------------------------------------------------------------------------------


def test_identifiers_that_need_quotes_are_quoted_in_value_and_plain_in_caption() -> None:
    items = {c["caption"]: c for c in completions(SHOP, 'select b. from "Big Orders" b')}
    assert items["Big Orders"]["value"] == '"Big Orders"'
    assert items["b.Order Id"]["value"] == 'b."Order Id"'
    assert items["Order Id"]["value"] == '"Order Id"'
    assert items['say "hi"']["value"] == '"say ""hi"""'  # embedded quotes doubled
    assert items["Straße"]["value"] == '"Straße"'
    assert items["🦆"]["value"] == '"🦆"'
    assert items["b.🦆"]["value"] == 'b."🦆"'
    assert items["order"]["value"] == '"order"'  # a reserved word
    assert items["plain"]["value"] == "plain"
    assert items["Amount"]["value"] == '"Amount"'  # PostgreSQL folds unquoted names to lower case


def test_case_preserving_engines_leave_capitals_unquoted() -> None:
    duck = {
        c["caption"]: c["value"] for c in completions(SHOP, 'select * from "Big Orders"', "duckdb")
    }
    assert duck["Amount"] == "Amount"
    assert duck["Order Id"] == '"Order Id"'
    assert duck["Big Orders.plain"] == '"Big Orders".plain'  # the table name is the qualifier


def test_quoted_alias_is_requoted_as_qualifier() -> None:
    items = {c["caption"]: c["value"] for c in completions(SHOP, 'select * from orders "O" where ')}
    assert items["O.total"] == '"O".total'


def test_sqlite_bracket_and_backtick_names() -> None:
    got = values("select * from [Big Orders] b join `customers` c on ", "sqlite")
    assert {'b."Order Id"', "b.Amount", "c.name"} <= got


# --- incomplete SQL ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "dialect"),
    [
        ("select o. from orders o", "postgres"),
        ("select * from orders o where ", "postgres"),
        ("select * from orders o where o.", "postgres"),
        ("select * from orders o join customers c on c.", "postgres"),
        ("select * from orders o where o.note = 'unterminated", "postgres"),
        ('select * from orders o where o."half quoted', "postgres"),
        ("select * from orders o /* an open comment", "postgres"),
        ("select o. from orders o group by", "duckdb"),
        ("from orders o select o.", "duckdb"),  # DuckDB's FROM-first
        ("select o. from orders o", "sqlite"),
        ("select o. from orders o", "datafusion"),
    ],
)
def test_incomplete_sql_still_offers_columns(sql: str, dialect: str) -> None:
    assert parse_fails(sql, "postgres" if dialect == "datafusion" else dialect)
    assert {"o.id", "o.total", "total"} <= values(sql, dialect)


def test_a_schema_still_being_typed_is_not_a_table() -> None:
    assert referenced_tables("select * from sales.") == {}
    assert "i.sku" in values("select * from sales.items i join sales.")


# --- CTEs and subqueries -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "with big as (select id, total as amount from orders where total > 100) select b.id from big b",
        "with big as (select id, total as amount from orders where total > 100) select b. from big b",
    ],
)
def test_cte_offers_its_output_columns(sql: str) -> None:
    items = by_value(completions(SHOP, sql))
    assert items["b.amount"]["meta"] == "column · big"
    assert "b.id" in items and "b.total" not in items
    assert "total" in items  # orders is referenced inside the CTE
    assert referenced_tables(sql)["big"] == (None, "big")


def test_cte_column_list_and_shadowing_a_real_table() -> None:
    sql = "with orders(x, y) as (select 1, 2) select o. from orders o"
    got = values(sql)
    assert {"o.x", "o.y"} <= got
    assert "o.total" not in got  # the CTE hides the catalog table of the same name


def test_derived_table_offers_its_columns() -> None:
    for sql in (
        "select s.total from (select id, total from orders) s",
        "select s. from (select id, total from orders) as s where s.",
    ):
        got = values(sql)
        assert {"s.id", "s.total", "orders.total"} <= got, sql
        assert "s.customer_id" not in got


@pytest.mark.parametrize(
    "sql",
    [
        "select u.n from unnest(array[1, 2]) as u(n)",
        "select * from generate_series(1, 3) as u(n) where u.",
    ],
)
def test_table_function_alias_offers_its_column_list(sql: str) -> None:
    assert referenced_tables(sql) == {"u": (None, "u")}
    assert "u.n" in values(sql)


def test_tables_inside_subqueries_are_referenced() -> None:
    sql = "select * from customers c where c.id in (select o.customer_id from orders o where o."
    assert parse_fails(sql)
    assert {"c.name", "o.total", "o.customer_id"} <= values(sql)


# --- robustness --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "",
        "   \n\t",
        ";;;",
        ")))(((",
        "'",
        '"',
        "/*",
        "$$",
        "select",
        "from",
        "select * from",
        "from .",
        "select * from (",
        "with x as (",
        "with",
        "join join join",
        "\x00\x01\x02",
        "ß🦆\u202e\ud7ff\U0010ffff",
        "(" * 5000,
        "select " + "(" * 5000 + "1",
        "select * from orders o where " + "(" * 3000,
        "✓ selekt * frum ordrs wher",
    ],
)
def test_garbage_input_never_raises(sql: str) -> None:
    got = completions(SHOP, sql)
    assert "SELECT" in {c["value"] for c in got}
    assert isinstance(referenced_tables(sql), dict)


def test_non_string_sql_is_treated_as_empty() -> None:
    assert completions(SHOP, None) == completions(SHOP, "")  # type: ignore[arg-type]


def test_a_bug_while_reading_the_query_never_reaches_the_editor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(self: object) -> list:
        raise RuntimeError("bug")

    monkeypatch.setattr(completion._TokenScan, "references", broken)
    sql = "select o. from orders o"  # unparseable, so it goes to the token scan
    assert referenced_tables(sql) == {}
    assert "SELECT" in values(sql) and "o.id" not in values(sql)


def test_ten_megabytes_returns() -> None:
    big = "select * from orders o where o." + "x" * 10_000_000
    assert "SELECT" in values(big)
    # A huge buffer is read from its tail, so the query being typed at the end still completes.
    script = "select 1;\n" * 1_000_000 + "select c. from customers c where "
    assert len(script) > 10_000_000
    assert {"c.name", "name"} <= values(script)


# --- result shape ------------------------------------------------------------------------------


def test_values_are_unique_and_the_best_score_wins() -> None:
    got = completions(SHOP, "select * from orders o join customers c on c.id = o.customer_id")
    all_values = [c["value"] for c in got]
    assert len(all_values) == len(set(all_values))
    items = by_value(got)
    # In both tables, offered once: on a tie the first table mentioned keeps it.
    assert items["id"]["score"] == COLUMN_SCORE
    assert items["id"]["meta"] == "column · orders · integer"
    # "orders" is a schema-less table entry here; a schema and a table named alike collapse too.
    cat = Catalog((Table("sales", "sales", columns=(Column("sales", "int"),)),))
    one = [c for c in completions(cat, "select * from sales.sales") if c["value"] == "sales"]
    assert one == [
        {
            "caption": "sales",
            "value": "sales",
            "meta": "column · sales · int",
            "score": COLUMN_SCORE,
        }
    ]


def test_sorted_by_score_then_caption() -> None:
    got = completions(SHOP, "select o. from orders o join customers c on c.id = o.customer_id")
    keys = [(-c["score"], c["caption"].casefold()) for c in got]
    assert keys == sorted(keys)
    scores = [c["score"] for c in got]
    assert scores[0] == QUALIFIED_COLUMN_SCORE and scores[-1] == KEYWORD_SCORE
    assert [c["caption"] for c in got[:3]] == ["c.id", "c.name", "o.created_at"]
    assert all(set(c) == {"caption", "value", "meta", "score"} for c in got)


# --- a real engine catalog ---------------------------------------------------------------------


def test_duckdb_catalog_end_to_end() -> None:
    conn = connect(ConnectionSpec("t", "duckdb", path=":memory:", options={"extensions": ""}))
    try:
        conn.execute("create table authors (id integer primary key, full_name varchar)")
        conn.execute(
            "create table books (id integer primary key, "
            'author_id integer references authors(id), title varchar, "Page Count" integer)'
        )
        conn.execute("create schema lib")
        conn.execute("create view lib.titles as select title from books")
        catalog = conn.catalog()
    finally:
        conn.close()
    sql = "select b. from books b join authors a on a.id = b.author_id where a."
    items = by_value(completions(catalog, sql, "duckdb"))
    assert items["b.title"]["meta"] == "column · books · VARCHAR"
    assert items["a.full_name"]["score"] == QUALIFIED_COLUMN_SCORE
    assert items['b."Page Count"']["caption"] == "b.Page Count"
    assert "a.title" not in items
    assert items["books"]["meta"] == "table"
    assert items["lib.titles"]["meta"] == "view"
    assert "main.books" not in items  # main is DuckDB's default schema
    assert "lib" in items and items["lib"]["meta"] == "schema"


def test_editor_data_gives_every_tables_columns_for_the_browser() -> None:
    """The browser gets each table's columns and every spelling of its name, so `cu.` can be
    completed before the page has seen the alias; an unqualified name means the default schema."""
    data = completion.editor_data(SHOP, "select cu. from customers cu", "postgres")
    plain = [
        {k: v for k, v in e.items() if k != "bare"} for e in data["entries"]
    ]  # `bare`: what goes after a typed `cu.`
    assert plain == completions(SHOP, "select cu. from customers cu", "postgres")
    assert {"caption": "cu.name", "value": "cu.name", "bare": "name"}.items() <= next(
        e for e in data["entries"] if e["caption"] == "cu.name"
    ).items()
    customers = data["tables"][data["lookup"]["customers"]]
    assert customers == ["customers", [["id", "id", "integer"], ["name", "name", "text"]]]
    assert data["lookup"]["public.customers"] == data["lookup"]["customers"]
    assert data["tables"][data["lookup"]["orders"]][1][0][0] == "id"  # public, not archive
    assert data["tables"][data["lookup"]["archive.orders"]][1] == [
        ["archived_on", "archived_on", "date"]
    ]
    big = data["tables"][data["lookup"]["big orders"]]
    assert ["Order Id", '"Order Id"', "integer"] in big[1]


def test_editor_data_caps_a_huge_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the column budget the tables the SQL names are kept first."""
    monkeypatch.setattr(completion, "MAX_EDITOR_COLUMNS", 3)
    data = completion.editor_data(SHOP, "select * from items", "postgres")
    # items (2 columns) first, then what still fits, in search-path order.
    assert [t[0] for t in data["tables"]] == ["order_totals", "items"]
    assert set(data["lookup"]) == {"order_totals", "public.order_totals", "items", "sales.items"}
