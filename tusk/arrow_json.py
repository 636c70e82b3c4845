"""Arrow values as JSON: the one policy for every path that writes them.

JSON export, CSV cells of nested columns, GeoJSON properties, the grid's cells of nested or
exotic columns and the engines' rows of driver objects all write a value the same way:

- NULL → null; booleans, integers and strings as they are;
- floats as numbers, NaN and ±Infinity (not JSON) as null;
- decimals as numbers when a double holds every value of the type (precision ≤ 15: the
  number reads back as the same decimal), else as text with the exact digits;
- binary as base64;
- dates, times and timestamps as ISO 8601 text, with Arrow's digits for the column's unit
  (`10:00:01.500000` for microseconds) and a `±hh:mm` offset when the column has a time zone;
- durations and intervals as ISO 8601 durations (`P1DT2H30M`, `PT0.5S`; negative parts keep
  their sign);
- lists as arrays, structs as objects, maps as objects with text keys;
- UUIDs as their canonical text, JSON columns as the JSON text the database gave.

Columns are converted column-wise (nested ones through their flattened children), so the
same value gets the same text wherever it sits. A driver's Python values (no Arrow type) follow
the same rules, a decimal by its own digits. A cell's text (CSV, the grid) is the JSON value's
text, except that a decimal keeps its exact digits there (`1.50`, PostgreSQL's `NaN`).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

DOUBLE_DIGITS = 15  # every decimal of at most this many digits survives a double
_NS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
_DAY_NS = 86_400 * 10**9
_TZ_OFFSET = r"([+-]\d\d)(\d\d)$"

# One encoder for every value: json.dumps would build a new one each call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False)


def json_values(col: pa.Array | pa.ChunkedArray) -> list[Any]:
    """A column as JSON-ready Python values (dict, list, str, int, float, bool, None)."""
    if isinstance(col, pa.ChunkedArray):
        return [v for chunk in col.chunks for v in json_values(chunk)]
    t = col.type
    if isinstance(t, pa.BaseExtensionType):
        if t.extension_name == "arrow.uuid":
            return [None if v is None else str(v) for v in col.to_pylist()]
        return json_values(col.storage)  # arrow.json: its text; others: what they are made of
    if pa.types.is_dictionary(t):
        return json_values(col.dictionary_decode())
    if pa.types.is_null(t):
        return [None] * len(col)
    if pa.types.is_floating(t):
        return pc.if_else(pc.is_finite(col), col, pa.scalar(None, t)).to_pylist()
    if pa.types.is_decimal(t):
        text = pc.cast(col, pa.string())
        if t.precision <= DOUBLE_DIGITS:  # via text: the nearest double, which a cast can miss
            return pc.cast(text, pa.float64()).to_pylist()
        return text.to_pylist()
    if _is_binary(t):
        return [None if v is None else base64.b64encode(v).decode("ascii") for v in col.to_pylist()]
    if pa.types.is_date(t) or pa.types.is_time(t):
        return pc.cast(col, pa.string()).to_pylist()
    if pa.types.is_timestamp(t):
        return _iso_timestamps(col)
    if pa.types.is_duration(t):
        ns = pc.multiply(col.cast(pa.int64()), _NS[t.unit]).to_pylist()
        return [None if v is None else _iso_nanoseconds(v) for v in ns]
    if pa.types.is_interval(t):
        return [
            None if v is None else iso_duration(v.months, v.days, v.nanoseconds)
            for v in col.to_pylist()
        ]
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _lists(col, json_values(col.values))
    if pa.types.is_fixed_size_list(t):
        return json_values(col.cast(pa.large_list(t.value_field)))
    if pa.types.is_map(t):
        keys = [_key(k) for k in json_values(col.keys)]
        items = json_values(col.items)
        pairs = _lists(col, list(zip(keys, items, strict=True)))
        return [None if p is None else dict(p) for p in pairs]
    if pa.types.is_struct(t):
        names = [t.field(i).name for i in range(t.num_fields)]
        children = [json_values(child) for child in col.flatten()]
        rows = zip(*children, strict=True) if children else ([] for _ in range(len(col)))
        return [
            dict(zip(names, row, strict=True)) if ok else None
            for ok, row in zip(col.is_valid().to_pylist(), rows, strict=True)
        ]
    if pa.types.is_integer(t) or pa.types.is_boolean(t) or _is_text(t):
        return col.to_pylist()
    return [json_value(v) for v in col.to_pylist()]  # unions and the rest: value by value


def json_value(v: Any) -> Any:
    """One Python value (a driver's, or an Arrow scalar's `as_py()`) made JSON-ready."""
    if v is None or isinstance(v, bool | int | str):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, decimal.Decimal):
        if not v.is_finite():
            return None
        # The value's own digits decide, as the type's precision does for a column.
        if len(v.as_tuple().digits) <= DOUBLE_DIGITS and math.isfinite(float(v)):
            return float(v)
        return str(v)
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return _iso_nanoseconds(((v.days * 86_400 + v.seconds) * 10**6 + v.microseconds) * 1000)
    if isinstance(v, pa.MonthDayNano):
        return iso_duration(v.months, v.days, v.nanoseconds)
    if isinstance(v, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(v)).decode("ascii")
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, dict):
        return {_key(json_value(k)): json_value(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [json_value(x) for x in v]
    if hasattr(v, "isoformat"):  # pandas.Timestamp, for nanosecond timestamps
        return v.isoformat()
    return str(v)


def dumps(value: Any) -> str:
    """JSON text of a JSON-ready value (non-ASCII kept as it is)."""
    return _ENCODER.encode(value)


def json_text(v: Any) -> str | None:
    """A value as one cell's text: text as it is, a decimal's exact digits, anything else as
    the JSON of its JSON value (containers as JSON, a duration as its ISO text); None stays."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, decimal.Decimal):
        return str(v)  # text holds every digit (and NaN): no double in between
    value = json_value(v)
    if value is None or isinstance(value, str):
        return value
    return dumps(value)


