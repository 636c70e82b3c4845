"""Data roots and files: browse, preview, query, views, upload, delete and export, all on real
files made here, with every path kept inside its root."""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import PASSWORD
from tusk import config, files
from tusk.engines.base import Connection, sql_literal
from tusk.engines.registry import connect
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput, PermissionDenied, QueryFailed

HOSTILE_VIEW = 'x"; DROP TABLE t; --'
HOSTILE_FILE = "it's; drop.csv"

# --- files made by the tests ------------------------------------------------------------------

NESTED = pa.table(
    {
        "id": pa.array([1, 2, 3, 4], pa.int64()),
        "amount": pa.array(
            [decimal.Decimal("12.345"), None, decimal.Decimal("-0.001"), decimal.Decimal("1e6")],
            pa.decimal128(12, 3),
        ),
        "point": pa.array(
            [{"x": 1, "label": "a"}, {"x": 2, "label": None}, None, {"x": 4, "label": "ü"}],
            pa.struct([("x", pa.int32()), ("label", pa.string())]),
        ),
        "tags": pa.array([["a", "b"], [], None, ["日本", "🐘"]], pa.list_(pa.string())),
        "at": pa.array(
            [
                dt.datetime(2024, 1, 1, 12, 30),
                None,
                dt.datetime(1999, 12, 31),
                dt.datetime(2030, 6, 1),
            ],
            pa.timestamp("us"),
        ),
    }
)

CSV_TEXT = (
    "id,name,note,price\n"
    '1,"Smith, Jane","she said ""hi""",1.50\n'
    "2,Zürich 🐘,,\n"
    '3,"multi\nline",plain,3.25\n'
    '4,,"",4\n'
)

JSON_LINES = '{"id": 1, "name": "a", "tags": ["x"]}\n{"id": 2, "name": null, "tags": []}\n'


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    """A configured data root called "lake" holding one file of each kind."""
    folder = tmp_path / "lake"
    folder.mkdir()
    pq.write_table(NESTED, folder / "nested.parquet")
    (folder / "people.csv").write_text(CSV_TEXT, encoding="utf-8")
    (folder / "events.jsonl").write_text(JSON_LINES, encoding="utf-8")
    db = sqlite3.connect(folder / "shop.sqlite")
    db.executescript(
        "create table items (id integer primary key, name text, price real);"
        "insert into items values (1, 'tea', 2.5), (2, 'mug', 7.0);"
        "create table mixed (v numeric); insert into mixed values (1), ('oops');"
        "create view cheap as select * from items where price < 5;"
    )
    db.commit()
    db.close()
    config.set_value("data_roots", str(folder))
    return folder


@pytest.fixture
def duck() -> Iterator[Connection]:
    """An in-memory DuckDB connection with sqlite_scanner (spatial is slow to load, unneeded)."""
    spec = ConnectionSpec(
        "duck", "duckdb", path=":memory:", options={"extensions": "sqlite_scanner"}
    )
    conn = connect(spec)
    yield conn
    conn.close()


# --- roots ------------------------------------------------------------------------------------


def test_default_roots_are_the_data_folder_and_the_demo_files(tusk_home: Path) -> None:
    """A fresh home: TUSK_HOME/data (0700) and the demo folder with browsable files."""
    found = files.roots()
    assert [(r.name, r.path) for r in found] == [
        ("data", (tusk_home / "data").resolve()),
        ("demo", (tusk_home / "data" / "demo").resolve()),
    ]
    assert (tusk_home / "data").stat().st_mode & 0o777 == 0o700
    kinds = {e.name: e.kind for e in files.listdir("demo")}
    assert kinds == {
        "cities.csv": "csv",
        "customers.csv": "csv",
        "order_items.parquet": "parquet",
        "orders.parquet": "parquet",
        "products.json": "json",
        "shop.sqlite": "sqlite",
    }
    assert files.row_count("demo", "orders.parquet") == 5000
    assert files.sqlite_tables("demo", "shop.sqlite") == [
        "cities",
        "customers",
        "order_items",
        "orders",
        "products",
    ]


def test_demo_files_are_written_once(tusk_home: Path) -> None:
    """A demo file the user deleted does not come back."""
    files.roots()
    (tusk_home / "data" / "demo" / "cities.csv").unlink()
    files.roots()
    assert "cities.csv" not in {e.name for e in files.listdir("demo")}


