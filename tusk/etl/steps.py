"""Pipeline steps: small typed models that apply themselves to a `polars.LazyFrame`.

Each step knows the columns it reads (`columns_used`), checks them against the schema it is
given, builds the Polars expression (`apply`) and the same operation as Python source
(`code`). `apply` and `code` share one resolution of the step's parameters, so the generated
script and the pipeline cannot drift apart; the tests hold both to an independent result.

Filter values are given as JSON values (text, numbers, booleans, lists) and converted to the
column's type before use: "2024-01-31" against a Date column compares as a date.
"""

from __future__ import annotations

import datetime as dt
import decimal
import difflib
import math
import uuid
import zoneinfo
from collections.abc import Callable
from typing import Annotated, Any, Literal, get_args

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from tusk.errors import BadInput
from tusk.etl import sources
from tusk.etl.sources import FileSource, OsmSource, QuerySource

Op = Literal[
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "is_null",
    "is_not_null",
    "contains",
    "starts_with",
    "ends_with",
    "in",
    "not_in",
]
OPS: tuple[str, ...] = get_args(Op)
AggFn = Literal["count", "sum", "mean", "min", "max", "n_unique", "first", "last"]
AGG_FNS: tuple[str, ...] = get_args(AggFn)
JoinHow = Literal["inner", "left", "outer", "semi", "anti"]
JOIN_HOWS: tuple[str, ...] = get_args(JoinHow)

_TEXT_OPS = {"contains": "contains", "starts_with": "starts_with", "ends_with": "ends_with"}
_POLARS_HOW: dict[str, Literal["inner", "left", "full", "semi", "anti"]] = {
    "inner": "inner",
    "left": "left",
    "outer": "full",
    "semi": "semi",
    "anti": "anti",
}
_NUMERIC_AGGS = {"sum", "mean"}
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


class StepError(BadInput):
    """A step cannot run on the columns it is given; `step_id` says which step."""

    title = "Step problem"

    def __init__(self, message: str, step_id: str | None = None, missing: list[str] | None = None):
        super().__init__(message)
        self.step_id = step_id
        self.missing = list(missing or [])


def _short_id() -> str:
    return uuid.uuid4().hex[:8]


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=_short_id)
    enabled: bool = True

    def columns_used(self) -> list[str]:
        """The input columns this step reads (for validation)."""
        return []

    def describe(self) -> str:
        """A one-line summary for lists and code comments."""
        return str(getattr(self, "kind", type(self).__name__.lower()))  # each step has kind

    def apply(
        self, lf: pl.LazyFrame, schema: pl.Schema, *, preview_rows: int | None = None
    ) -> pl.LazyFrame:
        """The step applied to `lf`, whose columns are `schema`; StepError when it cannot be."""
        raise NotImplementedError

    def code(self, schema: pl.Schema, *, right: str | None = None) -> str:
        """The step as one Python expression on the frame `lf` (`right` names a join's frame)."""
        raise NotImplementedError

    def _fail(self, message: str, missing: list[str] | None = None) -> StepError:
        return StepError(message, self.id, missing)

    def _require(self, schema: pl.Schema, columns: list[str] | None = None) -> None:
        """StepError naming every column this step needs that `schema` lacks."""
        wanted = self.columns_used() if columns is None else columns
        missing = [c for c in dict.fromkeys(wanted) if c not in schema]
        if missing:
            raise self._fail(missing_message(missing, list(schema)), missing)


def missing_message(missing: list[str], available: list[str]) -> str:
    """'column x does not exist …' with the columns there are and a close match if any."""
    names = ", ".join(repr(m) for m in missing)
    noun = "Column" if len(missing) == 1 else "Columns"
    verb = "does" if len(missing) == 1 else "do"
    text = f"{noun} {names} {verb} not exist here"
    close = difflib.get_close_matches(missing[0], available, n=1)
    if close:
        text += f" (did you mean {close[0]!r}?)"
    shown = ", ".join(available[:20]) + (" …" if len(available) > 20 else "")
    return f"{text}. The columns are: {shown or 'none'}."


