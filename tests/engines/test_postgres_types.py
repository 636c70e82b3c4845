"""PostgreSQL types: the first page (execute) and every bulk path (stream_arrow: the scanner's
table scan, its query path, the cursor fallback) give the same Arrow types and the same values."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from tests.conftest import pg_spec
from tusk.engines.pg_bulk import _scanner_cast, _scanner_query
from tusk.engines.postgres import PostgresConnection
from tusk.engines.registry import connect
from tusk.errors import QueryFailed

pytestmark = pytest.mark.postgres

# Types DuckDB's scanner reads itself: `select * from scanned` takes the parallel table scan
# (numeric(p, s) only there, where NaN is guarded; a query has PostgreSQL render it as text).
SCANNED_COLUMNS = """id, small, big, o, f4, f8, b, tx, vc, ch, nm, by, j, jb, u, d, t, ts, tstz,
    ia, ta, fa, ba, da, tza, ca"""
SCANNED = """
create table scanned (
    id int4, small int2, big int8, o oid, f4 real, f8 double precision, b bool,
    tx text, vc varchar(10), ch char(5), nm name, by bytea, j json, jb jsonb, u uuid,
    d date, t time, ts timestamp, tstz timestamptz,
    ia int4[], ta text[], fa float8[], ba bool[], da date[], tza timestamptz[], ca char(3)[],
    dec numeric(12, 2), dec38 numeric(38, 10)
);
insert into scanned values
 (1, 2, 9000000000000000000, 4000000000, 1.5, 2.25, true,
  'hi', 'v', 'ab', 'nm', '\\xdeadbeef', '{"a": 1.10}', '{"a": 1.10}',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  '2024-02-29', '12:34:56.789', '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.5+02',
  '{1,2,NULL}', '{a,"b c",NULL}', '{0.1,-2.5}', '{t,f,NULL}', '{2024-01-02,NULL}',
  '{"2024-01-02 03:04:05+00"}', '{ab,"x  "}', 1234.5, 1234567890123456789012345678.0123456789),
 (2, null, null, null, null, null, null, null, null, null, null, null, null, null, null,
  null, null, null, null, null, null, null, null, null, null, null, null, null),
 (3, -32768, -9223372036854775808, 0, -0.25, 1e300, false,
  'Zürich 🐘', '', '     ', '', '\\x', '[]', 'null', '00000000-0000-0000-0000-000000000000',
  '1970-01-01', '00:00', '1999-12-31 23:59:59.999999', '1999-12-31 23:59:59.999999-05',
  '{}', '{}', '{}', '{}', '{}', '{}', '{}', 0, -0.0000000001)
"""

# Every common type: the scanner misreads some (numeric as double, interval, inet's /32…),
# so PostgreSQL renders those as text for it and the query path runs.
EVERYTHING = """
create type mood as enum ('sad', 'happy');
create domain positive as int4 check (value > 0);
create table everything as select * from scanned;
alter table everything
    add column n12 numeric(12, 2), add column n numeric, add column n38 numeric(38, 10),
    add column n50 numeric(50, 5), add column n0 numeric(5), add column m money,
    add column iv interval, add column ttz timetz, add column ip inet, add column net cidr,
    add column mac macaddr, add column e mood, add column bt bit(4), add column vb varbit,
    add column x xml, add column pt point, add column rg int4range, add column tsv tsvector,
    add column pos positive, add column na numeric(12, 2)[], add column nua numeric[],
    add column iva interval[], add column ipa inet[], add column bya bytea[];
update everything set
    n12 = 1234.5, n = 123456789012345678901234567890.123, n38 = 1.0123456789,
    n50 = 1234567890123456789012345678901234567890123.12345, n0 = 12345, m = 12.34,
    iv = '1 year 2 mons 3 days 04:05:06.5', ttz = '12:34:56+02', ip = '10.0.0.1',
    net = '10.0.0.0/8', mac = '08:00:2b:01:02:03', e = 'happy', bt = B'1010', vb = B'101',
    x = '<a>1</a>', pt = '(1.5,2)', rg = '[1,5)', tsv = 'a fat cat', pos = 7,
    na = '{1.5,NULL,-0.01}', nua = '{1e-30,2}', iva = '{"1 mon","-1 day"}',
    ipa = '{10.0.0.1,::1/128,10.0.0.0/8}', bya = '{"\\\\x00ff"}'