def test_configured_roots_replace_the_default_and_get_unique_names(tmp_path: Path) -> None:
    """Two folders both called "x" become roots x and x-2; the demo stays."""
    a, b = tmp_path / "one" / "x", tmp_path / "two" / "x"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    config.set_value("data_roots", f"{a},{b},{a}")
    assert [(r.name, r.path) for r in files.roots()][:2] == [("x", a), ("x-2", b)]
    assert [r.name for r in files.roots()] == ["x", "x-2", "demo"]
    with pytest.raises(BadInput, match="no data root called 'data'"):
        files.listdir("data")


def test_a_root_removed_after_configuration_is_not_shown(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    config.set_value("data_roots", str(gone))
    gone.rmdir()
    assert [r.name for r in files.roots()] == ["demo"]


# --- listing ----------------------------------------------------------------------------------


def test_listdir_folders_first_hidden_and_special_files_left_out(lake: Path) -> None:
    (lake / "b_folder").mkdir()
    (lake / "A_folder").mkdir()
    (lake / ".hidden.csv").write_text("a\n1\n")
    (lake / ".partial.part").write_bytes(b"x")
    os.mkfifo(lake / "pipe.csv")  # reading a FIFO would block: never listed
    (lake / "notes.txt").write_text("hello")
    entries = files.listdir("lake")
    assert [e.name for e in entries] == [
        "A_folder",
        "b_folder",
        "events.jsonl",
        "nested.parquet",
        "notes.txt",
        "people.csv",
        "shop.sqlite",
    ]
    by_name = {e.name: e for e in entries}
    assert by_name["A_folder"].is_dir and by_name["A_folder"].kind is None
    assert by_name["A_folder"].size == 0
    assert by_name["notes.txt"].kind is None
    people = by_name["people.csv"]
    assert (people.root, people.relative, people.kind) == ("lake", "people.csv", "csv")
    assert people.size == len(CSV_TEXT.encode("utf-8"))
    assert people.modified.tzinfo is not None
    assert abs(people.modified.timestamp() - (lake / "people.csv").stat().st_mtime) < 1


def test_listdir_of_a_subfolder_gives_paths_relative_to_the_root(lake: Path) -> None:
    (lake / "sub" / "deeper").mkdir(parents=True)
    pq.write_table(NESTED, lake / "sub" / "deeper" / "n.parquet")
    [entry] = files.listdir("lake", "sub/deeper")
    assert entry.relative == "sub/deeper/n.parquet"
    assert files.preview("lake", entry.relative).rows.num_rows == 4
    with pytest.raises(BadInput, match="is not a folder"):
        files.listdir("lake", "people.csv")


def test_kind_comes_from_the_magic_bytes_where_the_name_is_ambiguous(lake: Path) -> None:
    """.db and extension-less files are sniffed; a misleading .sqlite name is overridden."""
    (lake / "shop.sqlite").rename(lake / "legacy.db")
    pq.write_table(NESTED, lake / "noext")
    pq.write_table(NESTED, lake / "really_parquet.sqlite")
    (lake / "fake.parquet").write_bytes(b"not parquet at all, just text")
    (lake / "log.csv.gz").write_bytes(b"\x1f\x8b")
    kinds = {e.name: e.kind for e in files.listdir("lake")}
    assert kinds["legacy.db"] == "sqlite"
    assert kinds["noext"] == "parquet"
    assert kinds["really_parquet.sqlite"] == "parquet"
    assert kinds["fake.parquet"] == "parquet"  # by name: preview explains what is wrong
    assert kinds["log.csv.gz"] == "csv"
    assert files.preview("lake", "noext").rows.num_rows == 4
    assert files.preview("lake", "legacy.db").table == "cheap"


# --- paths that try to leave the root -----------------------------------------------------------


@pytest.mark.parametrize(
    "relative",
    ["../outside.csv", "a/../../outside.csv", "..", "sub/../../x", "/etc/passwd", "a\x00b"],
)
def test_escaping_paths_are_refused(lake: Path, relative: str) -> None:
    """`..`, absolute paths, ~ and NUL bytes are refused by every entry point."""
    (lake.parent / "outside.csv").write_text("secret\n1\n")
    for call in (
        lambda: files.resolve("lake", relative),
        lambda: files.listdir("lake", relative),
        lambda: files.preview("lake", relative),
        lambda: files.scan_sql("lake", relative),
        lambda: files.row_count("lake", relative),
        lambda: files.delete("lake", relative),
        lambda: files.upload("lake", relative, "x.csv", b"a\n1\n"),
    ):
        with pytest.raises(BadInput):
            call()
    assert (lake.parent / "outside.csv").read_text() == "secret\n1\n"


def test_a_symlink_to_etc_inside_a_root_is_neither_listed_nor_read(lake: Path) -> None:
    (lake / "etc").symlink_to("/etc")
    (lake / "passwd.csv").symlink_to("/etc/passwd")
    (lake / "dangling.csv").symlink_to(lake / "nowhere.csv")
    names = {e.name for e in files.listdir("lake")}
    assert not names & {"etc", "passwd.csv", "dangling.csv"}
    for relative in ("etc", "etc/passwd", "passwd.csv", "etc/hostname"):
        with pytest.raises(BadInput, match="outside the data root"):
            files.resolve("lake", relative)
        with pytest.raises(BadInput, match="outside the data root"):
            files.preview("lake", relative)
    with pytest.raises(BadInput, match="outside the data root"):
        files.listdir("lake", "etc")
    with pytest.raises(BadInput, match="outside the data root"):
        files.upload("lake", "etc", "evil.csv", b"x")
    with pytest.raises(BadInput, match="outside the data root"):
        files.delete("lake", "passwd.csv")
    assert Path("/etc/passwd").exists()


def test_a_symlink_inside_the_root_is_followed(lake: Path) -> None:
    (lake / "alias.csv").symlink_to(lake / "people.csv")
    entry = {e.name: e for e in files.listdir("lake")}["alias.csv"]
    assert entry.kind == "csv" and not entry.is_dir
    assert files.preview("lake", "alias.csv").rows.num_rows == 4
    files.delete("lake", "alias.csv")  # removes the link, not the file it points at
    assert not (lake / "alias.csv").is_symlink()
    assert (lake / "people.csv").exists()


def test_unknown_root_and_missing_file(lake: Path) -> None:
    with pytest.raises(BadInput, match="no data root called 'nope'"):
        files.resolve("nope", "x.csv")
    with pytest.raises(BadInput, match="does not exist"):
        files.preview("lake", "missing.csv")


# --- preview and queries ----------------------------------------------------------------------


def test_parquet_preview_keeps_nested_and_decimal_types(lake: Path) -> None:
    p = files.preview("lake", "nested.parquet")
    assert (p.root, p.relative, p.kind, p.truncated, p.table) == (
        "lake",
        "nested.parquet",
        "parquet",
        False,
        None,
    )
    assert p.schema == [
        ("id", "BIGINT"),
        ("amount", "DECIMAL(12,3)"),
        ("point", 'STRUCT(x INTEGER, "label" VARCHAR)'),
        ("tags", "VARCHAR[]"),
        ("at", "TIMESTAMP"),
    ]
    assert p.rows.schema.field("amount").type == pa.decimal128(12, 3)
    assert p.rows.to_pylist() == NESTED.to_pylist()


def test_csv_preview_reads_quotes_nulls_and_unicode(lake: Path) -> None:
    p = files.preview("lake", "people.csv")
    assert [name for name, _ in p.schema] == ["id", "name", "note", "price"]
    assert dict(p.schema)["id"] == "BIGINT"
    assert dict(p.schema)["price"] == "DOUBLE"
    rows = p.rows.to_pylist()
    assert rows[0] == {"id": 1, "name": "Smith, Jane", "note": 'she said "hi"', "price": 1.5}
    assert rows[1] == {"id": 2, "name": "Zürich 🐘", "note": None, "price": None}
    assert rows[2]["name"] == "multi\nline"
    assert rows[3]["name"] is None and rows[3]["note"] == ""


def test_json_lines_preview(lake: Path) -> None:
    p = files.preview("lake", "events.jsonl")
    assert p.kind == "json"
    assert p.rows.to_pylist() == [
        {"id": 1, "name": "a", "tags": ["x"]},
        {"id": 2, "name": None, "tags": []},
    ]


def test_sqlite_preview_lists_tables_and_reads_the_chosen_one(lake: Path) -> None:
    assert files.sqlite_tables("lake", "shop.sqlite") == ["cheap", "items", "mixed"]
    p = files.preview("lake", "shop.sqlite", table="items")
    assert p.table == "items"
    assert p.rows.to_pylist() == [
        {"id": 1, "name": "tea", "price": 2.5},
        {"id": 2, "name": "mug", "price": 7.0},
    ]
    assert files.preview("lake", "shop.sqlite").table == "cheap"  # the first by name
    with pytest.raises(BadInput, match="no table 'nope'"):
        files.preview("lake", "shop.sqlite", table="nope")
    with pytest.raises(BadInput, match="not a SQLite database"):
        files.sqlite_tables("lake", "people.csv")


def test_sqlite_column_with_mixed_types_is_previewed_as_text(lake: Path) -> None:
    p = files.preview("lake", "shop.sqlite", table="mixed")
    assert p.schema == [("v", "VARCHAR")]
    assert p.rows.column("v").to_pylist() == ["1", "oops"]
    assert p.note and "text" in p.note
    assert files.row_count("lake", "shop.sqlite", table="mixed") == 2


def test_preview_limit_and_truncation(lake: Path, duck: Connection) -> None:
    duck.execute(
        "copy (select i from range(1000) t(i)) to "
        + sql_literal(str(lake / "thousand.parquet"))
        + " (format parquet)"
    )
    p = files.preview("lake", "thousand.parquet", limit=10)
    assert p.rows.num_rows == 10 and p.truncated
    assert p.rows.column("i").to_pylist() == list(range(10))
    assert files.row_count("lake", "thousand.parquet") == 1000
    for bad in (0, -1, files.MAX_PREVIEW_ROWS + 1):
        with pytest.raises(BadInput, match="Preview from 1"):
            files.preview("lake", "thousand.parquet", limit=bad)


def test_preview_reads_the_head_only(lake: Path, duck: Connection) -> None:
    """A CSV whose last line is broken previews fine; only the full count reaches the break."""
    path = lake / "long.csv"
    duck.execute(
        "copy (select i as a, 'row ' || i as b from range(200000) t(i)) to "
        + sql_literal(str(path))
        + " (header)"
    )
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('1,2,3,4,"broken\n')
    p = files.preview("lake", "long.csv")
    assert p.rows.num_rows == 100 and p.truncated
    with pytest.raises(BadInput, match="Cannot read lake/long.csv as CSV"):
        files.row_count("lake", "long.csv")


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("empty.csv", b"", "empty \\(0 bytes\\)"),
        ("empty.parquet", b"", "empty \\(0 bytes\\)"),
        ("bad.parquet", b"PAR1 this is not really parquet PAR1", "as Parquet"),
        ("short.parquet", b"PAR1", "as Parquet"),
        ("latin1.csv", "name\ncaf\xe9\n".encode("latin-1"), "(?s)as CSV: .*not utf-8 encoded"),
        ("broken.json", b'{"a": 1, "b": ', "as JSON"),
        ("bad.sqlite", b"SQLite format 3\x00" + b"\x01" * 300, "as SQLite: file is not a database"),
        ("notes.txt", b"just words", "cannot read"),
    ],
)
def test_corrupt_or_empty_files_give_a_readable_error(
    lake: Path, name: str, content: bytes, match: str
) -> None:
    """The message names the file as root/relative; no traceback, no server path, no SQL."""
    (lake / name).write_bytes(content)
    with pytest.raises(BadInput, match=match) as info:
        files.preview("lake", name)
    message = info.value.message
    assert f"lake/{name}" in message
    assert str(lake) not in message
    assert "LINE 1" not in message and "SELECT" not in message
    with pytest.raises(BadInput):
        files.row_count("lake", name)


