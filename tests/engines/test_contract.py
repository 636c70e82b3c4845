"""One contract, four engines: every adapter must pass the same tests."""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from tusk.catalog import Catalog
from tusk.engines import isolation
from tusk.engines.base import Connection
from tusk.engines.registry import connect, engine_class
from tusk.engines.spec import ConnectionSpec
from tusk.errors import QueryCancelled, QueryFailed

ENGINES = ["postgres", "sqlite", "duckdb", "datafusion"]
HOSTILE = 'x"; drop table y; --'


@dataclass
class Case:
    """An open connection plus the engine-specific bits of SQL the contract needs."""

    engine: str
    conn: Connection
    placeholder: str  # how to write one positional parameter
    long_query: str  # runs for minutes unless cancelled
    huge_query: str  # two billion rows
    schema: str  # default schema name in the catalog


LONG = {
    "postgres": "select pg_sleep(60)",
    "sqlite": (
        "with recursive c(x) as (select 1 union all select x + 1 from c where x < 100000000000)"
        " select count(*) from c"
    ),
    "duckdb": "select sum(hash(i)) from range(1000000000000) t(i)",
    "datafusion": "select count(*) from generate_series(1, 10000000000)",
}
HUGE = {
    "postgres": "select generate_series(1, 2000000000) as g",  # ProjectSet streams
    "sqlite": (
        "with recursive c(x) as (select 1 union all select x + 1 from c where x < 2000000000)"
        " select x from c"
    ),
    "duckdb": "select i from range(2000000000) t(i)",
    "datafusion": "select value from generate_series(1, 2000000000)",
}
PLACEHOLDER = {"postgres": "%s", "sqlite": "?", "duckdb": "?", "datafusion": "$1"}
SCHEMA = {"postgres": "public", "sqlite": "main", "duckdb": "main", "datafusion": "public"}


def _spec(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> ConnectionSpec:
    if engine == "postgres":
        return request.getfixturevalue("pg")
    if engine == "sqlite":
        return ConnectionSpec("t", "sqlite", path=str(tmp_path / "t.sqlite"))
    if engine == "duckdb":
        return ConnectionSpec("t", "duckdb", path=str(tmp_path / "t.duckdb"))
    return ConnectionSpec("t", "datafusion")


@pytest.fixture(
    params=[pytest.param(e, marks=pytest.mark.postgres) if e == "postgres" else e for e in ENGINES]
    # The app runs in-process engines in a worker process (tusk.engines.isolation): the same
    # contract holds through it.
    + [f"{e}-worker" for e in isolation.IN_PROCESS]
)
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Case]:
    """A fresh connection per engine; PostgreSQL tables are dropped afterwards."""
    engine, _, where = str(request.param).partition("-")
    spec = _spec(engine, tmp_path, request)
    conn = isolation.connect(spec) if where == "worker" else connect(spec)
    if engine == "postgres":
        conn.execute("drop schema public cascade; create schema public")
    yield Case(engine, conn, PLACEHOLDER[engine], LONG[engine], HUGE[engine], SCHEMA[engine])
    conn.close()


def _numbers(n: int) -> pa.Table:
    return pa.table({"id": pa.array(range(n), pa.int64()), "label": [f"row {i}" for i in range(n)]})


def test_engine_flags_are_declared() -> None:
    """Optional abilities are class flags, never hasattr()."""
    for name in ENGINES:
        cls = engine_class(name)
        assert cls.name == name
        assert isinstance(cls.supports_cancel, bool)
        assert cls.paramstyle


def test_select_returns_arrow(case: Case) -> None:
    """A simple select comes back as an Arrow table with names and values."""
    result = case.conn.execute("select 1 as a, 'x' as b")
    assert isinstance(result.table, pa.Table)
    assert result.columns == ["a", "b"]
    assert result.table.to_pylist() == [{"a": 1, "b": "x"}]
    assert result.truncated is False
    assert result.elapsed_s >= 0


def test_limit_fetches_limit_plus_one(case: Case) -> None:
    """limit=N returns N rows and says more exist; limit=None returns everything."""
    case.conn.load_arrow("numbers", _numbers(2500))
    page = case.conn.execute("select * from numbers", limit=100)
    assert page.table.num_rows == 100
    assert page.truncated is True
    exact = case.conn.execute("select * from numbers", limit=2500)
    assert exact.table.num_rows == 2500 and exact.truncated is False
    everything = case.conn.execute("select * from numbers", limit=None)
    assert everything.table.num_rows == 2500 and everything.truncated is False