# --- filter -----------------------------------------------------------------------------------


class Condition(BaseModel):
    """One comparison: column op value (value unused by the null checks, a list for in)."""

    model_config = ConfigDict(extra="forbid")

    column: str
    op: Op
    value: Any = None

    def describe(self) -> str:
        """`amount > 10`, `name is null`, `status in ['a', 'b']`."""
        if self.op in ("is_null", "is_not_null"):
            return f"{self.column} {self.op.replace('_', ' ')}"
        return f"{self.column} {self.op.replace('_', ' ')} {self.value!r}"


class Filter(_Step):
    """Keep the rows matching all (and) or any (or) of the conditions."""

    kind: Literal["filter"] = "filter"
    conditions: list[Condition] = Field(default_factory=list)
    combine: Literal["and", "or"] = "and"

    def columns_used(self) -> list[str]:
        """The compared columns."""
        return [c.column for c in self.conditions]

    def describe(self) -> str:
        """`filter: a > 1 and b is null`."""
        joined = f" {self.combine} ".join(c.describe() for c in self.conditions)
        return f"filter: {joined or 'everything'}"

    def _resolve(self, schema: pl.Schema) -> tuple[pl.Expr | None, str | None]:
        self._require(schema)
        exprs = [_condition(self, c, schema[c.column]) for c in self.conditions]
        if not exprs:
            return None, None  # no conditions yet: the step keeps every row
        expr = exprs[0][0]
        text = exprs[0][1]
        for e, t in exprs[1:]:
            if self.combine == "and":
                expr, text = expr & e, f"{text} & {t}"
            else:
                expr, text = expr | e, f"{text} | {t}"
        return expr, text

    def apply(
        self, lf: pl.LazyFrame, schema: pl.Schema, *, preview_rows: int | None = None
    ) -> pl.LazyFrame:
        """lf.filter(…)."""
        expr, _ = self._resolve(schema)
        return lf if expr is None else lf.filter(expr)

    def code(self, schema: pl.Schema, *, right: str | None = None) -> str:
        """`lf.filter(…)`."""
        _, text = self._resolve(schema)
        return "lf" if text is None else f"lf.filter({text})"


def _condition(step: _Step, cond: Condition, dtype: pl.DataType) -> tuple[pl.Expr, str]:
    """The condition as an expression and as source text."""
    col = pl.col(cond.column)
    ref = f"pl.col({cond.column!r})"
    op = cond.op
    if op == "is_null":
        return col.is_null(), f"{ref}.is_null()"
    if op == "is_not_null":
        return col.is_not_null(), f"{ref}.is_not_null()"
    if op in _TEXT_OPS:
        if dtype != pl.String:
            raise step._fail(
                f"{op.replace('_', ' ')} compares text, but column {cond.column!r} is {dtype}."
            )
        if not isinstance(cond.value, str) or cond.value == "":
            raise step._fail(f"Give the text that {cond.column!r} should {op.replace('_', ' ')}.")
        value = cond.value
        if op == "contains":
            return (
                col.str.contains(value, literal=True),
                f"{ref}.str.contains({value!r}, literal=True)",
            )
        method = _TEXT_OPS[op]
        return getattr(col.str, method)(value), f"{ref}.str.{method}({value!r})"
    if isinstance(dtype, pl.Datetime) and dtype.time_zone:
        # Compare instants in UTC: the same zone may be spelt two ways ("UTC" and "Etc/UTC",
        # as PostgreSQL's two read paths do), and Polars refuses to compare those.
        col = col.dt.convert_time_zone("UTC")
        ref = f"{ref}.dt.convert_time_zone('UTC')"
    if op in ("in", "not_in"):
        raw = cond.value if isinstance(cond.value, list) else [cond.value]
        values = [_utc(coerce(v, dtype, cond.column, step)) for v in raw if v is not None]
        expr = col.is_in(values)
        text = f"{ref}.is_in({python_literal(values)})"
        if op == "not_in":
            return ~expr, f"~{text}"
        return expr, text
    # comparisons
    if cond.value is None:
        raise step._fail(
            f"Give a value to compare {cond.column!r} with (use 'is null' to find empty values)."
        )
    value = _utc(coerce(cond.value, dtype, cond.column, step))
    compare: dict[str, Callable[[pl.Expr, Any], pl.Expr]] = {
        "==": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }
    return compare[op](col, value), f"({ref} {op} {python_literal(value)})"


