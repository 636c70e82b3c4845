"""Exports stream the full result into CSV, JSON and Parquet that read back exactly."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from tusk.engines.base import Connection, Params
from tusk.engines.registry import connect
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput, QueryFailed, TuskError
from tusk.export import FORMATS, ExportSummary, export, file_name, mime_type

ROWS = 250_000  # DuckDB streams 100,000-row batches: three of them

# Every awkward kind of value, with NULLs in each nullable column at different strides.
BIG_TABLE = f"""
create table big as
select
    i::bigint as id,
    case
        when i % 11 = 0 then null
        when i = 7 then 99999999999999.9999::decimal(18, 4)  -- more digits than a double holds
        when i = 8 then -0.0001::decimal(18, 4)
        else (i::decimal(18, 4) * 1.2345 - 12345.6789)::decimal(18, 4)
    end as amount,
    case when i % 13 = 0 then null
         else timestamptz '2024-01-01 00:00:00+00' + (i * 7919) * interval '1 second'
              + (i % 1000) * interval '1 microsecond'
    end as happened_at,
    case when i % 17 = 0 then null when i % 17 = 1 then ''
         else 'naïve ✓ 日本 🐘 #' || i end as label,
    '{{"id": ' || i || ', "note": "say "hi", \\ ok"}}' || chr(10) || 'second line, "quoted"'
        as doc,
    case when i % 19 = 0 then null
         else '\\x00\\xFF\\x0A,"'::blob || encode('row ' || i) end as payload,
    case when i % 23 = 0 then null else i / 7.0 end::double as ratio