def test_a_duckdb_file_is_pointed_to_connections(lake: Path) -> None:
    spec = ConnectionSpec(
        "f", "duckdb", path=str(lake / "local.duckdb"), options={"extensions": ""}
    )
    conn = connect(spec)
    conn.execute("create table t as select 1 as a; checkpoint")
    conn.close()
    assert {e.name: e.kind for e in files.listdir("lake")}["local.duckdb"] == "duckdb"
    with pytest.raises(BadInput, match="DuckDB connection"):
        files.preview("lake", "local.duckdb")


def test_scan_sql_runs_on_a_duckdb_connection(lake: Path, duck: Connection) -> None:
    for relative, rows in (
        ("nested.parquet", 4),
        ("people.csv", 4),
        ("events.jsonl", 2),
        ("shop.sqlite", 1),  # the first table, the view "cheap"
    ):
        scan = files.scan_sql("lake", relative)
        assert str(lake) in scan
        assert duck.execute(f"select count(*) from {scan}").table.column(0)[0].as_py() == rows
    scan = files.scan_sql("lake", "shop.sqlite", table="items")
    assert scan == f"sqlite_scan('{lake / 'shop.sqlite'}', 'items')"
    assert duck.execute(f"select sum(price) from {scan}").table.column(0)[0].as_py() == 9.5