where id = 1;
update everything set
    n12 = -0.01, n = 1e-30, n38 = -1, n50 = -1, n0 = -1, m = -1.5, iv = '-1 day',
    ttz = '00:00-03:30', ip = '::1', net = '::/0', mac = '00:00:00:00:00:00', e = 'sad',
    bt = B'0000', vb = B'', x = '<b/>', pt = '(0,0)', rg = 'empty', tsv = '', pos = 1,
    na = '{}', nua = '{}', iva = '{}', ipa = '{}', bya = '{}'
where id = 3
"""

# Types the scanner does not know itself: its table scan has PostgreSQL render them as text
# (::VARCHAR), the text the query path asks for, so such a table keeps the parallel scan;
# inet is rendered too and loses the /32 (or /128) that inet::text adds. Beside them the
# columns of `scanned` (jsonb, numeric(12, 2), timestamptz, arrays …).
TEXTED = """
create type pair as (a int4, b text);
create domain positive_id as int4 check (value > 0);
create domain cents as numeric(12, 2);
create table texted as select * from scanned;
alter table texted
    add column m money, add column net cidr, add column mac macaddr, add column mac8 macaddr8,
    add column e mood, add column bt bit(4), add column vb varbit, add column x xml,
    add column rg int4range, add column mr int4multirange, add column tsv tsvector,
    add column tsq tsquery, add column jp jsonpath, add column lsn pg_lsn, add column pr pair,
    add column pid positive_id, add column ct cents, add column ip inet, add column ip6 inet,
    add column ipn inet,
    add column ua uuid[], add column jba jsonb[];
update texted set
    m = 12.34, net = '10.0.0.0/8', mac = '08:00:2b:01:02:03', mac8 = '08:00:2b:01:02:03:04:05',
    e = 'happy', bt = B'1010', vb = B'101', x = '<a>1</a>', rg = '[1,5)', mr = '{[1,3), [7,9)}',
    tsv = 'a fat cat', tsq = 'fat & cat', jp = '$.a[*] ? (@ > 1)', lsn = '16/B374D848',
    pr = '(1,"a b")', pid = 7, ct = 1234.5, ip = '10.0.0.1', ip6 = '::1', ipn = '192.168.0.0/24',
    ua = '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,NULL}', jba = array['{"a": 1.10}'::jsonb, 'null']
where id = 1;
update texted set
    m = -1.5, net = '::/0', mac = '00:00:00:00:00:00', mac8 = '00:00:00:00:00:00:00:00',
    e = 'sad', bt = B'0000', vb = B'', x = '<b/>', rg = 'empty', mr = '{}', tsv = '', tsq = '',
    jp = '$', lsn = '0/0', pr = '(,)', pid = 1, ct = 0, ip = '2001:db8::/32',
    ip6 = '::ffff:1.2.3.4/128', ua = '{}', jba = '{}'
where id = 3
"""

PATHS = {
    "table scan": "select * from scanned",
    "text table scan": "select * from texted",
    "scanner query": f"select {SCANNED_COLUMNS} from scanned order by id",
    "rendered decimals": "select * from scanned where id > 0",
    "rendered table": "select * from everything",
    "rendered query": "select * from everything where true order by id",
}


@pytest.fixture
def pg(db: str) -> Iterator[Any]:
    """A Tusk PostgreSQL connection to a fresh database holding both tables."""
    conn = connect(pg_spec(db))
    conn.execute(SCANNED, limit=None)
    conn.execute(EVERYTHING, limit=None)
    conn.execute(TEXTED, limit=None)
    yield conn
    conn.close()


def streamed(conn: PostgresConnection, sql: str, params: Any = None) -> pa.Table:
    """stream_arrow's batches as one table."""
    batches = list(conn.stream_arrow(sql, params))
    assert batches, sql
    return pa.Table.from_batches(batches)


def cursored(conn: PostgresConnection, sql: str) -> pa.Table:
    """The cursor fallback's batches as one table."""
    return pa.Table.from_batches(list(conn._stream_cursor(sql, None)))