from range({ROWS}) t(i)
"""
SELECT_BIG = "select * from big order by id"


@pytest.fixture(scope="module")
def duck() -> Iterator[Connection]:
    """An in-memory DuckDB holding the 250,000-row table."""
    conn = connect(ConnectionSpec("t", "duckdb", path=":memory:", options={"extensions": ""}))
    conn.execute(BIG_TABLE)
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def expected(duck: Connection) -> pa.Table:
    """What the database says the result is (read in one go, for comparison only)."""
    return duck.execute(SELECT_BIG, limit=None).table


def _export(conn: Connection, sql: str, fmt: str, path: Path, **kw: Any) -> ExportSummary:
    summary = export(conn, sql, fmt, path, **kw)
    assert summary.fmt == fmt
    assert summary.bytes_written == path.stat().st_size
    return summary


def _b64(values: list[Any]) -> list[bytes | None]:
    return [None if v is None else base64.b64decode(v) for v in values]


# --- round trips through DuckDB -----------------------------------------------------------------


def test_csv_round_trip(duck: Connection, expected: pa.Table, tmp_path: Path) -> None:
    """CSV reads back to the same values: decimals exact, NULL apart from '', binary base64."""
    path = tmp_path / "big.csv"
    seen: list[int] = []
    summary = _export(duck, SELECT_BIG, "csv", path, progress=seen.append)
    assert summary.rows == ROWS
    assert len(seen) > 1 and seen[-1] == ROWS and seen == sorted(seen)

    types = {f.name: f.type for f in expected.schema}
    types["payload"] = pa.string()
    back = pa_csv.read_csv(
        path,
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False
        ),
    )
    assert back.column_names == expected.column_names
    assert back.num_rows == ROWS
    assert path.read_text(encoding="utf-8").count('"id","amount"') == 1  # one header
    for name in expected.column_names:
        if name == "payload":
            assert _b64(back["payload"].to_pylist()) == expected["payload"].to_pylist()
        else:
            assert back[name].combine_chunks().equals(expected[name].combine_chunks()), name
    labels = back["label"].to_pylist()
    assert labels[1] == "" and labels[17] is None  # empty string and NULL stay apart


def test_json_round_trip(duck: Connection, expected: pa.Table, tmp_path: Path) -> None:
    """JSON is one array of objects: decimals as exact strings, ISO 8601, base64, null."""
    path = tmp_path / "big.json"
    seen: list[int] = []
    summary = _export(duck, SELECT_BIG, "json", path, progress=seen.append)
    assert summary.rows == ROWS
    assert len(seen) > 1 and seen[-1] == ROWS

    with path.open(encoding="utf-8") as fh:
        back = json.load(fh)
    assert isinstance(back, list) and len(back) == ROWS
    assert list(back[0]) == expected.column_names
    columns = {name: [row[name] for row in back] for name in expected.column_names}
    want = {name: expected[name].to_pylist() for name in expected.column_names}

    assert columns["id"] == want["id"]
    assert all(v is None or isinstance(v, str) for v in columns["amount"])
    assert [None if v is None else decimal.Decimal(v) for v in columns["amount"]] == want["amount"]
    assert columns["amount"][7] == "99999999999999.9999"  # not 1e14 from a double
    assert columns["amount"][8] == "-0.0001"
    assert [
        None if v is None else dt.datetime.fromisoformat(v) for v in columns["happened_at"]
    ] == want["happened_at"]
    assert columns["happened_at"][1] == "2024-01-01T02:11:59.000001+00:00"
    assert columns["label"] == want["label"]
    assert columns["doc"] == want["doc"]
    assert _b64(columns["payload"]) == want["payload"]
    assert columns["ratio"] == want["ratio"]
    assert columns["amount"][0] is None and columns["happened_at"][0] is None


def test_parquet_round_trip(duck: Connection, expected: pa.Table, tmp_path: Path) -> None:
    """Parquet keeps every type: the file reads back equal to the database's own result."""
    path = tmp_path / "big.parquet"
    seen: list[int] = []
    summary = _export(duck, SELECT_BIG, "parquet", path, progress=seen.append)
    assert summary.rows == ROWS
    assert len(seen) > 1 and seen[-1] == ROWS
    back = pq.read_table(path)
    assert back.schema.equals(expected.schema)
    assert back.equals(expected)
    assert pq.ParquetFile(path).metadata.num_row_groups == len(seen)  # written batch by batch


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_streams_batch_by_batch(duck: Connection, fmt: str) -> None:
    """Bytes reach the target after every batch: the result is never gathered first."""
    target = io.BytesIO()
    sizes: list[int] = []
    summary = export(
        duck,
        SELECT_BIG,
        fmt,
        target,
        progress=lambda rows: sizes.append(target.getbuffer().nbytes),
    )
    assert summary.bytes_written == target.getbuffer().nbytes
    assert len(sizes) > 1
    assert all(a < b for a, b in zip(sizes, sizes[1:], strict=False))
    assert 0 < sizes[0] < summary.bytes_written
    assert not target.closed  # the caller's stream stays open


# --- zero rows and errors ----------------------------------------------------------------------


def test_zero_rows_give_valid_files(duck: Connection, tmp_path: Path) -> None:
    """No rows still means a valid file; DuckDB streams no batch, so CSV has no header."""
    sql = "select * from big where id < 0"
    seen: list[int] = []
    summaries = {
        fmt: _export(duck, sql, fmt, tmp_path / f"empty.{fmt}", progress=seen.append)
        for fmt in FORMATS
    }
    assert all(s.rows == 0 for s in summaries.values())
    assert (tmp_path / "empty.csv").read_bytes() == b""
    assert (tmp_path / "empty.json").read_bytes() == b"[]"
    assert json.loads((tmp_path / "empty.json").read_text()) == []
    assert pq.read_table(tmp_path / "empty.parquet").num_rows == 0


class ArrowBatches:
    """A batch source with the stream_arrow shape, for shapes no real engine streams today
    (an empty batch that carries a schema; a column whose first batch is all NULL)."""

    def __init__(self, *batches: pa.RecordBatch) -> None:
        self.batches = batches

    def stream_arrow(self, sql: str, params: Params = None) -> Iterator[pa.RecordBatch]:
        yield from self.batches