def coerce(value: Any, dtype: pl.DataType, column: str, step: _Step | None = None) -> Any:
    """A filter value as a Python value of the column's type (text is parsed: '2024-01-31'
    for a date, '3' for a number); a StepError says when it cannot be."""

    def bad(why: str = "") -> StepError:
        text = f"{value!r} is not a valid {dtype} value for column {column!r}{why}."
        return StepError(text, step.id if step else None)

    if value is None:
        return None
    try:
        if dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum):
            return value if isinstance(value, str) else str(value)
        if dtype == pl.Boolean:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise bad(" (use true or false)")
        if dtype.is_integer():
            if isinstance(value, bool):
                raise bad()
            if isinstance(value, float):
                if not value.is_integer():
                    raise bad(" (a whole number is needed)")
                return int(value)
            return int(str(value).strip())
        if dtype.is_float():
            if isinstance(value, bool):
                raise bad()
            return float(str(value).strip()) if isinstance(value, str) else float(value)
        if isinstance(dtype, pl.Decimal):
            number = decimal.Decimal(str(value).strip())
            if not number.is_finite():
                raise bad()
            return number
        if dtype == pl.Date:
            if isinstance(value, dt.datetime):
                return value.date()
            if isinstance(value, dt.date):
                return value
            return dt.date.fromisoformat(str(value).strip())
        if isinstance(dtype, pl.Datetime):
            stamp = (
                value
                if isinstance(value, dt.datetime)
                else dt.datetime.fromisoformat(str(value).strip())
            )
            tz = dtype.time_zone
            if tz and stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=zoneinfo.ZoneInfo(tz))  # read in the column's zone
            elif not tz and stamp.tzinfo is not None:
                raise bad(" (the column has no time zone: leave the offset out)")
            return stamp
        if dtype == pl.Time:
            return value if isinstance(value, dt.time) else dt.time.fromisoformat(str(value))
    except (ValueError, TypeError, ArithmeticError, zoneinfo.ZoneInfoNotFoundError):
        raise bad() from None
    raise StepError(
        f"Column {column!r} is {dtype}: Tusk filters text, numbers, booleans, dates and times.",
        step.id if step else None,
    )


