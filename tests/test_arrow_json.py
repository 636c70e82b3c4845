"""One JSON policy for Arrow values: the value each type the engines produce is written as, and
the three paths that write them (JSON export, GeoJSON properties, the result grid's cells)
agree, as do the engines' rows of driver objects."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest

from tusk import export
from tusk.arrow_json import json_text, json_value, json_values, text_values
from tusk.engines.base import to_text
from tusk.engines.registry import connect
from tusk.engines.spec import ConnectionSpec
from tusk.geo import GeoColumn, write_geojson
from tusk.ui.grid import display_frame

UTC = dt.UTC
NAN, INF = float("nan"), float("inf")
U1 = uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")


def _mdn(months: int, days: int, ns: int) -> pa.MonthDayNano:
    return pa.MonthDayNano([months, days, ns])


# name → (a column of three rows, the JSON value of each row). Every type an engine hands over:
# DuckDB (hugeint as decimal128(38, 0), enums as dictionaries, UNION, MAP, timestamp_ns, its
# big integers as an opaque extension), DataFusion (string_view, durations, null columns),
# PostgreSQL (numeric, timestamptz, arrays), SQLite (int64, double, text, blob), and Arrow's
# own uuid and json extension types.
TYPES: dict[str, tuple[pa.Array, list[Any]]] = {
    "int8": (pa.array([1, -128, None], pa.int8()), [1, -128, None]),
    "int16": (pa.array([1, 32767, None], pa.int16()), [1, 32767, None]),
    "int32": (pa.array([1, -(2**31), None], pa.int32()), [1, -(2**31), None]),
    "int64": (pa.array([2**53 + 1, -1, None], pa.int64()), [2**53 + 1, -1, None]),
    "uint8": (pa.array([255, 0, None], pa.uint8()), [255, 0, None]),
    "uint64": (pa.array([2**64 - 1, 0, None], pa.uint64()), [2**64 - 1, 0, None]),
    "float32": (pa.array([1.5, NAN, None], pa.float32()), [1.5, None, None]),
    "float64": (pa.array([0.1, INF, -INF], pa.float64()), [0.1, None, None]),
    "decimal_small": (
        pa.array([Decimal("12.30"), Decimal("-0.01"), None], pa.decimal128(4, 2)),
        [12.3, -0.01, None],
    ),
    "decimal_15": (
        pa.array([Decimal("9999999999999.99"), Decimal("0.10"), None], pa.decimal128(15, 2)),
        [9999999999999.99, 0.1, None],
    ),
    "decimal_big": (
        pa.array([Decimal("12345678901234567.89"), Decimal("1.00"), None], pa.decimal128(38, 2)),
        ["12345678901234567.89", "1.00", None],
    ),
    "hugeint": (
        pa.array([Decimal(2**100), Decimal(0), None], pa.decimal128(38, 0)),
        [str(2**100), "0", None],
    ),
    "decimal256": (
        pa.array([Decimal("1.5"), None, Decimal("-2")], pa.decimal256(40, 1)),
        ["1.5", None, "-2.0"],
    ),
    "bool": (pa.array([True, False, None]), [True, False, None]),
    "string": (pa.array(["naïve 🐘", "", None]), ["naïve 🐘", "", None]),
    "large_string": (pa.array(["a", '"q"', None], pa.large_string()), ["a", '"q"', None]),
    "string_view": (pa.array(["x", "y", None], pa.string_view()), ["x", "y", None]),
    "binary": (pa.array([b"\x00\xff", b"", None]), ["AP8=", "", None]),
    "large_binary": (pa.array([b"ab", None, b"c"], pa.large_binary()), ["YWI=", None, "Yw=="]),
    "fixed_binary": (pa.array([b"\x01\x02", None, b"zz"], pa.binary(2)), ["AQI=", None, "eno="]),
    "date32": (
        pa.array([dt.date(2020, 2, 29), dt.date(1, 1, 1), None], pa.date32()),
        ["2020-02-29", "0001-01-01", None],
    ),
    "date64": (
        pa.array([dt.date(2024, 5, 6), None, None], pa.date64()),
        ["2024-05-06", None, None],
    ),
    "time_s": (pa.array([dt.time(10, 0, 1), None, None], pa.time32("s")), ["10:00:01", None, None]),
    "time_ms": (
        pa.array([dt.time(10, 0, 1, 500000), None, None], pa.time32("ms")),
        ["10:00:01.500", None, None],
    ),
    "time_us": (
        pa.array([dt.time(10, 0, 1, 500000), dt.time(0), None], pa.time64("us")),
        ["10:00:01.500000", "00:00:00.000000", None],
    ),
    "time_ns": (
        pa.array([36_001_000_000_001, None, None], pa.time64("ns")),
        ["10:00:01.000000001", None, None],
    ),
    "timestamp_s": (
        pa.array([dt.datetime(2024, 5, 6, 7, 8, 9), None, None], pa.timestamp("s")),
        ["2024-05-06T07:08:09", None, None],
    ),
    "timestamp_us": (
        pa.array([dt.datetime(2024, 5, 6, 7, 8, 9, 500000), None, None], pa.timestamp("us")),
        ["2024-05-06T07:08:09.500000", None, None],
    ),
    "timestamp_ns": (
        pa.array([1_700_000_000_000_000_001, None, None], pa.timestamp("ns")),
        ["2023-11-14T22:13:20.000000001", None, None],
    ),
    "timestamptz_utc": (
        pa.array(
            [dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), None, None], pa.timestamp("us", "UTC")
        ),
        ["2024-01-02T03:04:05.000000+00:00", None, None],
    ),
    "timestamptz_paris": (
        pa.array(
            [
                dt.datetime(2024, 7, 1, 10, 0, tzinfo=UTC),
                dt.datetime(2024, 1, 1, 10, 0, tzinfo=UTC),
                None,
            ],
            pa.timestamp("ms", "Europe/Paris"),
        ),
        ["2024-07-01T12:00:00.000+02:00", "2024-01-01T11:00:00.000+01:00", None],
    ),
    "duration_us": (
        pa.array(
            [dt.timedelta(days=1, hours=2, minutes=30), dt.timedelta(minutes=-90), None],
            pa.duration("us"),
        ),
        ["P1DT2H30M", "PT-1H-30M", None],
    ),
    "duration_s": (pa.array([0, 90061, None], pa.duration("s")), ["PT0S", "P1DT1H1M1S", None]),
    "duration_ns": (
        pa.array([500_000_001, None, -1], pa.duration("ns")),
        ["PT0.500000001S", None, "PT-0.000000001S"],
    ),
    "interval": (
        pa.array([_mdn(14, 3, 5_400 * 10**9), _mdn(0, 0, 0), None], pa.month_day_nano_interval()),
        ["P1Y2M3DT1H30M", "PT0S", None],
    ),
    "list": (pa.array([[1.5, NAN], [], None]), [[1.5, None], [], None]),
    "large_list": (
        pa.array([["a"], None, ["b", None]], pa.large_list(pa.string())),
        [["a"], None, ["b", None]],
    ),
    "fixed_size_list": (
        pa.array([[1, 2], None, [3, 4]], pa.list_(pa.int32(), 2)),
        [[1, 2], None, [3, 4]],
    ),
    "list_of_durations": (
        pa.array([[dt.timedelta(hours=1)], None, []], pa.list_(pa.duration("us"))),
        [["PT1H"], None, []],
    ),
    "struct": (
        pa.array(
            [
                {"b": b"\xff", "d": Decimal("1.50"), "at": dt.datetime(2020, 1, 1)},
                None,
                {"b": None, "d": None, "at": None},
            ],
            pa.struct([("b", pa.binary()), ("d", pa.decimal128(4, 2)), ("at", pa.timestamp("us"))]),
        ),
        [
            {"b": "/w==", "d": 1.5, "at": "2020-01-01T00:00:00.000000"},
            None,
            {"b": None, "d": None, "at": None},
        ],
    ),
    "map": (
        pa.array([[(1, "a"), (2, "b")], None, []], pa.map_(pa.int32(), pa.string())),
        [{"1": "a", "2": "b"}, None, {}],
    ),
    "map_text_keys": (
        pa.array(
            [[("k", dt.timedelta(seconds=1))], [], None], pa.map_(pa.string(), pa.duration("s"))
        ),
        [{"k": "PT1S"}, {}, None],
    ),
    "uuid": (pa.array([U1.bytes, None, None], pa.uuid()), [str(U1), None, None]),
    "json": (pa.array(['{"a": [1]}', "null", None], pa.json_()), ['{"a": [1]}', "null", None]),
    "null": (pa.nulls(3), [None, None, None]),
    "enum": (pa.array(["a", "b", None]).dictionary_encode(), ["a", "b", None]),
    "union": (
        pa.UnionArray.from_sparse(
            pa.array([0, 1, 0], pa.int8()), [pa.array([7, None, None]), pa.array(["x", "y", None])]
        ),
        [7, "y", None],
    ),
    "opaque": (
        pa.ExtensionArray.from_storage(
            pa.opaque(pa.binary(), "bignum", "DuckDB"), pa.array([b"\x01", None, None])
        ),
        ["AQ==", None, None],
    ),
}

# Columns the grid shows in a format of its own (right-aligned exact numbers, PostgreSQL-style
# \x binary, timestamps as Arrow text); every other column is the policy's text.
GRID_OWN = ("int", "uint", "float", "decimal", "hugeint", "bool", "string", "large_string")
GRID_OWN += ("binary", "large_binary", "fixed_binary", "date", "time", "timestamp")


def _text(value: Any) -> str | None:
    """A JSON value as a cell's text: strings as they are, the rest as JSON."""
    return (
        value if value is None or isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    )


