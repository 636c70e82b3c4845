"""Column profiles of a whole result, computed by the engine that produced it (SQL pushdown).

The statement is wrapped as a subquery, `select <aggregates> from (<statement>) as t`, and the
engine scans it once for every column's counts, distinct values, min/max and mean/stddev; top
values and histograms are one small grouped query per column, asked when a column is opened.
Nothing is pulled into Python but the aggregates. Engine differences (an approximate distinct
count, the name of the standard deviation) are abilities on the engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from tusk import sqltext
from tusk.completion import quote_name
from tusk.engines.abilities import engine_abilities
from tusk.engines.result import is_numeric_text
from tusk.errors import BadInput
from tusk.queries import Statement, authorize

if TYPE_CHECKING:
    from tusk.auth.schema import User
    from tusk.engines.base import Connection
    from tusk.engines.spec import ConnectionSpec

# SQLite allows 2,000 result columns; a profile asks up to 6 aggregates a column.
COLUMNS_PER_QUERY = 200
TOP_VALUES = 10
HISTOGRAM_BINS = 20


@dataclass(frozen=True)
class ColumnProfile:
    """What one column of the full result holds."""

    name: str
    type: str  # the Arrow type of the result's column
    rows: int
    nulls: int
    distinct: int | None  # None: not countable on this type
    distinct_approximate: bool  # the engine's estimate (HyperLogLog), not an exact count
    minimum: Any = None
    maximum: Any = None
    mean: float | None = None  # numbers only
    stddev: float | None = None  # sample standard deviation, numbers only
    numeric: bool = False

    @property
    def null_share(self) -> float:
        """Nulls as a fraction of the rows (0 for an empty result)."""
        return self.nulls / self.rows if self.rows else 0.0


def profile(
    spec: ConnectionSpec,
    conn: Connection,
    statement: Statement,
    schema: pa.Schema,
    *,
    actor: User | None = None,
    exact: bool = False,
) -> list[ColumnProfile]:
    """Profile every column of the statement's full result (its preview's `schema` says the
    columns and their types). Distinct counts are exact when `exact` (a small result) or the
    engine has no estimate; otherwise the engine's approximation, marked so."""
    authorize(spec, actor)
    names = schema.names
    if len(set(names)) != len(names):
        raise BadInput(
            "The result has two columns with the same name: give each a distinct alias to "
            "profile it.",
            "Duplicate column names",
        )
    profiles: list[ColumnProfile] = []
    for sql, plans in _batches(spec.engine, statement.sql, schema, exact):
        result = conn.execute(sql, statement.params, limit=None)
        row = [result.table.column(i)[0].as_py() for i in range(result.table.num_columns)]
        rows = int(row[0] or 0)
        at = 1
        for plan in plans:
            width = len(plan.aggregates())
            profiles.append(plan.read(row[at : at + width], rows))
            at += width
    return profiles


def profile_sql(engine: str, sql: str, schema: pa.Schema, *, exact: bool = False) -> list[str]:
    """The aggregate queries `profile` sends (one per COLUMNS_PER_QUERY columns)."""
    return [query for query, _ in _batches(engine, sql, schema, exact)]


def _batches(
    engine: str, sql: str, schema: pa.Schema, exact: bool
) -> list[tuple[str, list[_Plan]]]:
    """Each aggregate query and the columns it profiles."""
    abilities = engine_abilities(engine)
    approx = None if exact else abilities.approx_distinct
    body = _body(sql, engine)
    fields = list(schema)
    batches = []
    for start in range(0, len(fields), COLUMNS_PER_QUERY):
        plans = [
            _Plan(f, approx, abilities.stddev) for f in fields[start : start + COLUMNS_PER_QUERY]
        ]
        parts = ["count(*)"] + [part for plan in plans for part in plan.aggregates()]
        # Names quoted by quote_name; the body is the user's own statement, run as they may.
        query = f"select {', '.join(parts)} from ({body}\n) as tusk_profile"  # noqa: S608
        batches.append((query, plans))
    return batches


def top_values(
    spec: ConnectionSpec,
    conn: Connection,
    statement: Statement,
    column: str,
    *,
    actor: User | None = None,
    limit: int = TOP_VALUES,
) -> list[tuple[str | None, int]]:
    """The column's most frequent values (as text; None is NULL) with their counts."""
    authorize(spec, actor)
    col = quote_name(column)
    body = _body(statement.sql, spec.engine)
    sql = (
        f"select cast({col} as text) as value, count(*) as n "  # noqa: S608 - as in profile()
        f"from ({body}\n) as tusk_profile group by 1 order by 2 desc, 1 limit {int(limit)}"
    )
    table = conn.execute(sql, statement.params, limit=None).table
    return list(
        zip(table.column(0).to_pylist(), map(int, table.column(1).to_pylist()), strict=True)
    )