def test_huge_result_is_not_pulled(case: Case) -> None:
    """Two billion rows with limit=10: returns at once with 10 rows (pulling all would not)."""
    result = case.conn.execute(case.huge_query, limit=10)
    assert result.table.num_rows == 10
    assert result.truncated is True
    assert case.conn.execute("select 1 as ok").table.to_pylist() == [{"ok": 1}]


def test_ddl_and_dml_report_affected_rows(case: Case) -> None:
    """INSERT/UPDATE/DELETE say how many rows they touched."""
    case.conn.execute("create table items (id int, name varchar(20))")
    ins = case.conn.execute("insert into items values (1, 'a'), (2, 'b'), (3, 'c')")
    assert ins.affected_rows == 3
    assert ins.table.num_columns == 0  # no result set, only a count
    if case.engine != "datafusion":  # DataFusion's memory tables take no UPDATE/DELETE
        upd = case.conn.execute("update items set name = 'z' where id >= 2")
        assert upd.affected_rows == 2
        dele = case.conn.execute("delete from items where id = 1")
        assert dele.affected_rows == 1
        assert case.conn.execute("select count(*) as n from items").table.to_pylist() == [{"n": 2}]


def test_script_runs_every_statement_and_returns_the_last(case: Case) -> None:
    """A script separated by semicolons runs in order; the last result comes back."""
    result = case.conn.execute(
        "create table s (x int); insert into s values (1), (2); -- a comment; not a statement\n"
        "select x from s order by x"
    )
    assert result.table.column("x").to_pylist() == [1, 2]


TRICKY = {  # semicolons inside the engine's own literals, names and comments (tusk.sqltext)
    "postgres": "select 'x;' as z /* ; /* ; */ ; */;\n"
    "select E'it\\'s; here' as a, $$a;b$$ as b, 'C:\\' as c -- ;",
    "sqlite": "select 'x;' as z /* ; */;\n"
    "select 'it''s; here' as a, `b;` as b, 'C:\\' as c from (select 'a;b' as `b;`) -- ;",
}
TRICKY["duckdb"] = TRICKY["datafusion"] = TRICKY["postgres"]


def test_script_splits_on_the_engines_own_rules(case: Case) -> None:
    """E'…' escapes, dollar quotes, nested comments, backslashes in plain strings and quoted
    names: the script is cut only where the engine itself would cut it."""
    result = case.conn.execute(TRICKY[case.engine])
    assert result.table.to_pylist() == [{"a": "it's; here", "b": "a;b", "c": "C:\\"}]


def test_params_are_bound(case: Case) -> None:
    """Values travel as parameters, never spliced into SQL."""
    result = case.conn.execute(f"select {case.placeholder} as v", [HOSTILE])
    assert result.table.to_pylist() == [{"v": HOSTILE}]


def test_bad_sql_raises_query_failed_and_connection_survives(case: Case) -> None:
    """The database's message reaches the user; the connection keeps working."""
    with pytest.raises(QueryFailed) as info:
        case.conn.execute("selec 1")
    assert "selec" in info.value.message.lower()
    with pytest.raises(QueryFailed):
        case.conn.execute("select * from no_such_table_here")
    assert case.conn.execute("select 2 as ok").table.to_pylist() == [{"ok": 2}]


def cancel_while_running(case: Case, work: Callable[[], object], what: str) -> None:
    """Start `work` on a thread, cancel from this one: it must end with QueryCancelled within
    seconds (the queries run for minutes) and leave the connection usable."""
    outcome: dict[str, BaseException | object] = {}

    def run() -> None:
        try:
            outcome["result"] = work()
        except BaseException as exc:  # noqa: BLE001 - the test inspects whatever came out
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(0.7)
    assert worker.is_alive(), f"the long {what} finished before it could be cancelled"
    case.conn.cancel()
    worker.join(20)
    assert not worker.is_alive(), f"cancel did not stop the {what}"
    assert isinstance(outcome.get("error"), QueryCancelled), outcome
    assert case.conn.execute("select 3 as ok").table.to_pylist() == [{"ok": 3}]