def by_id(table: pa.Table) -> list[dict[str, Any]]:
    """Rows in id order (the table scan reads ctid ranges in parallel)."""
    return sorted(table.to_pylist(), key=lambda r: r["id"])


def test_the_paths_are_the_ones_named(pg: PostgresConnection) -> None:
    """The table scan, the plain and the rendered query are taken where the tests say."""
    table = PATHS["table scan"]
    assert pg._whole_table(table) == ("public", "scanned")
    assert not any(_scanner_cast(f, table_scan=True) for f in pg._describe(table))
    for path in ("scanner query", "rendered decimals", "rendered table", "rendered query"):
        sql = PATHS[path]
        rendered = _scanner_query(sql, pg._describe(sql))
        assert (rendered is None) == (path == "scanner query"), path
    assert pg._whole_table(PATHS["scanner query"]) is None
    for path, sql in PATHS.items():
        streamed(pg, sql)
        assert pg._stream_path == ("table scan" if "table scan" in path else "query"), path


@pytest.mark.parametrize("path", list(PATHS))
def test_every_path_gives_the_same_types_and_values(pg: PostgresConnection, path: str) -> None:
    """execute, stream_arrow and the cursor fallback agree column by column."""
    sql = PATHS[path]
    page = pg.execute(sql, limit=10_000).table
    first = pg.execute(sql, limit=1).table  # what ETL and export read the schema from
    bulk = streamed(pg, sql)
    fallback = cursored(pg, sql)
    assert first.schema == page.schema
    for name in page.column_names:
        want = page.schema.field(name).type
        assert bulk.schema.field(name).type == want, (name, bulk.schema.field(name).type)
        assert fallback.schema.field(name).type == want, (name, fallback.schema.field(name).type)
    assert bulk.schema == page.schema == fallback.schema
    assert by_id(bulk) == by_id(page) == by_id(fallback)


def test_types_are_exact(pg: PostgresConnection) -> None:
    """Decimals keep their precision and scale; what Arrow cannot hold exactly is text."""
    types = {f.name: f.type for f in streamed(pg, PATHS["rendered table"]).schema}
    assert types["n12"] == pa.decimal128(12, 2)
    assert types["n38"] == pa.decimal128(38, 10)
    assert types["n0"] == pa.decimal128(5, 0)
    assert types["na"] == pa.list_(pa.decimal128(12, 2))
    for text in ("n", "n50", "m", "iv", "ttz", "ip", "net", "e", "pt", "rg", "nua", "iva"):
        assert types[text] in (pa.string(), pa.list_(pa.string())), text
    assert types["o"] == pa.int64() and types["small"] == pa.int16()
    assert types["f4"] == pa.float32() and types["f8"] == pa.float64()
    assert types["tstz"] == pa.timestamp("us", tz="UTC")
    assert types["ia"] == pa.list_(pa.int32()) and types["by"] == pa.binary()


def test_values_are_what_postgresql_prints(pg: PostgresConnection) -> None:
    """Exact numbers stay exact, and text columns hold PostgreSQL's own text."""
    for sql in (PATHS["rendered table"], PATHS["rendered query"]):
        for table in (pg.execute(sql).table, streamed(pg, sql), cursored(pg, sql)):
            one, nulls, three = by_id(table)
            assert one["n12"] == Decimal("1234.50")
            assert one["n"] == "123456789012345678901234567890.123"
            assert three["n"] == "0.000000000000000000000000000001"
            assert one["n50"] == "1234567890123456789012345678901234567890123.12345"
            assert one["n38"] == Decimal("1.0123456789")
            assert one["na"] == [Decimal("1.50"), None, Decimal("-0.01")]
            assert one["nua"] == ["0.000000000000000000000000000001", "2"]
            assert one["iv"] == "1 year 2 mons 3 days 04:05:06.5"
            assert one["iva"] == '{"1 mon","-1 days"}'  # arrays of text-typed values: text
            assert one["ttz"] == "12:34:56+02" and three["ttz"] == "00:00:00-03:30"
            assert one["ip"] == "10.0.0.1" and three["ip"] == "::1"
            assert one["ipa"] == "{10.0.0.1,::1,10.0.0.0/8}"
            assert one["net"] == "10.0.0.0/8"
            assert one["m"] == "$12.34"
            assert one["pt"] == "(1.5,2)" and one["rg"] == "[1,5)"
            assert one["bya"] == '{"\\\\x00ff"}'
            assert one["pos"] == "7" or one["pos"] == 7
            assert one["ch"] == "ab" and three["ch"] == "" and one["ca"] == ["ab", "x"]
            assert one["big"] == 9_000_000_000_000_000_000 and one["o"] == 4_000_000_000
            assert one["tstz"] == dt.datetime(2024, 1, 2, 1, 4, 5, 500000, tzinfo=dt.UTC)
            assert one["j"] == '{"a": 1.10}' and one["jb"] == '{"a": 1.10}'
            assert one["by"] == b"\xde\xad\xbe\xef"
            assert all(v is None for k, v in nulls.items() if k != "id" and k in one)