def test_hostile_file_names_are_quoted(lake: Path, duck: Connection) -> None:
    """A quote and a semicolon in the name stay inside the literal."""
    (lake / HOSTILE_FILE).write_text("a\n1\n2\n")
    scan = files.scan_sql("lake", HOSTILE_FILE)
    assert scan == "read_csv_auto('" + str(lake) + "/it''s; drop.csv', allow_quoted_nulls = false)"
    assert duck.execute(f"select sum(a) from {scan}").table.column(0)[0].as_py() == 3
    assert files.preview("lake", HOSTILE_FILE).rows.num_rows == 2


def test_wildcards_in_a_file_name_read_exactly_that_file(lake: Path, duck: Connection) -> None:
    """DuckDB takes *, ? and [ as a glob: names holding them still mean one file."""
    for name, value in (("a[1].csv", 1), ("a1.csv", 2), ("w?.csv", 3), ("wx.csv", 4)):
        (lake / name).write_text(f"v\n{value}\n")
    (lake / "star*.parquet").write_bytes((lake / "nested.parquet").read_bytes())
    (lake / "starZ.parquet").write_bytes((lake / "nested.parquet").read_bytes())
    for name, value in (("a[1].csv", 1), ("w?.csv", 3)):
        assert files.preview("lake", name).rows.column("v").to_pylist() == [value]
        scan = files.scan_sql("lake", name)
        assert duck.execute(f"select v from {scan}").table.column(0).to_pylist() == [value]
    assert files.row_count("lake", "star*.parquet") == 4


