"""Column profiles computed by the engine over the full result, on every engine."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from tusk.engines.base import Connection
from tusk.engines.registry import connect
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput
from tusk.profile import ColumnProfile, histogram, profile, top_values
from tusk.queries import Statement, bind

HOSTILE = 'x"; drop table y; --'
ROWS = 3000

# id, a number with nulls, a float, a text column with a hostile name, a date
_VALUES = "select i as id, case when i % 10 = 0 then null else i % 7 end as n, i * 0.5 as f, "


def _rows() -> list[tuple[int, int | None, float, str | None]]:
    return [
        (i, None if i % 10 == 0 else i % 7, i * 0.5, None if i % 3 == 0 else f"v{i % 5}")
        for i in range(1, ROWS + 1)
    ]


def _load(conn: Connection, engine: str) -> None:
    """The same rows in table `p` on any engine."""
    q = '"x""; drop table y; --"'
    conn.execute(
        f"create table p (id integer primary key, n integer, f double precision, {q} text)"
    )
    arrow = pa.table(
        {
            "id": [r[0] for r in _rows()],
            "n": [r[1] for r in _rows()],
            "f": [r[2] for r in _rows()],
            HOSTILE: [r[3] for r in _rows()],
        }
    )
    conn.load_arrow("p", arrow.to_batches(), mode="append")


@pytest.fixture(params=["duckdb", "sqlite", "postgres", "datafusion"])
def engine(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[ConnectionSpec, Connection]]:
    """A connection of each engine holding table p (PostgreSQL: the test server)."""
    name = request.param
    if name == "postgres":
        request.applymarker(pytest.mark.postgres)
        spec = request.getfixturevalue("pg").with_changes(name="pg")
        conn = connect(spec)
        conn.execute("drop table if exists p")
    elif name == "datafusion":
        folder = tmp_path / "df"
        folder.mkdir()
        spec = ConnectionSpec("df", "datafusion", path=str(folder))
        conn = connect(spec)
    else:
        suffix = "duckdb" if name == "duckdb" else "sqlite"
        spec = ConnectionSpec(name, name, path=str(tmp_path / f"p.{suffix}"))
        conn = connect(spec)
    if name == "datafusion":
        import pyarrow.parquet as pq

        pq.write_table(
            pa.table(
                {
                    "id": [r[0] for r in _rows()],
                    "n": [r[1] for r in _rows()],
                    "f": [r[2] for r in _rows()],
                    HOSTILE: [r[3] for r in _rows()],
                }
            ),
            Path(spec.path or "") / "p.parquet",
        )
        conn.close()
        conn = connect(spec)
    else:
        _load(conn, name)
    yield spec, conn
    if name == "postgres":
        conn.execute("drop table p")
    conn.close()


def _by_name(profiles: list[ColumnProfile]) -> dict[str, ColumnProfile]:
    return {p.name: p for p in profiles}


def _preview(conn: Connection, sql: str) -> pa.Schema:
    return conn.execute(sql, limit=10).table.schema


def test_profile_matches_the_data(engine: tuple[ConnectionSpec, Connection]) -> None:
    """Counts, nulls, exact distincts, min/max, mean and stddev equal what Python computes
    from the same rows; the hostile column name is just a name."""
    spec, conn = engine
    sql = "select * from p;  -- the whole table\n"
    got = _by_name(profile(spec, conn, Statement.plain(sql), _preview(conn, sql), exact=True))
    rows = _rows()
    assert set(got) == {"id", "n", "f", HOSTILE}
    n_values = [r[1] for r in rows if r[1] is not None]
    n = got["n"]
    assert (n.rows, n.nulls, n.distinct) == (ROWS, ROWS - len(n_values), 7)
    assert not n.distinct_approximate
    assert (n.minimum, n.maximum) == (0, 6)
    assert n.mean == pytest.approx(statistics.fmean(n_values))
    assert n.stddev == pytest.approx(statistics.stdev(n_values))
    assert n.null_share == pytest.approx(0.1)
    f = got["f"]
    assert (f.minimum, f.maximum) == (0.5, ROWS * 0.5)
    assert f.numeric and f.stddev == pytest.approx(statistics.stdev(r[2] for r in rows))
    text = got[HOSTILE]
    assert not text.numeric and text.mean is None
    assert (text.nulls, text.distinct, text.minimum, text.maximum) == (1000, 5, "v0", "v4")


def test_top_values_and_histogram(engine: tuple[ConnectionSpec, Connection]) -> None:
    """Top values count every row (NULL too); histogram bins cover min..max and every
    non-null row lands in one."""
    spec, conn = engine
    statement = Statement.plain("select * from p")
    top = top_values(spec, conn, statement, HOSTILE)
    assert top[0] == (None, 1000)
    assert sum(count for _, count in top) == ROWS
    assert {value for value, _ in top} == {None, "v0", "v1", "v2", "v3", "v4"}
    (f,) = [
        p for p in profile(spec, conn, statement, _preview(conn, statement.sql)) if p.name == "f"
    ]
    bins = histogram(spec, conn, statement, f, bins=10)
    assert len(bins) == 10
    assert bins[0][0] == 0.5 and bins[-1][1] == pytest.approx(ROWS * 0.5)
    assert sum(count for *_, count in bins) == ROWS
    assert all(count == 300 for *_, count in bins[1:-1])  # evenly spread values


def test_estimates_are_marked(tmp_path: Path) -> None:
    """Without `exact`, DuckDB's distinct count is its estimate, and says so."""
    spec = ConnectionSpec("d", "duckdb", path=str(tmp_path / "d.duckdb"))
    conn = connect(spec)
    sql = "select i % 1000 as k from range(200000) t(i)"
    (k,) = profile(spec, conn, Statement.plain(sql), _preview(conn, sql))
    assert k.distinct_approximate
    assert math.isclose(k.distinct or 0, 1000, rel_tol=0.3)  # DuckDB's HyperLogLog is rough
    (exact,) = profile(spec, conn, Statement.plain(sql), _preview(conn, sql), exact=True)
    assert (exact.distinct, exact.distinct_approximate) == (1000, False)
    conn.close()


