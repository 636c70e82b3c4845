"""`:name` parameters: finding them, binding them on real engines, reading widget values."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tusk import params
from tusk.engines.base import Connection
from tusk.engines.registry import connect, engine_class
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput

HOSTILE = "x'; drop table y; --"

# --- find ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "names"),
    [
        ("select :a, :b, :a", ["a", "b"]),
        ("select * from t where id = :id and name=:Name", ["id", "Name"]),
        ("select :_x1, :x_2", ["_x1", "x_2"]),
        ("select (:a)+:b,:c", ["a", "b", "c"]),
        ("select :naïve, :名前", ["naïve", "名前"]),
        ("select ':no', :yes", ["yes"]),
        ("select 'it''s :no', :yes", ["yes"]),
        ("select 'C:\\path', :p", ["p"]),  # a plain string ends at the quote after a backslash
        ("select E'it\\'s :no', :yes", ["yes"]),
        ("'\\', :yes", ["yes"]),  # a string at offset 0 is not an E'' string
        ("select e'\\\\', :yes", ["yes"]),
        ("select '12:30:00'::time, :t", ["t"]),
        ('select "odd:col", "a"":b" from t where x = :x', ["x"]),
        ("select `a:b`, :c", ["c"]),
        ("select $$ :no $$, :yes", ["yes"]),
        ("select $fn$ :no $$ :still_no $$ $fn$, :yes", ["yes"]),
        ("select :a -- :no\n, :b", ["a", "b"]),
        ("select /* :no /* nested :no */ still :no */ :yes", ["yes"]),
        ("select x::int, 'a'::text, :n::int, :m :: int", ["n", "m"]),
        ("select arr[1:2], arr[lo:hi], arr[1:n], f(x)[2:3]", []),
        ("select arr[1][2:3], arr[:hi]", ["hi"]),
        ("select f(a => 1), g(b := 2)", []),
        ("select :1, :$x, : a", []),
        ("select a$b:c", []),
        ("select 'unterminated :no", []),
        ("select :a, 'unterminated :no", ["a"]),
        ("select $$ unterminated :no", []),
        ("", []),
    ],
)
def test_find(sql: str, names: list[str]) -> None:
    """Parameters in code only: not in literals, identifiers, comments, casts or slices."""
    assert params.find(sql) == names


# --- bind: the rewritten text --------------------------------------------------------------------


def test_bind_each_style() -> None:
    """Each paramstyle gets its own placeholders; repeats bind the same value."""
    sql = "select :a, :b, :a"
    values = {"a": 1, "b": "two", "unused": 3}
    assert params.bind(sql, values, "qmark") == ("select ?, ?, ?", [1, "two", 1])
    assert params.bind(sql, values, "format") == ("select %s, %s, %s", [1, "two", 1])
    assert params.bind(sql, values, "numeric_dollar") == ("select $1, $2, $1", [1, "two"])


def test_bind_keeps_literals_and_casts() -> None:
    """Only real parameters change; casts stay casts."""
    sql = "select ':a', :a::int, \"col:a\" -- :a\n"
    assert params.bind(sql, {"a": "5"}, "numeric_dollar") == (
        "select ':a', $1::int, \"col:a\" -- :a\n",
        ["5"],
    )


def test_bind_doubles_percent_for_format_only_with_parameters() -> None:
    """psycopg reads % only when params are passed: double it then, and only then."""
    sql = "select :a as a, '100%' as pct -- 5% off"
    assert params.bind(sql, {"a": 1}, "format") == (
        "select %s as a, '100%%' as pct -- 5%% off",
        [1],
    )
    assert params.bind(sql, {"a": 1}, "qmark")[0] == "select ? as a, '100%' as pct -- 5% off"
    assert params.bind("select '100%'", {}, "format") == ("select '100%'", None)


def test_bind_without_parameters_returns_none() -> None:
    """No parameters: the SQL is untouched and params is None for every style."""
    for style in params.PARAMSTYLES:
        assert params.bind("select 1; select '%'", {"a": 1}, style) == (
            "select 1; select '%'",
            None,
        )


def test_bind_missing_values_are_named() -> None:
    """Every missing parameter is named, in order of appearance."""
    with pytest.raises(BadInput, match=r"Give a value for :b, :c") as err:
        params.bind("select :b, :a, :c, :b", {"a": 1}, "qmark")
    assert err.value.title == "Missing parameters"
    with pytest.raises(BadInput, match=r":x\b") as err:
        params.bind("select :x", {}, "format")
    assert err.value.title == "Missing parameter"


def test_bind_none_is_a_value_not_missing() -> None:
    """A parameter set to None binds NULL."""
    assert params.bind("select :a", {"a": None}, "qmark") == ("select ?", [None])


def test_bind_parameters_only_in_the_last_statement() -> None:
    """Engines pass params to a script's last statement, so earlier ones may not use them."""
    sql = "create table t as select '5%' as v;\n-- :no\nselect v, :a from t; -- 1%\n"
    assert params.bind(sql, {"a": 1}, "format") == (
        "create table t as select '5%' as v;\n-- :no\nselect v, %s from t; -- 1%%\n",
        [1],
    )
    with pytest.raises(BadInput, match=r":a is in statement 1 of 2") as err:
        params.bind("insert into t values (:a); select * from t", {"a": 1}, "qmark")
    assert "last statement" in err.value.message
    with pytest.raises(BadInput, match=r":b is in statement 2 of 3"):
        params.bind("select 1; select :b; select :c;", {"b": 1, "c": 2}, "qmark")
    # Semicolons inside literals and comments don't split statements.
    assert params.bind("select ';' /* ; */, :a", {"a": 1}, "qmark")[1] == [1]
    # The case: PostgreSQL's E'' string holds the semicolon.
    assert params.bind(r"select E'it\'s; here'; select :a", {"a": 1}, "format") == (
        r"select E'it\'s; here'; select %s",
        [1],
    )