def test_create_view_over_files(lake: Path, duck: Connection) -> None:
    statement = files.create_view(duck, HOSTILE_VIEW, "lake", "nested.parquet")
    assert statement.startswith('CREATE OR REPLACE VIEW "x""; DROP TABLE t; --" AS SELECT')
    got = duck.execute('select * from "x""; DROP TABLE t; --" order by id').table
    assert got.to_pylist() == NESTED.to_pylist()
    files.create_view(duck, HOSTILE_VIEW, "lake", "people.csv")  # OR REPLACE
    count = duck.execute('select count(*) from "x""; DROP TABLE t; --"').table.column(0)[0]
    assert count.as_py() == 4
    files.create_view(duck, "items", "lake", "shop.sqlite", table="items")
    assert duck.execute("select name from items order by id").table.column(0).to_pylist() == [
        "tea",
        "mug",
    ]
    assert {"items", HOSTILE_VIEW} <= {t.name for t in duck.catalog().tables}


def test_create_view_loads_sqlite_scanner_when_the_connection_lacks_it(lake: Path) -> None:
    conn = connect(ConnectionSpec("bare", "duckdb", path=":memory:", options={"extensions": ""}))
    try:
        files.create_view(conn, "v", "lake", "shop.sqlite", table="items")
        assert conn.execute("select count(*) from v").table.column(0)[0].as_py() == 2
    finally:
        conn.close()


def test_create_view_needs_duckdb_and_a_name(lake: Path, tmp_path: Path) -> None:
    lite = connect(ConnectionSpec("s", "sqlite", path=str(tmp_path / "x.db")))
    try:
        with pytest.raises(BadInput, match="DuckDB connection"):
            files.create_view(lite, "v", "lake", "people.csv")
    finally:
        lite.close()
    duck = connect(ConnectionSpec("d", "duckdb", path=":memory:", options={"extensions": ""}))
    try:
        with pytest.raises(BadInput, match="name"):
            files.create_view(duck, "  ", "lake", "people.csv")
    finally:
        duck.close()


# --- export -----------------------------------------------------------------------------------


def test_export_round_trip_parquet_keeps_every_value_and_type(lake: Path, duck: Connection) -> None:
    (lake / "out").mkdir()
    scan = files.scan_sql("lake", "nested.parquet")
    seen: list[int] = []
    query = f"select * from {scan} order by id"
    entry = files.export(duck, query, "parquet", "lake", "out/copy", progress=seen.append)
    assert (entry.root, entry.relative, entry.name, entry.kind) == (
        "lake",
        "out/copy.parquet",
        "copy.parquet",
        "parquet",
    )
    assert seen and seen[-1] == 4
    assert pq.read_table(lake / "out" / "copy.parquet").equals(NESTED)
    assert not [p for p in (lake / "out").iterdir() if p.name.startswith(".")]  # no temp left


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_export_round_trip_reads_back_equal(lake: Path, duck: Connection, fmt: str) -> None:
    """Every format written into the root and read back through preview gives the same rows."""
    source = files.scan_sql("lake", "people.csv")
    query = f"select * from {source} order by id"
    expected = duck.execute(query).table
    entry = files.export(duck, query, fmt, "lake", f"people_copy.{fmt}")
    assert entry.relative == f"people_copy.{fmt}" and entry.kind == fmt
    assert entry.name in {e.name for e in files.listdir("lake")}  # in the browser at once
    back = duck.execute(f"select * from {files.scan_sql('lake', entry.relative)} order by id").table
    assert back.cast(expected.schema).equals(expected)