def test_cancel_from_another_thread(case: Case) -> None:
    """A long query stops when cancelled from another thread; the connection stays usable."""
    assert engine_class(case.engine).supports_cancel
    cancel_while_running(case, lambda: case.conn.execute(case.long_query), "query")


def test_catalog_lists_tables_views_columns_and_keys(case: Case) -> None:
    """Schemas → tables/views → columns, with PK/FK where the engine records them."""
    if case.engine == "datafusion":
        case.conn.execute("create table parent (id int, name varchar)")
        case.conn.execute("create table child (id int, parent_id int)")
    else:
        case.conn.execute("create table parent (id int primary key, name varchar(50) not null)")
        case.conn.execute(
            "create table child (id int primary key, parent_id int references parent(id))"
        )
    case.conn.execute("create view parent_names as select name from parent")
    catalog = case.conn.catalog()
    assert isinstance(catalog, Catalog)
    assert case.schema in catalog.schemas()
    parent = catalog.table("parent", case.schema)
    assert [c.name for c in parent.columns] == ["id", "name"]
    assert catalog.table("parent_names", case.schema).kind == "view"
    if case.engine != "datafusion":
        assert parent.primary_key == ("id",)
        assert parent.column("id").primary_key
        assert not parent.column("name").nullable
        (fk,) = catalog.table("child", case.schema).foreign_keys
        assert fk.columns == ("parent_id",)
        assert (fk.ref_table, fk.ref_columns) == ("parent", ("id",))


def test_stream_arrow_returns_the_full_result(case: Case) -> None:
    """stream_arrow yields every row, in batches with one schema."""
    case.conn.load_arrow("numbers", _numbers(120_000))
    batches = list(case.conn.stream_arrow("select id, label from numbers"))
    assert batches
    table = pa.Table.from_batches(batches)
    assert table.num_rows == 120_000
    assert sorted(table.column("id").to_pylist())[:3] == [0, 1, 2]


def test_stream_arrow_takes_a_statement_as_typed(case: Case) -> None:
    """A `;` and comments around the one statement do not break the bulk path."""
    for sql in ("-- head\nselect 1 as x; -- done", "select 1 as x -- done"):
        table = pa.Table.from_batches(list(case.conn.stream_arrow(sql)))
        assert table.to_pylist() == [{"x": 1}], sql


def test_stream_arrow_reports_errors(case: Case) -> None:
    """A bad statement in the bulk path is a QueryFailed too."""
    with pytest.raises(QueryFailed):
        list(case.conn.stream_arrow("select * from no_such_table_here"))


def test_load_arrow_modes(case: Case) -> None:
    """create makes a table, append adds rows, replace starts over."""
    assert case.conn.load_arrow("loaded", _numbers(10), mode="create") == 10
    assert case.conn.load_arrow("loaded", _numbers(5), mode="append") == 5
    count = "select count(*) as n from loaded"
    assert case.conn.execute(count).table.to_pylist() == [{"n": 15}]
    assert case.conn.load_arrow("loaded", _numbers(3), mode="replace") == 3
    assert case.conn.execute(count).table.to_pylist() == [{"n": 3}]
    with pytest.raises(QueryFailed):
        case.conn.load_arrow("loaded", _numbers(3), mode="create")


def test_hostile_table_name_is_quoted(case: Case) -> None:
    """A table called `x"; drop table y; --` is created as named and drops nothing."""
    case.conn.load_arrow("y", _numbers(2))
    case.conn.load_arrow(HOSTILE, _numbers(4))
    names = {t.name for t in case.conn.catalog().tables}
    assert {"y", HOSTILE} <= names
    assert case.conn.execute("select count(*) as n from y").table.to_pylist() == [{"n": 2}]


def test_error_position_when_the_engine_gives_one(case: Case) -> None:
    """Syntax errors point at the offending token, counted in the whole script."""
    script = "select 1;\nselect 1 frm x"
    with pytest.raises(QueryFailed) as info:
        case.conn.execute(script)
    if case.engine == "sqlite":  # SQLite reports no position
        assert info.value.position is None
    else:
        assert info.value.position is not None
        assert script[info.value.position - 1] == "x"


def test_cancel_with_nothing_running_is_harmless(case: Case) -> None:
    """A stray cancel does not break the next statement."""
    case.conn.cancel()
    assert case.conn.execute("select 4 as ok").table.to_pylist() == [{"ok": 4}]