def test_a_page_and_a_stream_of_expressions_agree(pg: PostgresConnection) -> None:
    """Computed columns (sums, averages, literals) are unconstrained numeric: exact text."""
    sql = "select sum(n12) as total, avg(n0) as mean, 1.5 as lit, count(*) as n from everything"
    page = pg.execute(sql).table
    bulk = streamed(pg, sql)
    assert bulk.schema == page.schema
    assert page.schema.field("total").type == pa.string()
    assert (
        page.to_pylist()
        == bulk.to_pylist()
        == [{"total": "1234.49", "mean": "6172.0000000000000000", "lit": "1.5", "n": 3}]
    )
    exact = "select sum(n12)::numeric(14, 2) as total from everything"
    assert streamed(pg, exact).to_pylist() == [{"total": Decimal("1234.49")}]
    assert pg.execute(exact).table.schema == streamed(pg, exact).schema


def test_nan_is_text_or_refused_never_zero(pg: PostgresConnection) -> None:
    """NaN in a plain numeric is the text 'NaN'; in numeric(p, s) a page shows it as text
    and a stream refuses it (the scanner alone would read it as 0.00)."""
    sql = "select 'NaN'::numeric as n, 'NaN'::float8 as f"
    for table in (pg.execute(sql).table, streamed(pg, sql), cursored(pg, sql)):
        assert table.column("n").to_pylist() == ["NaN"]
    pg.execute(
        "create table nan_t (id int, z numeric(5, 1), v numeric(12, 2));"
        "insert into nan_t values (1, 1, 0), (2, 0, 'NaN'), (3, 2, 1.5)"
    )
    shown = pg.execute("select * from nan_t order by id").table
    assert shown.column("v").to_pylist() == ["0.00", "NaN", "1.50"]
    for sql in ("select * from nan_t", "select * from nan_t where true"):
        with pytest.raises(QueryFailed, match="'v'.*decimal128"):
            streamed(pg, sql)
        with pytest.raises(QueryFailed, match="'v'.*decimal128"):
            cursored(pg, sql)


def test_zeros_in_a_table_scan_are_zeros(pg: PostgresConnection) -> None:
    """The NaN guard of the table scan lets real zeros through."""
    pg.execute(
        "create table zeros (v numeric(12, 2), w numeric(3, 3));"
        "insert into zeros select 0, 0 from generate_series(1, 150000)"
    )
    assert pg._whole_table("select * from zeros") is not None
    table = streamed(pg, "select * from zeros")
    assert table.num_rows == 150_000
    assert table.schema == pa.schema([("v", pa.decimal128(12, 2)), ("w", pa.decimal128(3, 3))])
    assert set(table.column("v").to_pylist()) == {Decimal("0.00")}


def test_infinity_is_refused_not_a_date_in_the_far_future(pg: PostgresConnection) -> None:
    """'infinity' has no Arrow date: every path refuses it instead of inventing a date."""
    pg.execute("create table inf_t (d date); insert into inf_t values ('infinity')")
    for sql in ("select * from inf_t", "select d from inf_t where true"):
        with pytest.raises(QueryFailed):
            pg.execute(sql)
        with pytest.raises(QueryFailed):
            streamed(pg, sql)
        with pytest.raises(QueryFailed):
            cursored(pg, sql)