def test_export_refuses_a_clash_unless_overwrite(lake: Path, duck: Connection) -> None:
    files.export(duck, "select 1 as a", "csv", "lake", "result.csv")
    with pytest.raises(BadInput, match="already exists — choose overwrite or another name"):
        files.export(duck, "select 2 as a", "csv", "lake", "result.csv")
    assert (lake / "result.csv").read_text() == '"a"\n1\n'
    files.export(duck, "select 2 as a", "csv", "lake", "result.csv", overwrite=True)
    assert (lake / "result.csv").read_text() == '"a"\n2\n'


def test_a_failed_export_leaves_nothing_behind(lake: Path, duck: Connection) -> None:
    with pytest.raises(QueryFailed):
        files.export(duck, "select * from no_such_table", "parquet", "lake", "broken")
    assert not (lake / "broken.parquet").exists()
    assert not [p for p in lake.iterdir() if p.name.endswith(".part")]


def test_export_paths_stay_inside_the_root(lake: Path, duck: Connection) -> None:
    for relative in ("../out.csv", "/tmp/out.csv", "", "missing_folder/out.csv"):
        with pytest.raises(BadInput):
            files.export(duck, "select 1", "csv", "lake", relative)
    with pytest.raises(BadInput, match="Unknown export format"):
        files.export(duck, "select 1", "xlsx", "lake", "out")


# --- upload and delete ------------------------------------------------------------------------


def test_upload_bytes_and_streams(lake: Path) -> None:
    entry = files.upload("lake", "", "new.csv", b"a,b\n1,x\n")
    assert (entry.relative, entry.kind, entry.size) == ("new.csv", "csv", 8)
    assert files.preview("lake", "new.csv").rows.to_pylist() == [{"a": 1, "b": "x"}]
    (lake / "sub").mkdir()
    big = b"v\n" + b"1\n" * 3_000_000  # several chunks
    entry = files.upload("lake", "sub", "stream.csv", io.BytesIO(big))
    assert entry.relative == "sub/stream.csv" and entry.size == len(big)
    assert (lake / "sub" / "stream.csv").read_bytes() == big


def test_upload_never_overwrites_silently(lake: Path) -> None:
    files.upload("lake", "", "data.csv", b"a\n1\n")
    with pytest.raises(BadInput, match="lake/data.csv already exists — choose overwrite"):
        files.upload("lake", "", "data.csv", b"a\n2\n")
    assert (lake / "data.csv").read_bytes() == b"a\n1\n"
    files.upload("lake", "", "data.csv", b"a\n2\n", overwrite=True)
    assert (lake / "data.csv").read_bytes() == b"a\n2\n"
    (lake / "folder.csv").mkdir()
    with pytest.raises(BadInput, match="is a folder"):
        files.upload("lake", "", "folder.csv", b"x", overwrite=True)


def test_upload_size_limit_from_config(lake: Path) -> None:
    config.set_value("upload_max_mb", "1")
    assert files.upload_limit_mb() == 1
    limit = 1024 * 1024
    files.upload("lake", "", "exact.csv", b"x" * limit)
    with pytest.raises(BadInput, match="larger than the upload limit of 1 MB"):
        files.upload("lake", "", "big.csv", b"x" * (limit + 1))
    with pytest.raises(BadInput, match="upload limit"):
        files.upload("lake", "", "big.csv", io.BytesIO(b"x" * (limit + 1)))
    assert not (lake / "big.csv").exists()
    assert not [p for p in lake.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("../../evil.csv", "_.._evil.csv"),
        ("a/b\\c.csv", "a_b_c.csv"),
        (".bashrc", "bashrc"),
        ("..hidden.csv", "hidden.csv"),
        ("nul\x00byte.csv", "nul_byte.csv"),
        ("  spaced.csv  ", "spaced.csv"),
        (HOSTILE_FILE, HOSTILE_FILE),
    ],
)
def test_upload_names_are_made_safe(lake: Path, given: str, stored: str) -> None:
    entry = files.upload("lake", "", given, b"a\n1\n")
    assert entry.name == stored and entry.relative == stored
    assert (lake / stored).read_bytes() == b"a\n1\n"