def _utc(value: Any) -> Any:
    """An aware datetime moved to UTC (see the comparison in _condition); others unchanged."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(zoneinfo.ZoneInfo("UTC"))
    return value


def python_literal(value: Any) -> str:
    """Python source for a value coerce() returns (and lists of them)."""
    if isinstance(value, list):
        return "[" + ", ".join(python_literal(v) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    if isinstance(value, dt.datetime | dt.date | dt.time | decimal.Decimal):
        text = repr(value)
        if isinstance(value, decimal.Decimal):
            return "decimal." + text
        return text.replace("zoneinfo.ZoneInfo(key=", "zoneinfo.ZoneInfo(")
    return repr(value)


# --- select, sort, rename, drop nulls, limit ------------------------------------------------


class Select(_Step):
    """Keep these columns, in this order."""

    kind: Literal["select"] = "select"
    columns: list[str] = Field(default_factory=list)

    def columns_used(self) -> list[str]:
        """The kept columns."""
        return list(self.columns)

    def describe(self) -> str:
        """`select: a, b`."""
        return f"select: {', '.join(self.columns)}"

    def _check(self, schema: pl.Schema) -> None:
        if not self.columns:
            raise self._fail("Choose at least one column to keep.")
        dupes = sorted({c for c in self.columns if self.columns.count(c) > 1})
        if dupes:
            raise self._fail(f"Column {dupes[0]!r} is chosen twice.")
        self._require(schema)

    def apply(
        self, lf: pl.LazyFrame, schema: pl.Schema, *, preview_rows: int | None = None
    ) -> pl.LazyFrame:
        """lf.select(columns)."""
        self._check(schema)
        return lf.select(self.columns)

    def code(self, schema: pl.Schema, *, right: str | None = None) -> str:
        """`lf.select([...])`."""
        self._check(schema)
        return f"lf.select({self.columns!r})"


class SortKey(BaseModel):
    """One sort column with its direction and where nulls go."""

    model_config = ConfigDict(extra="forbid")

    column: str
    descending: bool = False
    nulls_last: bool = True


class Sort(_Step):
    """Sort by one or more columns (stable: ties keep their order)."""

    kind: Literal["sort"] = "sort"
    by: list[SortKey] = Field(default_factory=list)

    def columns_used(self) -> list[str]:
        """The sort columns."""
        return [k.column for k in self.by]

    def describe(self) -> str:
        """`sort: a desc, b`."""
        keys = ", ".join(k.column + (" desc" if k.descending else "") for k in self.by)
        return f"sort: {keys}"

    def _check(self, schema: pl.Schema) -> None:
        if not self.by:
            raise self._fail("Choose at least one column to sort by.")
        self._require(schema)

    def apply(
        self, lf: pl.LazyFrame, schema: pl.Schema, *, preview_rows: int | None = None
    ) -> pl.LazyFrame:
        """lf.sort(…, maintain_order=True)."""
        self._check(schema)
        return lf.sort(
            [k.column for k in self.by],
            descending=[k.descending for k in self.by],
            nulls_last=[k.nulls_last for k in self.by],
            maintain_order=True,  # a stable sort: the same input gives the same order every run
        )

    def code(self, schema: pl.Schema, *, right: str | None = None) -> str:
        """`lf.sort(...)`."""
        self._check(schema)
        return (
            f"lf.sort({[k.column for k in self.by]!r}, "
            f"descending={[k.descending for k in self.by]!r}, "
            f"nulls_last={[k.nulls_last for k in self.by]!r}, maintain_order=True)"
        )


class Rename(_Step):
    """Rename columns: old name → new name."""

    kind: Literal["rename"] = "rename"
    mapping: dict[str, str] = Field(default_factory=dict)

    def columns_used(self) -> list[str]:
        """The old names."""
        return list(self.mapping)

    def describe(self) -> str:
        """`rename: a → b`."""
        return "rename: " + ", ".join(f"{a} → {b}" for a, b in self.mapping.items())

    def _check(self, schema: pl.Schema) -> None:
        self._require(schema)
        new = list(self.mapping.values())
        if any(not n.strip() for n in new):
            raise self._fail("A new column name cannot be empty.")
        dupes = sorted({n for n in new if new.count(n) > 1})
        if dupes:
            raise self._fail(f"Two columns would both be called {dupes[0]!r}.")
        kept = [c for c in schema if c not in self.mapping]
        clash = [n for n in new if n in kept]
        if clash:
            raise self._fail(
                f"Column {clash[0]!r} already exists: rename or drop it first, or pick another name."
            )

    def apply(
        self, lf: pl.LazyFrame, schema: pl.Schema, *, preview_rows: int | None = None
    ) -> pl.LazyFrame:
        """lf.rename(mapping)."""
        self._check(schema)
        return lf.rename(self.mapping) if self.mapping else lf

    def code(self, schema: pl.Schema, *, right: str | None = None) -> str:
        """`lf.rename({...})`."""
        self._check(schema)
        return f"lf.rename({self.mapping!r})" if self.mapping else "lf"


class DropNulls(_Step):
    """Drop rows with a null in any of these columns (all columns when none are named)."""

    kind: Literal["drop_nulls"] = "drop_nulls"
    columns: list[str] | None = None

    def columns_used(self) -> list[str]:
        """The checked columns (empty: all of them)."""
        return list(self.columns or [])

    def describe(self) -> str:
        """`drop nulls in: a, b`."""
        return "drop nulls in: " + (", ".join(self.columns) if self.columns else "any column")

    def apply(
        self, lf: pl.LazyFrame, schema: pl.Schema, *, preview_rows: int | None = None
    ) -> pl.LazyFrame:
        """lf.drop_nulls(subset)."""
        self._require(schema)
        return lf.drop_nulls(self.columns or None)

    def code(self, schema: pl.Schema, *, right: str | None = None) -> str:
        """`lf.drop_nulls(...)`."""
        self._require(schema)
        return f"lf.drop_nulls({self.columns!r})" if self.columns else "lf.drop_nulls()"


class Limit(_Step):
    """Keep the first n rows."""

    kind: Literal["limit"] = "limit"
    n: int = Field(default=100, ge=0)

    def describe(self) -> str:
        """`limit: 100`."""
        return f"limit: {self.n}"

    def apply(
        self, lf: pl.LazyFrame, schema: pl.Schema, *, preview_rows: int | None = None
    ) -> pl.LazyFrame:
        """lf.head(n)."""
        return lf.head(self.n)

    def code(self, schema: pl.Schema, *, right: str | None = None) -> str:
        """`lf.head(n)`."""
        return f"lf.head({self.n})"


# --- group by -------------------------------------------------------------------------------


class Agg(BaseModel):
    """One aggregation: fn(column) as alias (count without a column counts rows)."""

    model_config = ConfigDict(extra="forbid")

    column: str | None = None
    fn: AggFn = "count"
    alias: str | None = None

    def output_name(self) -> str:
        """The result column's name: alias, else column_fn (count of rows: `count`)."""
        if self.alias:
            return self.alias
        return f"{self.column}_{self.fn}" if self.column else self.fn


