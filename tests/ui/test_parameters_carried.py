"""A parameterised query's values travel with it after the run (issue 15, part 1): export in
every format, "Save to a data root" and the map's full GeoJSON export use the values the grid
was run with, on every engine; `:name` works in any statement of a script; history keeps the
text as typed with its values, and puts both back."""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import pg_spec
from tests.ui.conftest import STUDIO, open_page, result_view, settle, studio_side
from tusk import config, connections
from tusk.engines.spec import ConnectionSpec
from tusk.store import history
from tusk.ui.editor import editor_key
from tusk.ui.studio import tabs as qtabs

QUERY = "select x from t where x > :lo order by x"
EXPECTED = [6, 7, 8, 9, 10]
_ids = itertools.count()


def _duckdb(folder: Path) -> ConnectionSpec:
    path = folder / "t.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create table t as select range::int as x from range(1, 11)")
    return ConnectionSpec("duck file", "duckdb", path=str(path))


def _sqlite(folder: Path) -> ConnectionSpec:
    path = folder / "t.sqlite"
    con = sqlite3.connect(path)
    con.execute("create table t (x integer)")
    con.executemany("insert into t values (?)", [(i,) for i in range(1, 11)])
    con.commit()
    con.close()
    return ConnectionSpec("lite", "sqlite", path=str(path))


def _datafusion(folder: Path) -> ConnectionSpec:
    data = folder / "fusion"
    data.mkdir()
    pq.write_table(pa.table({"x": pa.array(range(1, 11), pa.int64())}), data / "t.parquet")
    return ConnectionSpec("fusion", "datafusion", path=str(data))


def _postgres(folder: Path, make_database: Callable[[], str]) -> ConnectionSpec:
    spec = pg_spec(make_database(), name="pg")
    conninfo = (
        f"host={spec.host} port={spec.port} dbname={spec.database} user={spec.user} "
        f"password={spec.password}"
    )
    with psycopg.connect(conninfo, autocommit=True) as con:
        con.execute("create table t as select generate_series(1, 10) as x")
    return spec


ENGINES = {
    "duckdb": _duckdb,
    "sqlite": _sqlite,
    "datafusion": _datafusion,
    "postgres": _postgres,
}


@pytest.fixture(params=list(ENGINES))
def engine_spec(
    request: pytest.FixtureRequest, tmp_path: Path
) -> ConnectionSpec:  # the saved connection, holding table t with x = 1 … 10
    name = request.param
    if name == "postgres":
        request.applymarker(pytest.mark.postgres)
        spec = _postgres(tmp_path, request.getfixturevalue("make_database"))
    else:
        spec = ENGINES[name](tmp_path)
    connections.add(spec)
    return spec


def _active(at: AppTest) -> qtabs.QueryTab:
    wanted = at.session_state[qtabs.ACTIVE_KEY]
    return next(t for t in at.session_state["studio_tabs"] if t.id == wanted)


def _submit(at: AppTest, sql: str) -> None:
    """What the editor sends on Ctrl+Enter."""
    tab = _active(at)
    at.session_state[editor_key(tab.id, tab.editor_version)] = {
        "id": f"pc{next(_ids)}",
        "type": "submit",
        "lang": "sql",
        "text": sql,
        "selected": "",
        "cursor": {"row": 0, "column": 0},
    }
    settle(at.run())
    assert not at.exception


def _run_with(at: AppTest, sql: str, values: dict[str, str]) -> None:
    """Type SQL, fill its parameter inputs, press Run."""
    _submit(at, sql)  # the first submit asks for the values
    tab = _active(at)
    for name, value in values.items():
        at.text_input(key=f"param_{tab.id}_{name}").set_value(value)
    at.run()
    settle(at.button(key="studio_run").click().run())
    assert not at.exception
    assert not at.error, [e.value for e in at.error]


def _studio_on(spec: ConnectionSpec) -> AppTest:
    at = open_page(STUDIO)
    tab = _active(at)
    at.selectbox(key=f"studio_conn_{tab.id}").set_value(spec.name).run()
    assert _active(at).connection == spec.name
    return at


def _column_x(path: Path, fmt: str) -> list[int]:
    if fmt == "csv":
        lines = path.read_text().splitlines()
        return [int(v) for v in lines[1:]]
    if fmt == "json":
        data = json.loads(path.read_text())
        rows = data if isinstance(data, list) else data.get("rows", data)
        return [int(r["x"]) for r in rows]
    return [int(v) for v in pq.read_table(path).column("x").to_pylist()]