@pytest.mark.parametrize("name", ["", "..", "...", "/", "\x00", "  "])
def test_unusable_upload_names_are_refused(lake: Path, name: str) -> None:
    with pytest.raises(BadInput, match="not a usable file name"):
        files.upload("lake", "", name, b"x")


def test_long_names_are_cut_to_255_bytes_keeping_the_extension(lake: Path) -> None:
    entry = files.upload("lake", "", "é" * 300 + ".csv", b"a\n1\n")
    assert entry.name.endswith(".csv") and len(entry.name.encode("utf-8")) <= 255


def test_delete_files_only(lake: Path) -> None:
    files.delete("lake", "people.csv")
    assert not (lake / "people.csv").exists()
    (lake / "sub").mkdir()
    with pytest.raises(BadInput, match="is a folder"):
        files.delete("lake", "sub")
    with pytest.raises(BadInput, match="root itself"):
        files.delete("lake", "")
    with pytest.raises(BadInput, match="does not exist"):
        files.delete("lake", "people.csv")


def test_upload_size_setting_is_validated() -> None:
    assert config.get("upload_max_mb") == 200
    for bad in ("abc", "0", "-5", "100001", "1.5"):
        with pytest.raises(BadInput, match="upload_max_mb"):
            config.set_value("upload_max_mb", bad)
    assert config.set_value("upload_max_mb", "5") == 5


# --- permissions (multi-user mode) -------------------------------------------------------------


def test_write_actions_follow_the_permission_matrix(
    lake: Path, duck: Connection, users: dict[str, Any]
) -> None:
    """Upload and delete need data.import (engineers, admins); export needs data.export and
    queries.export (analysts too); views need queries.execute (everyone)."""
    viewer, analyst, engineer = users["viewer"], users["analyst"], users["engineer"]
    for user in (viewer, analyst):
        with pytest.raises(PermissionDenied, match="data.import"):
            files.upload("lake", "", "u.csv", b"a\n1\n", actor=user)
        with pytest.raises(PermissionDenied, match="data.import"):
            files.delete("lake", "people.csv", actor=user)
    with pytest.raises(PermissionDenied, match="Sign in first"):
        files.upload("lake", "", "u.csv", b"a\n1\n", actor=None)
    assert not (lake / "u.csv").exists() and (lake / "people.csv").exists()
    files.upload("lake", "", "u.csv", b"a\n1\n", actor=engineer)
    files.delete("lake", "u.csv", actor=users["admin"])

    with pytest.raises(PermissionDenied, match="data.export"):
        files.export(duck, "select 1 as a", "csv", "lake", "v.csv", actor=viewer)
    assert files.export(duck, "select 1 as a", "csv", "lake", "a.csv", actor=analyst).size > 0

    files.create_view(duck, "v", "lake", "people.csv", actor=viewer)
    with pytest.raises(PermissionDenied):
        files.create_view(duck, "v", "lake", "people.csv", actor=None)


def _user_with(name: str, perms: list[str]) -> Any:
    """A user in a group of their own holding just `perms`."""
    from tusk.auth.groups import create_group
    from tusk.auth.users import create_user

    create_group(f"{name} group", perms=perms)
    return create_user(name, PASSWORD, groups=[f"{name} group"])


READS: dict[str, Callable[[Any], object]] = {
    "listdir": lambda u: files.listdir("lake", "", actor=u),
    "info": lambda u: files.info("lake", "people.csv", actor=u),
    "preview": lambda u: files.preview("lake", "people.csv", actor=u),
    "row_count": lambda u: files.row_count("lake", "nested.parquet", actor=u),
    "sqlite_tables": lambda u: files.sqlite_tables("lake", "shop.sqlite", actor=u),
    "scan_sql": lambda u: files.scan_sql("lake", "shop.sqlite", table="items", actor=u),
}


