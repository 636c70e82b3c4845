"""PostgreSQL types → Arrow: one mapping from the types the server reports to a result's Arrow
schema, and psycopg rows converted into it (the engine's first page and its cursor path; the
bulk path in tusk.engines.pg_bulk casts the scanner's batches to the same schema)."""

from __future__ import annotations

from typing import Any, NamedTuple

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg.pq import Format
from psycopg.types.string import TextLoader

from tusk.engines.base import column_to_arrow, unique_names
from tusk.engines.result import NUMERIC_TEXT
from tusk.errors import QueryFailed

# --- PostgreSQL types → Arrow ---------------------------------------------------------------
#
# One mapping decides a result's Arrow schema from the types the server reports, before any
# row is read, so the first page (`execute`) and every bulk path (`stream_arrow`) agree on
# types and values. Exact over convenient: numeric(p, s) is decimal128(p, s); a numeric
# without a precision, an interval (months are not a fixed number of seconds), a timetz
# (its offset) and every type without an Arrow twin travel as PostgreSQL's own text.

NUMERIC = 1700
BPCHAR = 1042
DATE = 1082
TIMESTAMP = 1114
TIMESTAMPTZ = 1184
_NATIVE: dict[int, pa.DataType] = {
    16: pa.bool_(),
    21: pa.int16(),
    23: pa.int32(),
    20: pa.int64(),
    26: pa.int64(),  # oid: unsigned 32-bit
    700: pa.float32(),
    701: pa.float64(),
    25: pa.string(),
    1043: pa.string(),
    BPCHAR: pa.string(),  # without the blank padding, as char(n)::text gives it
    19: pa.string(),
    17: pa.binary(),
    DATE: pa.date32(),
    1083: pa.time64("us"),
    TIMESTAMP: pa.timestamp("us"),
    TIMESTAMPTZ: pa.timestamp("us", tz="UTC"),
    114: pa.string(),  # json and jsonb keep the server's text (see connect)
    3802: pa.string(),
    2950: pa.string(),  # uuid
}
INET = 869
_MAX_DECIMAL128 = 38
# Array type OID → element type OID, for PostgreSQL's built-in types.
ELEMENT: dict[int, int] = {t.array_oid: t.oid for t in psycopg.adapters.types if t.array_oid}
# Arrays of these become Arrow lists; any other array is PostgreSQL's text ('{a,b}').
LISTED = frozenset({16, 21, 23, 20, 700, 701, 25, 1043, BPCHAR, 114, 3802, 2950, NUMERIC})
LISTED |= {DATE, 1083, TIMESTAMP, TIMESTAMPTZ}
# Built-in types psycopg would turn into Python objects Arrow cannot take (Decimal NaN,
# timedelta, ipaddress, Range, …): they are loaded as the server's text instead.
_TEXT_LOADED = tuple(
    t.oid
    for t in psycopg.adapters.types
    if _NATIVE.get(t.oid, pa.string()) == pa.string()
    and psycopg.adapters.get_loader(t.oid, Format.TEXT) is not None
) + tuple(array for array, element in ELEMENT.items() if element not in LISTED)


class Field(NamedTuple):
    """One result column as the server describes it."""

    name: str
    oid: int
    typmod: int


def arrow_type(oid: int, typmod: int) -> pa.DataType:
    """The Arrow type for a PostgreSQL type OID and modifier (PostgreSQL's text otherwise)."""
    if oid == NUMERIC:
        if typmod < 4:  # no precision: any scale, any size
            return pa.string()
        precision, scale = (typmod - 4) >> 16, (typmod - 4) & 0xFFFF
        if precision > _MAX_DECIMAL128 or scale > precision:
            return pa.string()
        return pa.decimal128(precision, scale)
    if oid in _NATIVE:
        return _NATIVE[oid]
    if ELEMENT.get(oid) in LISTED:
        return pa.list_(arrow_type(ELEMENT[oid], typmod))
    return pa.string()


def arrow_schema(fields: list[Field]) -> pa.Schema:
    """The Arrow schema of a described result; duplicate names get a suffix."""
    names = unique_names([f.name for f in fields])
    columns = []
    for n, f in zip(names, fields, strict=True):
        type_ = arrow_type(f.oid, f.typmod)
        text_numeric = f.oid == NUMERIC and pa.types.is_string(type_)
        columns.append(pa.field(n, type_, metadata=NUMERIC_TEXT if text_numeric else None))
    return pa.schema(columns)


def fields_of(res: Any, names: list[str] | None = None, encoding: str = "utf-8") -> list[Field]:
    """The columns of a libpq result (a row description)."""
    return [
        Field(
            names[i] if names is not None else (res.fname(i) or b"").decode(encoding),
            res.ftype(i),
            res.fmod(i),
        )
        for i in range(res.nfields)
    ]


def load_as_text(cur: psycopg.Cursor[Any]) -> None:
    """Have this cursor return PostgreSQL's own text for the types Arrow cannot take as
    Python objects (the connection keeps its loaders: tusk.admin relies on them)."""
    for oid in _TEXT_LOADED:
        cur.adapters.register_loader(oid, TextLoader)


def _staged(type_: pa.DataType) -> pa.DataType:
    """The type rows are built as: decimals arrive as text, cast exactly afterwards."""
    if pa.types.is_decimal(type_):
        return pa.string()
    if pa.types.is_list(type_):
        return pa.list_(_staged(type_.value_type))
    return type_


def _rtrim(arr: pa.Array) -> pa.Array:
    """char(n) values without their blank padding (strings, or lists of strings)."""
    if pa.types.is_list(arr.type):
        values = pc.utf8_rtrim(arr.flatten(), characters=" ")
        return pa.ListArray.from_arrays(arr.offsets, values, mask=arr.is_null())
    return pc.utf8_rtrim(arr, characters=" ")


def unfit(name: str, type_: pa.DataType, exc: Exception) -> QueryFailed:
    """The error for a value the column's Arrow type cannot hold exactly."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return QueryFailed(
        f"Column {name!r} holds a value that {type_} cannot hold exactly ({reason}). "
        "Cast the column in the query, for example to text.",
        "Value does not fit",
    )


def _column(values: list[Any], field: pa.Field, oid: int, strict: bool) -> pa.Array:
    """One column of psycopg values as the schema's type; lenient: whatever fits instead."""
    try:
        arr = pa.array(values, type=_staged(field.type))
        if arr.type != field.type:
            arr = arr.cast(field.type)  # safe: NaN, overflow or lost digits raise
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as exc:
        if strict:
            raise unfit(field.name, field.type, exc) from None
        return column_to_arrow(values)  # e.g. NaN in a numeric(p, s): shown as text
    if oid == BPCHAR or ELEMENT.get(oid) == BPCHAR:
        arr = _rtrim(arr)
    return arr


def convert(
    rows: list[tuple], fields: list[Field], schema: pa.Schema, *, strict: bool = False
) -> pa.Table:
    """psycopg rows → Arrow in the result's schema; strict raises where a value does not fit,
    lenient (a page for the grid) falls back to the type the values suggest."""
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in fields]
    arrays = [
        _column(list(col), schema.field(i), fields[i].oid, strict) for i, col in enumerate(cols)
    ]
    if strict:
        return pa.Table.from_arrays(arrays, schema=schema)
    # Lenient: a column may have the type its values suggest; it keeps its field's metadata.
    fields_out = [
        pa.field(f.name, a.type, metadata=f.metadata) for f, a in zip(schema, arrays, strict=True)
    ]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields_out))