class GroupBy(_Step):
    """Group by key columns and aggregate (no keys: one row over the whole input)."""

    kind: Literal["group_by"] = "group_by"
    keys: list[str] = Field(default_factory=list)
    aggs: list[Agg] = Field(default_factory=list)

    def columns_used(self) -> list[str]:
        """Keys and aggregated columns."""
        return [*self.keys, *(a.column for a in self.aggs if a.column)]

    def describe(self) -> str:
        """`group by a: sum(b), count`."""
        aggs = ", ".join(f"{a.fn}({a.column or '*'})" for a in self.aggs)
        return f"group by {', '.join(self.keys) or '(all rows)'}: {aggs}"

    def _resolve(self, schema: pl.Schema) -> tuple[list[pl.Expr], list[str]]:
        if not self.aggs and not self.keys:
            raise self._fail("Choose the columns to group by or an aggregation.")
        self._require(schema)
        exprs: list[pl.Expr] = []
        texts: list[str] = []
        names = list(self.keys)
        for agg in self.aggs:
            name = agg.output_name()
            if name in names:
                raise self._fail(f"Two result columns would be called {name!r}: give one an alias.")
            names.append(name)
            if agg.column is None:
                if agg.fn != "count":
                    raise self._fail(f"Choose the column to take the {agg.fn} of.")
                exprs.append(pl.len().alias(name))
                texts.append(f"pl.len().alias({name!r})")
                continue
            dtype = schema[agg.column]
            if agg.fn in _NUMERIC_AGGS and not (dtype.is_numeric() or dtype == pl.Boolean):
                raise self._fail(f"{agg.fn} needs numbers, but column {agg.column!r} is {dtype}.")
            expr = getattr(pl.col(agg.column), agg.fn)().alias(name)
            exprs.append(expr)
            texts.append(f"pl.col({agg.column!r}).{agg.fn}().alias({name!r})")
        return exprs, texts

    def apply(
        self, lf: pl.LazyFrame, schema: pl.Schema, *, preview_rows: int | None = None
    ) -> pl.LazyFrame:
        """lf.group_by(keys, maintain_order=True).agg(…), or lf.select(…) without keys."""
        exprs, _ = self._resolve(schema)
        if not self.keys:
            return lf.select(exprs)
        # maintain_order: groups come out in first-seen order, the same on every run.
        return lf.group_by(self.keys, maintain_order=True).agg(exprs)

    def code(self, schema: pl.Schema, *, right: str | None = None) -> str:
        """`lf.group_by(...).agg(...)`."""
        _, texts = self._resolve(schema)
        if not self.keys:
            return f"lf.select({', '.join(texts)})"
        return f"lf.group_by({self.keys!r}, maintain_order=True).agg({', '.join(texts)})"