def test_empty_result_with_a_schema_keeps_the_header() -> None:
    """When the schema is known, a zero-row CSV is its header and Parquet keeps the columns."""
    schema = pa.schema([("id", pa.int64()), ("name", pa.string())])
    source = ArrowBatches(pa.RecordBatch.from_pylist([], schema=schema))
    csv_out, pq_out, json_out = io.BytesIO(), io.BytesIO(), io.BytesIO()
    export(source, "q", "csv", csv_out)  # type: ignore[arg-type]
    export(source, "q", "parquet", pq_out)  # type: ignore[arg-type]
    export(source, "q", "json", json_out)  # type: ignore[arg-type]
    assert csv_out.getvalue().decode() == '"id","name"\n'
    pq_out.seek(0)
    assert pq.read_table(pq_out).schema.names == ["id", "name"]
    assert json_out.getvalue() == b"[]"


@pytest.mark.parametrize("fmt", FORMATS)
def test_later_batches_are_cast_to_the_first_schema(fmt: str) -> None:
    """A later batch differing only in nullability or an all-NULL (null-typed) column is cast."""
    first = pa.RecordBatch.from_arrays(
        [pa.array([1, 2], pa.int64()), pa.array(["a", None])],
        schema=pa.schema([pa.field("id", pa.int64(), nullable=False), ("name", pa.string())]),
    )
    second = pa.RecordBatch.from_arrays(
        [pa.array([3, None], pa.int64()), pa.nulls(2)], names=["id", "name"]
    )
    out = io.BytesIO()
    summary = export(ArrowBatches(first, second), "q", fmt, out)  # type: ignore[arg-type]
    assert summary.rows == 4
    out.seek(0)
    if fmt == "parquet":
        assert pq.read_table(out).to_pylist()[2:] == [
            {"id": 3, "name": None},
            {"id": None, "name": None},
        ]
    elif fmt == "json":
        assert json.load(out)[3] == {"id": None, "name": None}
    else:
        assert out.getvalue().decode().splitlines()[-1] == ","


def test_a_real_type_change_is_refused() -> None:
    """A column that changes type part-way cannot be written: a readable error, no traceback."""
    first = pa.RecordBatch.from_pydict({"x": pa.array([1], pa.int64())})
    second = pa.RecordBatch.from_pydict({"x": pa.array(["a"])})
    with pytest.raises(TuskError, match="changed type"):
        export(ArrowBatches(first, second), "q", "parquet", io.BytesIO())  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", FORMATS)
def test_failing_query_raises_query_failed(duck: Connection, tmp_path: Path, fmt: str) -> None:
    """The engine's QueryFailed comes through, and no file (or partial file) is left behind."""
    path = tmp_path / f"out.{fmt}"
    with pytest.raises(QueryFailed, match="no_such_table"):
        export(duck, "select * from no_such_table", fmt, path)
    assert list(tmp_path.iterdir()) == []
    target = io.BytesIO()
    with pytest.raises(QueryFailed):
        export(duck, "select * from no_such_table", fmt, target)
    assert target.getvalue() == b""