def test_rendered_queries_keep_names_order_and_comments(pg: PostgresConnection) -> None:
    """Rendering a column as text wraps the query: duplicate and odd names, ORDER BY, a
    trailing comment and parameters all survive."""
    sql = (
        'select g as "x ""y", g::numeric / 4 as a, interval \'1 day\' * g as a\n'
        "from generate_series(1, 3000) g order by g desc -- newest first"
    )
    page = pg.execute(sql, limit=None).table
    bulk = streamed(pg, sql)
    assert bulk.column_names == ['x "y', "a", "a_1"] == page.column_names
    assert bulk.equals(page)
    assert bulk.column(0).to_pylist()[:2] == [3000, 2999]
    assert bulk.column(1).to_pylist()[:1] == ["750.0000000000000000"]
    params = streamed(pg, "select %s::numeric as n, %s::numeric(4, 1) as m", ["1e-30", "2.5"])
    assert params.to_pylist() == [{"n": "0.000000000000000000000000000001", "m": Decimal("2.5")}]


def test_multidimensional_arrays_are_shown_but_not_streamed_as_lists(
    pg: PostgresConnection,
) -> None:
    """An int[] column holding 2-D arrays: a page shows them; a stream names the column."""
    sql = "select '{{1,2},{3,4}}'::int[] as grid"
    assert pg.execute(sql).table.column("grid").to_pylist() == [[[1, 2], [3, 4]]]
    with pytest.raises(QueryFailed, match="'grid'"):
        streamed(pg, sql)


def test_a_table_of_text_rendered_types_keeps_the_table_scan(pg: PostgresConnection) -> None:
    """Types the scanner has PostgreSQL render as text come back as psql prints them; inet
    without the full-host netmask that inet::text adds, a network's kept."""
    sql = PATHS["text table scan"]
    for table in (pg.execute(sql).table, streamed(pg, sql), cursored(pg, sql)):
        one, nulls, three = by_id(table)
        assert (one["ip"], one["ip6"]) == ("10.0.0.1", "::1")
        assert (three["ip"], three["ip6"]) == ("2001:db8::/32", "::ffff:1.2.3.4")
        assert one["ipn"] == "192.168.0.0/24" and three["ipn"] is None
        assert one["net"] == "10.0.0.0/8" and three["net"] == "::/0"
        assert one["m"] == "$12.34" and three["m"] == "-$1.50"
        assert one["e"] == "happy" and one["pr"] == '(1,"a b")' and three["pr"] == "(,)"
        assert one["mr"] == "{[1,3),[7,9)}" and one["tsv"] == "'a' 'cat' 'fat'"
        assert one["pid"] == 7 and one["ct"] == Decimal("1234.50") and three["ct"] == Decimal(0)
        assert one["lsn"] == "16/B374D848" and one["bt"] == "1010" and three["vb"] == ""
        assert one["jba"] == ['{"a": 1.10}', "null"]
        assert one["ua"] == ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", None]
        assert one["jb"] == '{"a": 1.10}' and one["dec"] == Decimal("1234.50")
        assert all(v is None for k, v in nulls.items() if k != "id")
    streamed(pg, sql)
    assert pg._stream_path == "table scan"


@pytest.mark.parametrize(
    "column",
    [
        "moods mood[]",  # the scanner reads a list of text; PostgreSQL prints '{sad,happy}'
        "nums numeric",  # a double to the scanner
        "span interval",
        'ch "char"',
        "bx box",
    ],
)
def test_a_table_the_scanner_misreads_takes_the_query_path(
    pg: PostgresConnection, column: str
) -> None:
    """A whole table with one column the scanner would read unlike PostgreSQL prints it
    streams through the query path, with the values a page shows."""
    pg.execute(f"create table misread (id int, {column}); insert into misread (id) values (1), (2)")
    name = column.split()[0]
    value = {
        "moods": "'{sad,happy}'",
        "nums": "1e-30",
        "span": "'1 mon -1 day'",
        "ch": "'x'",
        "bx": "'((0,0),(1,1))'",
    }[name]
    pg.execute(f"update misread set {name} = {value} where id = 1")
    sql = "select * from misread"
    bulk = streamed(pg, sql)
    assert pg._stream_path == "query"
    assert by_id(bulk) == by_id(pg.execute(sql).table)
    assert by_id(bulk)[0][name] is not None