def test_bind_one_statement_as_typed() -> None:
    """A statement's text as sqltext.split gives it (leading comments, no `;`) binds whole:
    a % in its leading comment is escaped too, since the driver reads the whole text."""
    assert params.bind("-- 5% off\nselect :a", {"a": 1}, "format") == (
        "-- 5%% off\nselect %s",
        [1],
    )


def test_bind_follows_the_dialect() -> None:
    """What hides a `:name` is the engine's rule: SQLite has no E'' strings or dollar quotes,
    PostgreSQL no backtick names."""
    sql = "select $$ :x $$, `:y`, :z"
    assert params.find(sql, dialect="postgres") == ["z"]
    assert params.find(sql, dialect="sqlite") == ["x", "z"]
    assert params.bind(sql, {"z": 1}, "numeric_dollar", dialect="postgres") == (
        "select $$ :x $$, `:y`, $1",
        [1],
    )
    with pytest.raises(BadInput, match=":x"):
        params.bind(sql, {"z": 1}, "qmark", dialect="sqlite")


def test_bind_unknown_paramstyle_is_a_programming_error() -> None:
    """A style no engine uses is a bug, not user input."""
    with pytest.raises(ValueError, match="paramstyle"):
        params.bind("select :a", {"a": 1}, "pyformat")


# --- bind on real engines ------------------------------------------------------------------------


def _sqlite(tmp_path: Path) -> ConnectionSpec:
    return ConnectionSpec("t", "sqlite", path=str(tmp_path / "t.db"))


def _duckdb(tmp_path: Path) -> ConnectionSpec:
    return ConnectionSpec("t", "duckdb", path=":memory:", options={"extensions": ""})


def _datafusion(tmp_path: Path) -> ConnectionSpec:
    return ConnectionSpec("t", "datafusion")


ENGINES: dict[str, Callable[[Path], ConnectionSpec]] = {
    "sqlite": _sqlite,
    "duckdb": _duckdb,
    "datafusion": _datafusion,
}

# SQLite has no `::` cast, the others do.
CASTS = {
    "sqlite": "cast(:n as integer) + 1",
    "duckdb": ":n::int + 1",
    "datafusion": ":n::int + 1",
    "postgres": ":n::int + 1",
}


@pytest.fixture(params=list(ENGINES))
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Connection]]:
    """An open connection on each in-process engine."""
    spec = ENGINES[request.param](tmp_path)
    conn = connect(spec)
    try:
        yield spec.engine, conn
    finally:
        conn.close()


def _run(name: str, conn: Connection, sql: str, values: dict[str, object]) -> list[dict]:
    bound, args = params.bind(sql, values, engine_class(name).paramstyle)
    return conn.execute(bound, args).table.to_pylist()