# --- join -----------------------------------------------------------------------------------


class Join(_Step):
    """Join another source on one or more key pairs."""

    kind: Literal["join"] = "join"
    right: Annotated[FileSource | QuerySource | OsmSource, Field(discriminator="kind")]
    how: JoinHow = "inner"
    left_on: list[str] = Field(default_factory=list)
    right_on: list[str] = Field(default_factory=list)
    suffix: str = "_right"

    def columns_used(self) -> list[str]:
        """The left keys (the right keys are checked against the right source)."""
        return list(self.left_on)

    def describe(self) -> str:
        """`inner join data/b.csv on id = id`."""
        pairs = ", ".join(f"{a} = {b}" for a, b in zip(self.left_on, self.right_on, strict=False))
        return f"{self.how} join {self.right.describe()} on {pairs}"

    def right_lazy(self, *, preview_rows: int | None = None) -> pl.LazyFrame:
        """The right source, scanned; its problems are this step's problems."""
        try:
            return sources.lazy(self.right, preview_rows=preview_rows)
        except BadInput as exc:
            raise self._fail(f"The joined source: {exc.message}") from None

    def _check(self, schema: pl.Schema, right: pl.Schema) -> None:
        if not self.left_on or not self.right_on:
            raise self._fail("Choose the key columns to join on.")
        if len(self.left_on) != len(self.right_on):
            raise self._fail(
                f"Give as many right keys as left keys ({len(self.left_on)} and "
                f"{len(self.right_on)})."
            )
        if not self.suffix:
            raise self._fail("The suffix for clashing column names cannot be empty.")
        self._require(schema)
        missing = [c for c in self.right_on if c not in right]
        if missing:
            raise self._fail(
                "In the joined source: " + missing_message(missing, list(right)), missing
            )
        for left_key, right_key in zip(self.left_on, self.right_on, strict=True):
            a, b = schema[left_key], right[right_key]
            # Polars widens one integer type to another; anything else must match exactly.
            if a != b and not (a.is_integer() and b.is_integer()):
                raise self._fail(
                    f"The join keys have different types: {left_key!r} is {a} here but "
                    f"{right_key!r} is {b} in the joined source. Join on columns of the same "
                    "type (e.g. both numbers or both text)."
                )

    def apply(
        self, lf: pl.LazyFrame, schema: pl.Schema, *, preview_rows: int | None = None
    ) -> pl.LazyFrame:
        """lf.join(right, …)."""
        other = self.right_lazy(preview_rows=preview_rows)
        self._check(schema, other.collect_schema())
        return lf.join(
            other,
            left_on=self.left_on,
            right_on=self.right_on,
            how=_POLARS_HOW[self.how],
            suffix=self.suffix,
            coalesce=True,  # one key column, as SQL's JOIN … USING gives
            maintain_order="left_right",  # the same row order on every run and in the code
        )

    def code(
        self, schema: pl.Schema, *, right: str | None = None, right_schema: pl.Schema | None = None
    ) -> str:
        """`lf.join(right, ...)`."""
        if right is None or right_schema is None:
            raise ValueError("a join's code needs the right frame's name and schema")
        self._check(schema, right_schema)
        return (
            f"lf.join({right}, left_on={self.left_on!r}, right_on={self.right_on!r}, "
            f"how={_POLARS_HOW[self.how]!r}, suffix={self.suffix!r}, coalesce=True, "
            'maintain_order="left_right")'
        )


Step = Annotated[
    Filter | Select | Sort | GroupBy | Rename | DropNulls | Limit | Join,
    Field(discriminator="kind"),
]
STEP_KINDS: tuple[str, ...] = (
    "filter",
    "select",
    "sort",
    "group_by",
    "rename",
    "drop_nulls",
    "limit",
    "join",
)