def text_values(col: pa.Array | pa.ChunkedArray) -> list[str | None]:
    """A column as cell texts (see json_text): CSV cells and the grid's nested columns."""
    t = col.type
    if pa.types.is_decimal(t):
        return pc.cast(col, pa.string()).to_pylist()  # exact digits, as json_text
    return [v if v is None or isinstance(v, str) else dumps(v) for v in json_values(col)]


def iso_duration(months: int, days: int, nanoseconds: int) -> str:
    """An ISO 8601 duration such as P1Y2M3DT4H5M6.5S (negative parts keep their sign)."""
    years, months = divmod(months, 12) if months >= 0 else (0, months)
    date = "".join(f"{n}{u}" for n, u in ((years, "Y"), (months, "M"), (days, "D")) if n)
    sign = "-" if nanoseconds < 0 else ""
    hours, rest = divmod(abs(nanoseconds), 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds = decimal.Decimal(rest) / 10**9
    clock = "".join(f"{sign}{n}{u}" for n, u in ((hours, "H"), (minutes, "M")) if n) + (
        f"{sign}{seconds.normalize():f}S" if seconds else ""
    )
    if not date and not clock:
        return "PT0S"
    return "P" + date + ("T" + clock if clock else "")


def _iso_nanoseconds(ns: int) -> str:
    """A duration of `ns` nanoseconds: whole days as days, the rest as the clock part."""
    days = int(ns / _DAY_NS)  # toward zero, so both parts keep the duration's sign
    return iso_duration(0, days, ns - days * _DAY_NS)


def _iso_timestamps(col: pa.Array) -> list[str | None]:
    """Timestamps as ISO 8601 text, with a ±hh:mm offset when the column has a time zone."""
    try:
        if col.type.tz is None:
            return pc.strftime(col, format="%Y-%m-%dT%H:%M:%S").to_pylist()
        text = pc.strftime(col, format="%Y-%m-%dT%H:%M:%S%z")
        return pc.replace_substring_regex(text, _TZ_OFFSET, r"\1:\2").to_pylist()
    except pa.ArrowException:  # e.g. no time zone database: let Python format them
        return [json_value(v) for v in col.to_pylist()]


def _lists(col: pa.Array, values: list[Any]) -> list[Any]:
    """Regroup a list-like column's converted child values by its offsets (NULL lists stay)."""
    offsets = col.offsets.to_pylist()
    valid = col.is_valid().to_pylist()
    return [values[offsets[i] : offsets[i + 1]] if ok else None for i, ok in enumerate(valid)]


def _key(k: Any) -> str:
    """A JSON object key: text as it is, anything else as its JSON text."""
    return k if isinstance(k, str) else dumps(k)


def _is_binary(t: pa.DataType) -> bool:
    return (
        pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_fixed_size_binary(t)
        or pa.types.is_binary_view(t)
    )


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