def test_row_estimates_where_the_engine_keeps_statistics(case: Case) -> None:
    """PostgreSQL (after ANALYZE) and DuckDB report row estimates; others say unknown."""
    case.conn.load_arrow("counted", _numbers(1234))
    if case.engine == "postgres":
        case.conn.execute("analyze counted")
    estimate = case.conn.catalog().table("counted", case.schema).row_estimate
    if case.engine in ("postgres", "duckdb"):
        assert estimate == 1234
    else:
        assert estimate is None


def test_cancel_stops_a_stream(case: Case) -> None:
    """cancel() also stops a full-result stream (export, ETL), which may run on its own cursor."""
    stream = case.conn.stream_arrow
    cancel_while_running(case, lambda: sum(1 for _ in stream(case.long_query)), "stream")


TODAY = object()  # the expected value of current_date (the server's day, within one day)

# Common scalar functions and the value each engine returns. A dict gives the SQL per engine
# where one spells it differently; an engine missing from it lacks the function.
SCALARS: list[tuple[str | dict[str, str], object]] = [
    ("lower('AbC')", "abc"),
    ("upper('AbC')", "ABC"),
    ("length('abcd')", 4),
    ("substr('abcdef', 2, 3)", "bcd"),
    ("trim('  x  ')", "x"),
    ("replace('hello', 'l', 'L')", "heLLo"),
    ("'ab' || 'cd'", "abcd"),
    ({e: "concat('ab', 'cd', 1)" for e in ENGINES if e != "sqlite"}, "abcd1"),
    ({**{e: "strpos('abc', 'b')" for e in ENGINES}, "sqlite": "instr('abc', 'b')"}, 2),
    ({e: "lpad('7', 3, '0')" for e in ENGINES if e != "sqlite"}, "007"),
    ("coalesce(NULL, 'x')", "x"),
    ("nullif(1, 1)", None),
    ("lower(NULL)", None),
    ("case when 1 < 2 then 'yes' else 'no' end", "yes"),
    ("abs(-7)", 7),
    ("round(2.567, 2)", 2.57),
    ("7 % 3", 1),
    ("7.0 / 2", 3.5),
    ("power(2, 10)", 1024),
    ("sqrt(16)", 4),
    ("floor(2.7)", 2),
    ("ceil(2.2)", 3),
    ({**{e: "greatest(1, 5, 3)" for e in ENGINES}, "sqlite": "max(1, 5, 3)"}, 5),
    ("cast('42' as integer)", 42),
    ("cast(7 as varchar)", "7"),
    ("cast(1.5 as double precision)", 1.5),
    ("current_date", TODAY),
    ({**{e: "now() is not null" for e in ENGINES}, "sqlite": "datetime('now') is not null"}, True),
]


def _same(got: object, expected: object) -> bool:
    """Engines agree on the value, not the type: PostgreSQL's numeric arrives as exact text,
    DuckDB's as Decimal, SQLite's dates as text."""
    if expected is TODAY:
        today = datetime.date.today()
        days = (today - datetime.timedelta(days=1), today, today + datetime.timedelta(days=1))
        return str(got) in {d.isoformat() for d in days}
    if isinstance(expected, bool) or expected is None:
        return got == expected
    if isinstance(expected, int | float):
        return got is not None and Decimal(str(got)) == Decimal(str(expected))
    return got == expected


def test_common_scalar_functions(case: Case) -> None:
    """Each common scalar function returns its value, through execute and through the bulk
    path alike, and both paths report the same schema (DataFusion's plan says nullable where
    its batches say NOT NULL, and string where they hold string_view)."""
    wrong = []
    for sql, expected in SCALARS:
        text = sql if isinstance(sql, str) else sql.get(case.engine)
        if text is None:
            continue
        query = f"select {text} as v"
        table = case.conn.execute(query).table
        streamed = pa.Table.from_batches(list(case.conn.stream_arrow(query)))
        got = table.column("v").to_pylist()
        if len(got) != 1 or not _same(got[0], expected):
            wrong.append(f"{text}: {got!r}, expected {expected!r}")
        if streamed.schema != table.schema or streamed.to_pylist() != table.to_pylist():
            wrong.append(f"{text}: stream_arrow gave {streamed.schema}, execute {table.schema}")
    assert not wrong, "\n".join(wrong)