def _check_engine(name: str, conn: Connection) -> None:
    """The checks every engine must pass."""
    conn.execute("create table y (a int)")
    rows = _run(
        name,
        conn,
        "select :s as s, :n as n, :s as again, ':s' as lit -- :s\n",
        {"s": HOSTILE, "n": 7},
    )
    assert rows == [{"s": HOSTILE, "n": 7, "again": HOSTILE, "lit": ":s"}]
    assert conn.execute("select count(*) as c from y").table.to_pylist() == [{"c": 0}]

    rows = _run(name, conn, f"select {CASTS[name]} as m", {"n": "41"})
    assert rows == [{"m": 42}]

    rows = _run(
        name,
        conn,
        "select :f as f, :nul as nul, :t as t",
        {"f": 2.5, "nul": None, "t": "true"},
    )
    assert rows == [{"f": 2.5, "nul": None, "t": "true"}]

    rows = _run(
        name, conn, "select :v as v", {"v": params.coerce("'42'")}
    )  # a quoted widget value stays text
    assert rows == [{"v": "42"}]


def test_bind_runs_on_engines(engine: tuple[str, Connection]) -> None:
    """Hostile strings, repeats, casts and NULL bind correctly on SQLite, DuckDB, DataFusion."""
    _check_engine(*engine)


def test_bind_in_the_last_statement_of_a_script(engine: tuple[str, Connection]) -> None:
    """A script whose last statement holds the parameters runs end to end."""
    name, conn = engine
    rows = _run(
        name,
        conn,
        "create table t (v varchar);\ninsert into t values ('a:b');\n"
        "select v, :p as p from t where v <> :p",
        {"p": HOSTILE},
    )
    assert rows == [{"v": "a:b", "p": HOSTILE}]


@pytest.mark.postgres
def test_bind_runs_on_postgres(pg: ConnectionSpec) -> None:
    """PostgreSQL (format style): the same checks plus % literals, with and without params."""
    conn = connect(pg)
    try:
        conn.execute("drop table if exists y")
        _check_engine("postgres", conn)
        rows = _run("postgres", conn, "select :a as a, '100%' as pct", {"a": 1})
        assert rows == [{"a": 1, "pct": "100%"}]
        rows = _run(
            "postgres",
            conn,
            "select :p as p, 'x' like :p as hit, 'a%b' like 'a%%b' as pct -- 50%",
            {"p": "%"},
        )
        assert rows == [{"p": "%", "hit": True, "pct": True}]
        # No parameters: the SQL goes through untouched and % stays single.
        assert _run("postgres", conn, "select '100%' as pct", {}) == [{"pct": "100%"}]
        # An earlier statement runs without params, so its % must stay single too.
        rows = _run(
            "postgres",
            conn,
            "create temp table p as select '5%'::text as v;\nselect v, :a::int as a from p",
            {"a": "3"},
        )
        assert rows == [{"v": "5%", "a": 3}]
        # Dollar quotes and jsonb's ? operator are left alone.
        rows = _run(
            "postgres",
            conn,
            "select $q$:no 1%$q$ as d, '{\"k\": 1}'::jsonb ? 'k' as has, :k as k",
            {"k": "k"},
        )
        assert rows == [{"d": ":no 1%", "has": True, "k": "k"}]
    finally:
        try:
            conn.execute("drop table if exists y")
        finally:
            conn.close()


# --- coerce --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42),
        (" -7 ", -7),
        ("+3", 3),
        ("0", 0),
        ("007", "007"),
        ("4.2", 4.2),
        ("-.5", -0.5),
        ("1e3", 1000.0),
        ("2.5E-1", 0.25),
        ("true", True),
        ("FALSE", False),
        ("NULL", None),
        ("null", None),
        ("'42'", "42"),
        ("'NULL'", "NULL"),
        ("'it''s'", "it's"),
        ('"true"', "true"),
        ("''", ""),
        ("", ""),
        ("hello world", "hello world"),
        ("  padded  ", "  padded  "),
        ("1_000", "1_000"),
        ("nan", "nan"),
        ("inf", "inf"),
        ("1.2.3", "1.2.3"),
        ("'", "'"),
        (HOSTILE, HOSTILE),
        ("yes", "yes"),
    ],
)
def test_coerce(text: str, value: object) -> None:
    """Widget text becomes int, float, bool, None or text by the documented rule."""
    got = params.coerce(text)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(
    "value",
    [None, True, False, 0, -7, 42, 4.5, 1e-3, "text", "42", "007", "NULL", "true", "it's", " x "],
)
def test_text_of_reads_back_as_the_value(value: object) -> None:
    """History puts a value back into its input as text that `coerce` reads as that value."""
    assert params.coerce(params.text_of(value)) == value
    assert type(params.coerce(params.text_of(value))) is type(value)