def _table() -> pa.Table:
    points = pa.array(["POINT (1 2)", "POINT (3 4)", "POINT (5 6)"])
    return pa.table({**{name: arr for name, (arr, _) in TYPES.items()}, "geom": points})


@pytest.mark.parametrize("name", list(TYPES))
def test_json_value_of_each_type(name: str) -> None:
    """Each Arrow type's values, as JSON (strict: no NaN, no bytes, no Decimal left)."""
    arr, expected = TYPES[name]
    got = json_values(arr)
    assert got == expected
    assert json_values(pa.chunked_array([arr.slice(0, 1), arr.slice(1)])) == expected
    assert json.loads(json.dumps(got, allow_nan=False)) == expected


def test_sliced_nested_columns_keep_their_rows() -> None:
    """A slice (a later batch) of a list, map or struct column converts its own rows only."""
    for name in ("list", "large_list", "fixed_size_list", "struct", "map", "union"):
        arr, expected = TYPES[name]
        assert json_values(arr.slice(1)) == expected[1:], name


def test_export_geojson_and_grid_write_the_same_values() -> None:
    """JSON export, GeoJSON properties and the grid's cells agree with the policy, type by type."""
    table = _table()
    out = io.BytesIO()
    export.write_batches(table.to_batches(), "json", out)
    exported = json.loads(out.getvalue())
    geo = io.BytesIO()
    write_geojson(table, GeoColumn("geom", "wkt", parsed=3), geo)
    properties = [f["properties"] for f in json.loads(geo.getvalue())["features"]]
    frame, _ = display_frame(table)
    for name, (_, expected) in TYPES.items():
        assert [row[name] for row in exported] == expected, f"export: {name}"
        assert [p[name] for p in properties] == expected, f"geojson: {name}"
        if not name.startswith(GRID_OWN):
            assert list(frame[name]) == [_text(v) for v in expected], f"grid: {name}"