@pytest.mark.parametrize("action", list(READS))
def test_read_actions_need_data_view(lake: Path, users: dict[str, Any], action: str) -> None:
    """Listing and reading files needs data.view in the library, not only on the page."""
    blind = _user_with("blind", ["connections.view", "queries.execute", "cluster.view"])
    read = READS[action]
    with pytest.raises(PermissionDenied, match="data.view"):
        read(blind)
    with pytest.raises(PermissionDenied, match="Sign in first"):
        read(None)
    assert read(users["viewer"])  # the Viewers group has data.view


def test_views_read_the_file_so_need_data_view(
    lake: Path, duck: Connection, users: dict[str, Any]
) -> None:
    """A view reads the file, so it needs data.view as well as queries.execute."""
    blind = _user_with("blind", ["queries.execute"])
    with pytest.raises(PermissionDenied, match="data.view"):
        files.create_view(duck, "v", "lake", "people.csv", actor=blind)


def test_writing_returns_the_new_entry_without_data_view(lake: Path, users: dict[str, Any]) -> None:
    """Uploading needs data.import only: the Entry of the file just written is not a read."""
    dropper = _user_with("dropper", ["data.import"])
    assert files.upload("lake", "", "in.csv", b"a\n1\n", actor=dropper).name == "in.csv"
    with pytest.raises(PermissionDenied, match="data.view"):
        files.listdir("lake", actor=dropper)


def test_register_and_attach_need_data_view(lake: Path, users: dict[str, Any]) -> None:
    """Registering a file as a DataFusion table and attaching a SQLite file read it: the
    library checks data.view (not only the Files panel), and the kinds must fit."""
    blind = _user_with("blind2", ["connections.view", "queries.execute"])
    fusion = connect(ConnectionSpec("df", "datafusion"))
    duck = connect(ConnectionSpec("d", "duckdb"))
    try:
        with pytest.raises(PermissionDenied, match="data.view"):
            files.register_table(fusion, "people", "lake", "people.csv", actor=blind)
        with pytest.raises(PermissionDenied, match="data.view"):
            files.attach_sqlite(duck, "shop", "lake", "shop.sqlite", actor=blind)
        files.register_table(fusion, "people", "lake", "people.csv", actor=users["viewer"])
        assert fusion.execute("select count(*) as n from people").table.to_pylist() == [{"n": 4}]
        files.attach_sqlite(duck, "shop", "lake", "shop.sqlite", actor=users["viewer"])
        assert duck.execute("select count(*) as n from shop.items").table.to_pylist() == [{"n": 2}]
        with pytest.raises(BadInput, match="not a SQLite"):
            files.attach_sqlite(duck, "p", "lake", "people.csv", actor=users["viewer"])
        with pytest.raises(BadInput, match="DataFusion"):
            files.register_table(duck, "people", "lake", "people.csv", actor=users["viewer"])
        with pytest.raises(BadInput):
            files.attach_sqlite(duck, "x", "lake", "../outside.sqlite", actor=users["viewer"])
    finally:
        fusion.close()
        duck.close()


# --- DataFusion registers the same files --------------------------------------------------------


def test_datafusion_registers_parquet_csv_and_json_lines(lake: Path) -> None:
    conn = connect(ConnectionSpec("df", "datafusion"))
    try:
        conn.register_file("nested", files.resolve("lake", "nested.parquet"), "parquet")
        conn.register_file("people", files.resolve("lake", "people.csv"), "csv")
        conn.register_file("events", files.resolve("lake", "events.jsonl"), "json")
        got = conn.execute("select id, amount from nested order by id").table
        assert got.column("amount").to_pylist() == NESTED.column("amount").to_pylist()
        assert conn.execute("select count(*) as n from people").table.column(0)[0].as_py() == 4
        names = conn.execute("select name from events order by id").table.column(0).to_pylist()
        assert names == ["a", None]
        (lake / "a[1].csv").write_text("v\n1\n")
        (lake / "a1.csv").write_text("v\n2\n")
        conn.register_file("people", files.resolve("lake", "a[1].csv"), "csv")  # replaces
        assert conn.execute("select v from people").table.column(0).to_pylist() == [1]
        (lake / "array.json").write_text(json.dumps([{"a": 1}]))
        with pytest.raises(BadInput, match="JSON Lines"):
            conn.register_file("arr", files.resolve("lake", "array.json"), "json")
        with pytest.raises(BadInput, match="not 'sqlite'"):
            conn.register_file("s", files.resolve("lake", "shop.sqlite"), "sqlite")
        with pytest.raises(BadInput, match="not a file"):
            conn.register_file("m", lake / "missing.csv", "csv")
    finally:
        conn.close()