def histogram(
    spec: ConnectionSpec,
    conn: Connection,
    statement: Statement,
    column: ColumnProfile,
    *,
    actor: User | None = None,
    bins: int = HISTOGRAM_BINS,
) -> list[tuple[float, float, int]]:
    """Equal-width bins of a numeric column between its min and max: (low, high, count)."""
    authorize(spec, actor)
    lo, hi = _finite(column.minimum), _finite(column.maximum)
    if not column.numeric or lo is None or hi is None:
        return []
    if lo == hi:
        return [(lo, hi, column.rows - column.nulls)]
    col = quote_name(column.name)
    # Literals, not parameters: the statement's own parameters are already positional, and
    # these are floats Python printed (repr is valid SQL for a finite float).
    low, span = repr(lo), repr(hi - lo)
    bucket = (
        f"case when {col} >= {hi!r} then {bins - 1} "
        f"else cast(floor(({col} - {low}) * {bins} / {span}) as integer) end"
    )
    body = _body(statement.sql, spec.engine)
    sql = (
        f"select {bucket} as bucket, count(*) as n from ({body}\n) as "  # noqa: S608 - as above
        f"tusk_profile where {col} is not null group by 1 order by 1"
    )
    table = conn.execute(sql, statement.params, limit=None).table
    counts = dict(zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True))
    width = (hi - lo) / bins
    return [(lo + i * width, lo + (i + 1) * width, int(counts.get(i, 0))) for i in range(bins)]


def _body(sql: str, engine: str) -> str:
    """The one statement as a subquery body, without its semicolon and trailing comments
    (the caller ends it with a newline before the closing parenthesis)."""
    statements = sqltext.split(sql, engine)
    if not statements:
        raise BadInput("There is no statement to profile.", "Empty query")
    if len(statements) > 1:
        raise BadInput(
            f"A profile is of one statement's result and this SQL has {len(statements)}.",
            "More than one statement",
        )
    return "\n" + statements[0].text


def _finite(value: Any) -> float | None:
    """A finite number as float (PostgreSQL's numeric arrives as Decimal or exact text)."""
    if isinstance(value, str):
        value = _decimal(value)
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


class _Plan:
    """Which aggregates one column gets, by its Arrow type, and how to read them back."""

    def __init__(self, field: pa.Field, approx: str | None, stddev: str | None) -> None:
        self.field = field
        self.approx = approx  # the engine's estimate function, None: count(distinct …)
        self.stddev = stddev  # None: from the mean of squares (SQLite has no stddev)
        kind = field.type
        numeric_text = is_numeric_text(field)
        self.numeric_text = numeric_text
        self.numeric = (
            pa.types.is_integer(kind)
            or pa.types.is_floating(kind)
            or pa.types.is_decimal(kind)
            or numeric_text
        )
        text = pa.types.is_string(kind) or pa.types.is_large_string(kind)
        text = text or pa.types.is_string_view(kind)  # DataFusion's strings
        # Values every engine can compare and order: numbers, text, dates and times.
        self.ordered = self.numeric or text or pa.types.is_temporal(kind)
        self.countable = self.ordered or pa.types.is_boolean(kind)
        self.col = quote_name(field.name)
        # Text is compared as text (PostgreSQL's json has no equality; text::text is free).
        self.value = f"cast({self.col} as text)" if text and not numeric_text else self.col

    def aggregates(self) -> list[str]:
        """The select-list items for this column."""
        parts = [f"count({self.col})"]
        if self.countable:
            if self.approximate:
                parts.append(f"{self.approx}({self.value})")
            else:
                parts.append(f"count(distinct {self.value})")
        if self.ordered:
            parts += [f"min({self.value})", f"max({self.value})"]
        if self.numeric:
            parts.append(f"avg({self.col})")
            if self.stddev:
                parts.append(f"{self.stddev}({self.col})")
            else:
                parts.append(f"avg(({self.col}) * ({self.col}))")
        return parts

    @property
    def approximate(self) -> bool:
        """Whether the distinct count is the engine's estimate (never of floats: DataFusion
        estimates none, and how many distinct floats there are is rarely the question)."""
        return self.countable and bool(self.approx) and not pa.types.is_floating(self.field.type)

    def read(self, values: list[Any], rows: int) -> ColumnProfile:
        """A ColumnProfile from this column's aggregates, in the order `aggregates` gave them."""
        it = iter(values)
        non_null = int(next(it) or 0)
        distinct = None
        if self.countable:
            found = next(it)
            distinct = int(found) if found is not None else 0
        minimum = maximum = mean = std = None
        if self.ordered:
            minimum, maximum = next(it), next(it)
        if self.numeric:
            mean = _finite(next(it))
            std = _finite(next(it))
            if self.stddev is None and std is not None and mean is not None:
                # avg(x²) − avg(x)², scaled to the sample variance as stddev_samp is.
                variance = max(std - mean * mean, 0.0)
                std = math.sqrt(variance * non_null / (non_null - 1)) if non_null > 1 else None
            if self.numeric_text:  # PostgreSQL's numerics beyond float precision, as text
                minimum, maximum = _decimal(minimum), _decimal(maximum)
        return ColumnProfile(
            name=self.field.name,
            type=str(self.field.type),
            rows=rows,
            nulls=rows - non_null,
            distinct=distinct,
            distinct_approximate=self.approximate,
            minimum=minimum,
            maximum=maximum,
            mean=mean,
            stddev=std,
            numeric=self.numeric,
        )


def _decimal(value: Any) -> Decimal | None:
    """A numeric sent as text, as a Decimal (exact)."""
    try:
        return Decimal(str(value)) if value is not None else None
    except ArithmeticError:
        return None