def test_cell_text_is_the_json_value_as_text() -> None:
    """A cell's text (CSV, grid) is the JSON value's text; decimals keep their exact digits."""
    for name, (arr, expected) in TYPES.items():
        if name.startswith(("decimal", "hugeint")):
            exact = [None if v is None else str(v) for v in arr.to_pylist()]
            assert text_values(arr) == exact, name
        else:
            assert text_values(arr) == [_text(v) for v in expected], name


def test_csv_writes_nested_and_exotic_columns_as_the_policys_text() -> None:
    """CSV cells of columns CSV cannot hold natively are the same text as the grid's."""
    names = ["duration_us", "interval", "struct", "map", "uuid", "list_of_durations"]
    table = _table().select(names)
    out = io.BytesIO()
    export.write_batches(table.to_batches(), "csv", out)
    back = pa_csv.read_csv(
        io.BytesIO(out.getvalue()),
        convert_options=pa_csv.ConvertOptions(
            column_types={n: pa.string() for n in names}, strings_can_be_null=True
        ),
    )
    for name in names:
        assert back[name].to_pylist() == [_text(v) for v in TYPES[name][1]], name


def test_driver_values_follow_the_same_policy() -> None:
    """A driver's Python objects (rows → Arrow, when a column holds what Arrow cannot) are
    written as their Arrow column would be: a timedelta is one ISO 8601 duration everywhere."""
    for name in ("duration_us", "list_of_durations", "map_text_keys", "uuid", "binary"):
        arr, expected = TYPES[name]
        python = arr.to_pylist()
        if name == "map_text_keys":
            python = [None if v is None else dict(v) for v in python]
        assert [json_value(v) for v in python] == expected, name
        assert [to_text(v) for v in python] == [_text(v) for v in expected], name
    assert to_text({"d": dt.timedelta(minutes=-90), "n": Decimal("1.5"), "b": b"\xff"}) == (
        '{"d": "PT-1H-30M", "n": 1.5, "b": "/w=="}'
    )
    assert json_value(Decimal("12345678901234567.89")) == "12345678901234567.89"
    assert json_value(Decimal("NaN")) is None and json_value(NAN) is None
    # A cell's text of a decimal keeps its digits (and PostgreSQL's NaN)
    assert json_text(Decimal("1.50")) == "1.50" and json_text(Decimal("NaN")) == "NaN"