def test_export_and_save_to_root_use_the_values(engine_spec: ConnectionSpec, tmp_path: Path):
    """Export (CSV, JSON, Parquet) and Save to a data root of `x > :lo` with lo = 5."""
    root = tmp_path / "root"
    root.mkdir()
    config.set_value("data_roots", str(root))
    at = _studio_on(engine_spec)
    _run_with(at, QUERY, {"lo": "5"})
    tab = _active(at)
    (o,) = tab.outcomes
    assert o.result.table.column("x").to_pylist() == EXPECTED
    assert o.statement.text == QUERY and dict(o.statement.values) == {"lo": 5}
    result_view(at, "Export")
    key = f"export_{tab.id}_0"
    for fmt in ("csv", "json", "parquet"):
        at.session_state[f"{key}_fmt"] = fmt
        at.run()
        at.button(key=f"{key}_go").click().run()
        assert not at.error, [e.value for e in at.error]
        path, got_fmt, rows = at.session_state[f"{key}_file"]
        assert (got_fmt, rows) == (fmt, len(EXPECTED))
        assert _column_x(Path(path), fmt) == EXPECTED, fmt
        at.text_input(key=f"{key}_path").set_value(f"saved-{fmt}.{fmt}")
        at.button(key=f"{key}_save").click().run()
        assert not at.error, [e.value for e in at.error]
        assert _column_x(root / f"saved-{fmt}.{fmt}", fmt) == EXPECTED, fmt


def test_map_full_export_uses_the_values(engine_spec: ConnectionSpec) -> None:
    """The Map view's full GeoJSON export streams the query with its values (lat/lon columns,
    which every engine has; DuckDB's own geometry type below)."""
    at = _studio_on(engine_spec)
    sql = "select x, x * 1.0 as lat, x * 2.0 as lon from t where x > :lo order by x"
    _map_export(at, sql)


def test_map_full_export_of_a_geometry_column_uses_the_values() -> None:
    """The same for a DuckDB spatial geometry on the demo connection."""
    at = open_page(STUDIO)
    _map_export(at, "select x, st_point(x, x / 2) as geom from range(1, 11) r(x) where x > :lo")


def _map_export(at: AppTest, sql: str) -> None:
    _run_with(at, sql, {"lo": "5"})
    tab = _active(at)
    assert tab.outcomes[0].result.table.num_rows == len(EXPECTED)
    result_view(at, "Map")
    key = f"map_{tab.id}_0"
    at.toggle(key=f"{key}_show").set_value(True).run()
    at.button(key=f"{key}_geojson_full").click().run()
    assert not at.error, [e.value for e in at.error]
    data, features = at.session_state[f"{key}_geojson_file"]
    assert features == len(EXPECTED)
    xs = sorted(int(f["properties"]["x"]) for f in json.loads(data)["features"])
    assert xs == EXPECTED


def test_parameters_in_any_statement_of_a_script() -> None:
    """`:a` in the first of three statements and `:c` in the last: each bound on its own."""
    at = open_page(STUDIO)
    _run_with(at, "select :a as a;\nselect 2 as b;\nselect :c as c", {"a": "1", "c": "'three'"})
    found = _active(at).outcomes
    assert [o.result.table.to_pylist() for o in found] == [[{"a": 1}], [{"b": 2}], [{"c": "three"}]]
    assert [dict(o.statement.values) for o in found] == [{"a": 1}, {}, {"c": "three"}]


def test_history_keeps_the_text_as_typed_and_puts_the_values_back() -> None:
    """History stores `… > :lo` (not `… > ?`) with lo = 5, shows it, and Edit puts both back."""
    at = open_page(STUDIO)
    sql = "select range as x from range(1, 11) where range > :lo"
    _run_with(at, sql, {"lo": "5"})
    (entry,) = history.search(connection="demo", limit=1)
    assert entry.statement == sql
    assert dict(entry.values) == {"lo": 5}
    _submit(at, "select 1 as other")
    studio_side(at, "History")
    assert any(":lo = 5" in c.value for c in at.caption)
    at.button(key=f"hist_edit_{entry.id}").click().run()
    tab = _active(at)
    assert tab.sql == sql
    assert at.text_input(key=f"param_{tab.id}_lo").value == "5"