def test_error_while_streaming_raises_query_failed(duck: Connection, tmp_path: Path) -> None:
    """A query failing at run time, after export started, raises QueryFailed; no file remains."""
    path = tmp_path / "out.csv"
    sql = "select case when i > 150000 then error('boom') else i end as x from range(300000) t(i)"
    # Under load DuckDB sometimes reports the failing worker's sibling ("Interrupted!")
    # instead of the error itself; either way it is a QueryFailed and no file remains.
    with pytest.raises(QueryFailed, match="boom|Interrupted"):
        export(duck, sql, "csv", path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_failure_mid_export_keeps_the_old_file(duck: Connection, tmp_path: Path, fmt: str) -> None:
    """If the export stops part-way, the file that was there stays untouched."""
    path = tmp_path / f"out.{fmt}"
    path.write_bytes(b"previous export")

    def stop(rows: int) -> None:
        if rows > 100_000:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        export(duck, SELECT_BIG, fmt, path, progress=stop)
    assert path.read_bytes() == b"previous export"
    assert list(tmp_path.iterdir()) == [path]
    # The engine is free again afterwards.
    assert duck.execute("select count(*) from big").table.column(0)[0].as_py() == ROWS


def test_params_are_passed_to_the_engine(duck: Connection) -> None:
    """Parameters go to the engine, never into the SQL text."""
    out = io.BytesIO()
    summary = export(duck, "select id from big where id < ? order by id", "json", out, params=[3])
    assert summary.rows == 3
    assert json.loads(out.getvalue()) == [{"id": 0}, {"id": 1}, {"id": 2}]


def test_json_values_of_other_types(duck: Connection) -> None:
    """NaN/Infinity → null, nested values converted inside, durations ISO 8601, names unique."""
    sql = """
    select 'nan'::double as f, 'inf'::double as g, [1.5, 'nan'::double] as l,
           {'b': '\\xFF'::blob, 'd': 1.50::decimal(4, 2)} as s,
           interval 3 day + interval 90 minute as iv, date '2020-02-29' as d,
           timestamp '2024-05-06 07:08:09.5' as naive, 1 as a, 2 as a
    """
    out = io.BytesIO()
    export(duck, sql, "json", out)
    (row,) = json.loads(out.getvalue())
    assert row == {
        "f": None,
        "g": None,
        "l": [1.5, None],
        "s": {"b": "/w==", "d": 1.5},  # decimal(4, 2): a double holds it (tusk.arrow_json)
        "iv": "P3DT1H30M",
        "d": "2020-02-29",
        "naive": "2024-05-06T07:08:09.500000",
        "a": 1,
        "a_1": 2,
    }
    csv_out = io.BytesIO()
    export(duck, sql, "csv", csv_out)
    header, line = csv_out.getvalue().decode().splitlines()
    assert header.startswith('"f","g","l","s","iv"')
    assert '"[1.5, null]"' in line and '"P3DT1H30M"' in line
    pq_out = io.BytesIO()
    export(duck, sql, "parquet", pq_out)  # Parquet has no interval type: ISO text instead
    pq_out.seek(0)
    assert pq.read_table(pq_out).column("iv").to_pylist() == ["P3DT1H30M"]


# --- formats and names -------------------------------------------------------------------------


def test_unknown_format_is_bad_input(duck: Connection, tmp_path: Path) -> None:
    """An unknown format is refused before anything runs or is written."""
    with pytest.raises(BadInput):
        export(duck, "select * from no_such_table", "xlsx", tmp_path / "x.xlsx")
    with pytest.raises(BadInput):
        mime_type("xml")
    with pytest.raises(BadInput):
        file_name("x", "txt")
    assert list(tmp_path.iterdir()) == []


def test_export_to_a_missing_folder_is_bad_input(duck: Connection, tmp_path: Path) -> None:
    """A path in a folder that does not exist, or a folder itself, is BadInput."""
    with pytest.raises(BadInput):
        export(duck, SELECT_BIG, "csv", tmp_path / "nope" / "x.csv")
    with pytest.raises(BadInput):
        export(duck, SELECT_BIG, "csv", tmp_path)


def test_mime_types() -> None:
    """Each format has its MIME type."""
    assert mime_type("csv") == "text/csv"
    assert mime_type("json") == "application/json"
    assert mime_type("parquet") == "application/vnd.apache.parquet"
    assert mime_type("CSV") == "text/csv"


@pytest.mark.parametrize(
    ("base", "fmt", "name"),
    [
        ("Query 1", "csv", "Query 1.csv"),
        ("sales/2024\\q1", "json", "sales_2024_q1.json"),
        ("../../etc/passwd", "csv", "_.._etc_passwd.csv"),
        ("..", "parquet", "result.parquet"),
        (".hidden", "csv", "hidden.csv"),
        ("", "csv", "result.csv"),
        ("   ", "json", "result.json"),
        ("///", "csv", "result.csv"),
        ("naïve 日本語 🐘", "csv", "naïve 日本語 🐘.csv"),
        ("orders.csv", "csv", "orders.csv"),
        ("a\tb\nc", "csv", "a b c.csv"),
        ('what: "this"?', "csv", "what_ _this_.csv"),
        ("CON", "csv", "_CON.csv"),
    ],
)
def test_file_name_is_safe(base: str, fmt: str, name: str) -> None:
    """Tab and query names become safe file names: no separators, no leading dot."""
    assert file_name(base, fmt) == name


def test_file_name_is_at_most_100_characters() -> None:
    """Long names are cut, the extension kept."""
    name = file_name("日" * 300, "parquet")
    assert len(name) == 100 and name.endswith(".parquet")
    for base in ("x" * 99 + "/", "." * 150, "a" * 97 + ". b"):
        assert len(file_name(base, "json")) <= 100
        assert "/" not in file_name(base, "json") and not file_name(base, "json").startswith(".")


# --- PostgreSQL ------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_export_matches_the_database(pg: ConnectionSpec, tmp_path: Path) -> None:
    """numeric(12,2), jsonb and timestamptz export to each format and match execute()."""
    conn = connect(pg)
    try:
        conn.execute(
            """
            drop table if exists export_payments;
            create table export_payments (
                id int primary key, amount numeric(12, 2), doc jsonb, paid_at timestamptz);
            insert into export_payments
            select i,
                   case when i % 9 = 0 then null
                        when i = 1 then 9999999999.99
                        else round(i * 37.13 - 4000, 2) end,
                   case when i % 10 = 0 then null
                        else jsonb_build_object('i', i, 'tags', jsonb_build_array('a', 'ü'),
                                                'note', 'say "hi"' || chr(10) || 'bye') end,
                   case when i % 11 = 0 then null
                        else timestamptz '2024-03-31 01:30:00+02' + i * interval '1 hour 1 sec'
                   end
            from generate_series(1, 3000) i;
            """
        )
        sql = "select * from export_payments order by id"
        want = conn.execute(sql, limit=None).table
        assert want.num_rows == 3000
        want_amount = want["amount"].to_pylist()
        want_doc = [None if v is None else json.loads(v) for v in want["doc"].to_pylist()]
        want_at = want["paid_at"].to_pylist()
        assert want_amount[0] == decimal.Decimal("9999999999.99")

        for fmt in FORMATS:
            summary = _export(conn, sql, fmt, tmp_path / f"payments.{fmt}")
            assert summary.rows == 3000

        back_csv = pa_csv.read_csv(
            tmp_path / "payments.csv",
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types={
                    "amount": pa.decimal128(12, 2),
                    "doc": pa.string(),
                    "paid_at": pa.timestamp("us", tz="UTC"),
                },
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
        back_json = json.loads(
            (tmp_path / "payments.json").read_text(encoding="utf-8"), parse_float=decimal.Decimal
        )
        back_pq = pq.read_table(tmp_path / "payments.parquet")
        json_cols = {name: [row[name] for row in back_json] for name in want.column_names}

        for back in (back_csv, back_pq):
            assert back.column_names == want.column_names
            assert back["id"].to_pylist() == want["id"].to_pylist()
            assert back["amount"].to_pylist() == want_amount
            assert [None if v is None else json.loads(v) for v in back["doc"].to_pylist()] == (
                want_doc
            )
            assert back["paid_at"].to_pylist() == want_at
        assert json_cols["id"] == want["id"].to_pylist()
        assert [None if v is None else decimal.Decimal(v) for v in json_cols["amount"]] == (
            want_amount
        )
        # numeric(12, 2): a JSON number (a double holds 12 digits), written with every digit
        assert json_cols["amount"][0] == decimal.Decimal("9999999999.99")
        # jsonb arrives from the engine as JSON text, so it is exported as a string
        assert [None if v is None else json.loads(v) for v in json_cols["doc"]] == want_doc
        assert [
            None if v is None else dt.datetime.fromisoformat(v) for v in json_cols["paid_at"]
        ] == want_at
        assert pa.types.is_decimal(back_pq.schema.field("amount").type)
        assert back_pq.schema.field("paid_at").type.tz is not None

        with pytest.raises(QueryFailed, match="no_such_table"):
            export(conn, "select * from no_such_table", "json", tmp_path / "bad.json")
        assert not (tmp_path / "bad.json").exists()
    finally:
        conn.execute("drop table if exists export_payments")
        conn.close()