def test_a_real_engine_result_through_the_three_paths() -> None:
    """DuckDB's own types (interval, map, struct, hugeint, timestamptz, blob, enum) come out
    the same from a JSON export, a GeoJSON export and the grid."""
    sql = """
    select 'POINT (1 2)' as geom, interval 3 day + interval 90 minute as iv,
           map([1, 2], ['a', 'b']) as m, {'d': 1.50::decimal(4, 2), 'w': interval 1 hour} as s,
           170141183460469231731687303715884105727::hugeint as h,
           timestamptz '2024-01-02 03:04:05+00' as at, '\\xFF'::blob as b,
           'x'::enum('x', 'y') as e, [interval 2 second] as l
    """
    conn = connect(ConnectionSpec("t", "duckdb", path=":memory:", options={"extensions": ""}))
    try:
        conn.execute("set timezone = 'UTC'")
        table = conn.execute(sql).table
        out = io.BytesIO()
        export.export(conn, sql, "json", out)
        geo = io.BytesIO()
        write_geojson(conn.stream_arrow(sql), GeoColumn("geom", "wkt", parsed=1), geo)
    finally:
        conn.close()
    (row,) = json.loads(out.getvalue())
    (feature,) = json.loads(geo.getvalue())["features"]
    want = {
        "iv": "P3DT1H30M",
        "m": {"1": "a", "2": "b"},
        "s": {"d": 1.5, "w": "PT1H"},
        "h": "170141183460469231731687303715884105727",
        "at": "2024-01-02T03:04:05.000000+00:00",
        "b": "/w==",
        "e": "x",
        "l": ["PT2S"],
    }
    assert {k: row[k] for k in want} == want
    assert feature["properties"] == want
    frame, _ = display_frame(table)
    for name in ("iv", "m", "s", "e", "l"):
        assert frame[name][0] == _text(want[name]), name