def test_parameters_and_a_wide_result_on_sqlite(tmp_path: Path) -> None:
    """A statement with `:name` parameters profiles with its values; 400 columns (past
    SQLite's 2,000 result columns once aggregated) are profiled in batches."""
    spec = ConnectionSpec("s", "sqlite", path=str(tmp_path / "w.sqlite"))
    conn = connect(spec)
    conn.execute("create table t (v integer)")
    conn.execute(
        "with recursive s(v) as (select 1 union all select v + 1 from s where v < 100) "
        "insert into t select v from s"
    )
    statement = bind("select v from t where v <= :top", {"top": 40}, "sqlite")
    schema = conn.execute(statement.sql, statement.params, limit=5).table.schema
    (v,) = profile(spec, conn, statement, schema)
    assert (v.rows, v.maximum, v.distinct) == (40, 40, 40)
    wide = "select " + ", ".join(f"v + {i} as c{i}" for i in range(400)) + " from t"
    got = profile(spec, conn, Statement.plain(wide), _preview(conn, wide))
    assert len(got) == 400
    assert (got[399].minimum, got[399].maximum) == (400, 499)
    conn.close()


def test_bad_input_is_refused_with_a_reason(tmp_path: Path) -> None:
    """Duplicate column names and empty SQL are refused with a reason (permissions: see
    tests/test_auth_actions.py)."""
    spec = ConnectionSpec("d", "duckdb", path=str(tmp_path / "d.duckdb"))
    conn = connect(spec)
    two = pa.schema([("a", pa.int32()), ("a", pa.int32())])
    with pytest.raises(BadInput, match="same name"):
        profile(spec, conn, Statement.plain("select 1 as a, 2 as a"), two)
    with pytest.raises(BadInput, match="no statement"):
        profile(spec, conn, Statement.plain(" ; "), pa.schema([("a", pa.int32())]))
    conn.close()
