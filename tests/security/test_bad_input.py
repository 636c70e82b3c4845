"""Issue 13, Medium: hostile or broken input is a clear TuskError, never a raw exception, and
never acts on something other than what was asked.

Before: a NUL ended SQL inside libpq and DuckDB's parser, so `delete from t\\x00 where id = 1`
deleted every row; `load_arrow('a\\x00b')` wrote table "a" and `extensions.install('a\\x00b')`
targeted `a`; a lone surrogate raised UnicodeEncodeError/TypeError; an unknown libpq option
raised ProgrammingError (through `connections.test`, which promises never to raise); a
corrupt Parquet file made DataFusion panic (a BaseException); a CSV that is not UTF-8 or
leaves a quote open previewed as 0 rows, counted short or failed without naming the file.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import PG_PASSWORD, server_connection
from tusk import config, connections, files
from tusk.engines.base import Connection
from tusk.engines.registry import connect
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput, ConnectionFailed, QueryFailed

ENGINES = ["postgres", "sqlite", "duckdb", "datafusion"]
PLACEHOLDER = {"postgres": "%s", "sqlite": "?", "duckdb": "?", "datafusion": "$1"}
SURROGATE = "\ud800"  # half of a surrogate pair: no UTF-8 form


def _spec(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> ConnectionSpec:
    if engine == "postgres":
        return request.getfixturevalue("pg")
    if engine == "datafusion":
        return ConnectionSpec("t", "datafusion")
    return ConnectionSpec("t", engine, path=str(tmp_path / f"t.{engine}"))


@pytest.fixture(
    params=[pytest.param(e, marks=pytest.mark.postgres) if e == "postgres" else e for e in ENGINES]
)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Connection]]:
    """A fresh connection per engine holding table t with ids 1 and 2."""
    name = request.param
    conn = connect(_spec(name, tmp_path, request))
    if name == "postgres":
        conn.execute("drop schema public cascade; create schema public")
    conn.execute("create table t (id int)")
    conn.execute("insert into t values (1), (2)")
    yield name, conn
    conn.close()


def _ids(conn: Connection) -> list[int]:
    return sorted(conn.execute("select id from t").table.column("id").to_pylist())


def _tables(conn: Connection) -> set[str]:
    return {t.name for t in conn.catalog().tables}


def test_nul_in_sql_is_refused_not_cut_short(engine: tuple[str, Connection]) -> None:
    """`delete from t\\x00 where id = 1` deleted both rows on PostgreSQL and DuckDB (the C
    side read up to the NUL): now a BadInput, and nothing ran."""
    _, conn = engine
    with pytest.raises(BadInput, match="NUL"):
        conn.execute("delete from t\x00 where id = 1")
    with pytest.raises(BadInput, match="NUL"):
        list(conn.stream_arrow("select * from t\x00 where id = 1"))
    assert _ids(conn) == [1, 2]


def test_lone_surrogate_in_sql_or_params_is_bad_input(engine: tuple[str, Connection]) -> None:
    """UnicodeEncodeError (PostgreSQL), TypeError (DuckDB) or a driver message before: now
    one BadInput on every engine, for the SQL text and for a parameter."""
    name, conn = engine
    mark = PLACEHOLDER[name]
    for run in (
        lambda: conn.execute(f"select '{SURROGATE}' as x"),
        lambda: list(conn.stream_arrow(f"select '{SURROGATE}' as x")),
        lambda: conn.execute(f"select {mark} as x", [f"a{SURROGATE}"]),
        lambda: list(conn.stream_arrow(f"select {mark} as x", [f"a{SURROGATE}"])),
    ):
        with pytest.raises(BadInput, match="UTF-8"):
            run()
    assert conn.execute(f"select {mark} as x", ["Zürich 🐘"]).table.to_pylist() == [
        {"x": "Zürich 🐘"}
    ]


def test_load_arrow_refuses_a_nul_in_a_name(engine: tuple[str, Connection]) -> None:
    """load_arrow('a\\x00b') wrote table "a" on PostgreSQL and raised ValueError elsewhere:
    refused, and no table "a" appears. A NUL in a column name is refused the same way."""
    _, conn = engine
    data = pa.table({"v": [1, 2]})
    before = _tables(conn)
    for table, columns in (("a\x00b", data), ("ok", pa.table({"v\x00w": [1]}))):
        with pytest.raises(BadInput, match="NUL"):
            conn.load_arrow(table, columns.to_batches())
    with pytest.raises(BadInput, match="UTF-8"):
        conn.load_arrow(f"a{SURROGATE}", data.to_batches())
    assert _tables(conn) == before
    with pytest.raises(BadInput, match="no data"):
        conn.load_arrow("empty", [])


@pytest.mark.postgres
def test_extension_name_with_nul_is_refused(conn: Any, db: str) -> None:
    """extensions.install('hstore\\x00x') targeted hstore: refused, nothing installed."""
    from tusk.admin import extensions

    for bad in ("hstore\x00x", f"hstore{SURROGATE}"):
        with pytest.raises(BadInput):
            extensions.install(conn, None, bad)
        with pytest.raises(BadInput):
            extensions.update(conn, None, bad)
        with pytest.raises(BadInput):
            extensions.uninstall(conn, None, bad)
    with pytest.raises(BadInput, match="NUL"):
        extensions.install(conn, None, "hstore", schema="public\x00x")
    with server_connection(db) as c:
        installed = [r[0] for r in c.execute("select extname from pg_extension")]
    assert "hstore" not in installed


@pytest.mark.postgres
def test_bad_connection_settings_are_clear_and_test_never_raises(pg: ConnectionSpec) -> None:
    """An unknown libpq option raised ProgrammingError from connect and from
    connections.test; a NUL in a setting cut the connection string short (a password
    'right\\x00anything' signed in with 'right'). Each is now a BadInput, and test() says so."""
    cases = [
        (pg.with_changes(options={"no_such_option": "1"}), "no_such_option"),
        (pg.with_changes(options={"sslmode": "require\x00"}), "NUL"),
        (pg.with_changes(host=f"{pg.host}\x00evil"), "NUL"),
        (pg.with_changes(password=f"{PG_PASSWORD}\x00anything"), "password contains a NUL"),
    ]
    for spec, words in cases:
        with pytest.raises(BadInput, match=words):
            connect(spec)
        outcome = connections.test(spec)
        assert not outcome.ok and words.split()[-1] in outcome.message
        assert PG_PASSWORD not in outcome.message
    assert connections.test(pg).ok
    # A lone surrogate raised UnicodeEncodeError from connect, and from connections.add (the
    # vault and the TOML writer): the spec itself refuses it now, naming the field.
    with pytest.raises(BadInput, match="database holds a character with no UTF-8"):
        pg.with_changes(database=f"db{SURROGATE}")
    with pytest.raises(BadInput, match="password"):
        connections.add(pg.with_changes(name="p2", password=f"pw{SURROGATE}"))


def _corrupt_parquet(path: Path) -> Path:
    """A Parquet file whose embedded Arrow schema claims a 192-bit integer: DataFusion 55
    panics reading it (a pyo3 PanicException, which is a BaseException); DuckDB reads it."""
    pq.write_table(pa.table({"a": [1, 2, 3]}), path)
    data = path.read_bytes()
    schema = pq.read_metadata(path).metadata[b"ARROW:schema"]
    ipc = base64.b64decode(schema)
    bad = base64.b64encode(ipc.replace(b"\x40\x00\x00\x00", b"\xc0\x00\x00\x00", 1))
    assert len(bad) == len(schema) and data.count(schema) == 1
    path.write_bytes(data.replace(schema, bad))
    return path


def test_corrupt_parquet_is_query_failed_on_datafusion(tmp_path: Path) -> None:
    """The panic escaped `except Exception`: now a TuskError on every DataFusion path that
    reads user files — a connection's folder, a registered file and the Cluster page's
    "Run here"."""
    from tusk.cluster import client
    from tusk.engines.datafusion import DataFusionConnection

    folder = tmp_path / "lake"
    folder.mkdir()
    bad = _corrupt_parquet(folder / "bad.parquet")
    with pytest.raises(ConnectionFailed, match="bad.parquet"):
        connect(ConnectionSpec("f", "datafusion", path=str(folder)))
    conn = connect(ConnectionSpec("f", "datafusion"))
    assert isinstance(conn, DataFusionConnection)
    with pytest.raises(QueryFailed, match="internal error"):
        conn.register_file("bad", bad, "parquet")
    assert conn.execute("select 1 as one").table.to_pylist() == [{"one": 1}]  # still usable
    with pytest.raises(QueryFailed, match="DataFusion"):
        client.run_local("select * from bad", {"bad": str(bad)})


def test_datafusion_takes_a_200_mb_value(tmp_path: Path) -> None:
    """A 200 MB string value loads, is queried and comes back whole (no crash, no raw error);
    a computed string, whose plan and batches disagree on nullability, no longer raises
    ArrowInvalid."""
    conn = connect(ConnectionSpec("f", "datafusion"))
    big = "x" * 200_000_000
    conn.load_arrow("t", pa.table({"s": [big]}))
    del big
    got = conn.execute("select length(s) as n, substr(s, 1, 3) as head from t").table
    assert got.to_pylist() == [{"n": 200_000_000, "head": "xxx"}]
    back = conn.execute("select s from t").table
    assert len(back.column("s")[0].as_py()) == 200_000_000
    assert conn.execute("select repeat('ab', 3) as s").table.to_pylist() == [{"s": "ababab"}]


# --- ETL: CSV sources ------------------------------------------------------------------------


@pytest.fixture
def lake(tmp_path: Path) -> str:
    """A data root for the CSV files; returns its name."""
    root = tmp_path / "lake"
    root.mkdir()
    config.set_value("data_roots", str(root))
    return next(r.name for r in files.roots() if r.path == root.resolve())


BAD_CSV = {
    "latin1.csv": (
        b"id,name\n"
        + b"".join(b"%d,Ann\n" % i for i in range(3000))
        + "9,Zo\xe9\n".encode("latin-1"),
        "is not UTF-8 text: byte 0xe9 on line 3002",
    ),
    "utf16.csv": ("id,name\n1,Ann\n".encode("utf-16"), "it looks like UTF-16"),
    "open_quote.csv": (
        b'id,name\n1,Ann\n2,"Bob\n3,Cid\n',
        'quote (") on line 3 that is never closed',
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_CSV))
def test_bad_csv_source_names_the_file(name: str, lake: str) -> None:
    """Preview, validation, row count and a full run all say what is wrong and where, naming
    the file; before, the open quote previewed as 0 rows and counted 1 row short, silently."""
    from tusk.etl import pipeline
    from tusk.etl.sources import FileSource

    data, words = BAD_CSV[name]
    (files.root(lake).path / name).write_bytes(data)
    p = pipeline.Pipeline(source=FileSource(root=lake, relative=name))
    shown = f"{lake}/{name}"
    preview = pipeline.preview(p)
    assert [i.message for i in preview.issues if shown in i.message and words in i.message]
    assert [i.message for i in pipeline.validate(p) if words in i.message]
    for run in (pipeline.row_count, pipeline.collect):
        with pytest.raises(BadInput, match="Cannot read file|not UTF-8|never closed") as caught:
            run(p)
        assert shown in caught.value.message and words in caught.value.message


def test_csv_checks_leave_good_files_alone(lake: str) -> None:
    """Quoted values with commas, doubled quotes and line breaks, and UTF-8 text, read as
    before; a lossy source reads bytes that are not UTF-8."""
    from tusk.etl import pipeline
    from tusk.etl.sources import FileSource

    good = 'id,name\n1,"Ann, ""the"" first\nline two"\n2,Zürich\n'
    (files.root(lake).path / "good.csv").write_text(good, encoding="utf-8")
    frame = pipeline.collect(pipeline.Pipeline(source=FileSource(root=lake, relative="good.csv")))
    assert frame["name"].to_list() == ['Ann, "the" first\nline two', "Zürich"]
    (files.root(lake).path / "lossy.csv").write_bytes("id,name\n1,Zo\xe9\n".encode("latin-1"))
    lossy = FileSource(root=lake, relative="lossy.csv", encoding="utf8-lossy")
    assert pipeline.collect(pipeline.Pipeline(source=lossy))["name"].to_list() == ["Zo\ufffd"]


def test_data_page_shows_a_bad_csv_as_an_error() -> None:
    """On the Data page the source's problem is an error naming the file; no traceback, and
    "Count all rows" says it too."""
    from tests.ui.conftest import DATA, open_page

    at = open_page(DATA)
    demo = files.root("demo").path
    (demo / "broken.csv").write_bytes(b'id,name\n1,"Ann\n2,Bob\n')
    at = open_page(DATA)
    at.selectbox(key="data_src_root").set_value("demo").run()
    at.selectbox(key="data_src_file").set_value("broken.csv").run()
    at.button(key="data_use_source").click().run()
    assert not at.exception
    errors = [e.value.replace("\\", "") for e in at.error]
    assert any("demo/broken.csv" in e and "never closed" in e for e in errors), errors
    at.button(key="data_count").click().run()
    assert not at.exception
    errors = [e.value.replace("\\", "") for e in at.error]
    assert sum("never closed" in e for e in errors) >= 2, errors


def test_studio_shows_a_surrogate_as_an_error_and_keeps_the_sql() -> None:
    """Typed into the Studio, a lone surrogate crashed the page (the share link and the drafts
    file could not encode it): now the run shows a clear error and the tab keeps the SQL."""
    from tests.ui.test_studio import active, studio, type_and_submit

    sql = f"select '{SURROGATE}' as x"
    at = studio()
    type_and_submit(at, sql)
    assert not at.exception
    errors = [e.value.replace("\\", "") for e in at.error]  # the message is Markdown-escaped
    assert any("UTF-8" in e for e in errors), errors
    assert active(at).sql == sql


def test_history_and_saved_queries_take_a_surrogate_cleanly() -> None:
    """The refused statement is still recorded in history (escaped); saving it is a BadInput,
    not a raw UnicodeEncodeError from SQLite."""
    from tusk import queries
    from tusk.store import history, saved

    spec = ConnectionSpec("m", "duckdb")
    conn = connect(spec)
    with pytest.raises(BadInput, match="UTF-8"):
        queries.run(spec, conn, f"select '{SURROGATE}'")
    (entry,) = history.search()
    assert entry.statement == "select '\\ud800'" and "UTF-8" in (entry.error or "")
    with pytest.raises(BadInput, match="UTF-8"):
        saved.save_query("q", f"select '{SURROGATE}'")
    with pytest.raises(BadInput, match="UTF-8"):
        saved.save_query(f"q{SURROGATE}", "select 1")


def test_saving_a_pipeline_with_a_surrogate_is_bad_input() -> None:
    """pydantic's raw serialization error (a query source's SQL) and urllib's UnicodeEncodeError
    (the name) became BadInput; nothing is written."""
    from tusk.etl import pipeline
    from tusk.etl import saved_pipelines as store
    from tusk.etl.sources import QuerySource

    p = pipeline.Pipeline(
        name="p", source=QuerySource(connection="demo", sql=f"select '{SURROGATE}'")
    )
    with pytest.raises(BadInput, match="UTF-8"):
        store.save(p)
    with pytest.raises(BadInput, match="surrogate"):
        store.save(
            p.model_copy(
                update={
                    "name": f"p{SURROGATE}",
                    "source": QuerySource(connection="demo", sql="select 1"),
                }
            )
        )
    assert store.list_pipelines() == []
