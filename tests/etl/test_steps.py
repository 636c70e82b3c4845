"""Each step type alone and chained, on real files: pipeline == generated code == expectation."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from tests.etl.conftest import PEOPLE, Data, check
from tusk.etl import pipeline
from tusk.etl.pipeline import Pipeline
from tusk.etl.steps import (
    Agg,
    Condition,
    DropNulls,
    Filter,
    GroupBy,
    Join,
    Limit,
    Rename,
    Select,
    Sort,
    SortKey,
    StepError,
)


def people(data: Data, *steps: object, relative: str = "people.csv") -> Pipeline:
    return Pipeline(name="t", source=data.source(relative), steps=list(steps))


def rows(*ids: int) -> pl.DataFrame:
    """The people rows with these ids, in this order."""
    return pl.concat([PEOPLE.filter(pl.col("id") == i) for i in ids]) if ids else PEOPLE.head(0)


# --- filter ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "op", "value", "ids"),
    [
        ("amount", ">", 5, [1, 3, 5]),
        ("amount", ">=", "7", [1, 3, 5]),  # text from a form is read as a number
        ("amount", "<", 3.25, [6]),
        ("amount", "<=", 3.25, [4, 6]),
        ("city", "==", "Oslo", [1, 3]),
        ("city", "!=", "Oslo", [2, 5, 6]),  # null is neither equal nor unequal, as in SQL
        ("day", ">", "2024-02-10", [4, 6]),  # text compared as a date
        ("day", "<=", "2024-01-20", [1, 5]),
        ("active", "==", "true", [1, 3, 5]),
        ("amount", "is_null", None, [2]),
        ("city", "is_not_null", None, [1, 2, 3, 5, 6]),
        ("name", "contains", "e", [4, 5]),
        ("name", "starts_with", "C", [3]),
        ("name", "ends_with", "y", [6]),
        ("city", "in", ["Rome", "Paris"], [2, 5, 6]),
        ("id", "in", ["1", 4], [1, 4]),
        ("city", "not_in", ["Rome", "Paris"], [1, 3]),
    ],
)
def test_filter_each_operator(
    data: Data, column: str, op: str, value: object, ids: list[int]
) -> None:
    p = people(data, Filter(conditions=[Condition(column=column, op=op, value=value)]))
    check(p, rows(*ids))


def test_filter_and_or(data: Data) -> None:
    both = [
        Condition(column="city", op="==", value="Oslo"),
        Condition(column="amount", op=">", value=8),
    ]
    check(people(data, Filter(conditions=both, combine="and")), rows(1))
    check(people(data, Filter(conditions=both, combine="or")), rows(1, 3, 5))


def test_filter_without_conditions_keeps_everything(data: Data) -> None:
    check(people(data, Filter()), PEOPLE)


def test_filter_special_characters_in_values_and_names(data: Data) -> None:
    data.write("odd.csv", '"a,b",it\'s x\n"it\'s ""quoted""",1\nplain,2\n')
    p = Pipeline(
        source=data.source("odd.csv"),
        steps=[
            Filter(conditions=[Condition(column="a,b", op="contains", value="'s \"")]),
            Rename(mapping={"it's x": 'say "x"'}),
        ],
    )
    check(p, pl.DataFrame({"a,b": ['it\'s "quoted"'], 'say "x"': [1]}))


# --- select, sort, rename, drop nulls, limit ------------------------------------------------


def test_select(data: Data) -> None:
    check(people(data, Select(columns=["name", "id"])), PEOPLE.select("name", "id"))


def test_sort_multi_column_desc_and_nulls(data: Data) -> None:
    p = people(
        data,
        Sort(
            by=[
                SortKey(column="city", descending=False, nulls_last=False),
                SortKey(column="amount", descending=True, nulls_last=True),
            ]
        ),
    )
    # city: null first, then Oslo (10.5, 7.0), Paris, Rome (12.0, then the null amount)
    check(p, rows(4, 1, 3, 6, 5, 2))


def test_sort_nulls_last_desc(data: Data) -> None:
    p = people(data, Sort(by=[SortKey(column="day", descending=True, nulls_last=True)]))
    check(p, rows(4, 6, 2, 5, 1, 3))


def test_rename(data: Data) -> None:
    p = people(data, Rename(mapping={"name": "who", "id": "key"}))
    check(p, PEOPLE.rename({"name": "who", "id": "key"}))


def test_drop_nulls_subset_and_all(data: Data) -> None:
    check(people(data, DropNulls(columns=["amount"])), rows(1, 3, 4, 5, 6))
    check(people(data, DropNulls()), rows(1, 5, 6))


@pytest.mark.parametrize("n", [0, 2, 100])
def test_limit(data: Data, n: int) -> None:
    check(people(data, Limit(n=n)), PEOPLE.head(n))


# --- group by -------------------------------------------------------------------------------


def test_group_by_every_aggregation(data: Data) -> None:
    p = people(
        data,
        GroupBy(
            keys=["city"],
            aggs=[
                Agg(fn="count"),
                Agg(column="amount", fn="count", alias="amounts"),
                Agg(column="amount", fn="sum"),
                Agg(column="amount", fn="mean"),
                Agg(column="amount", fn="min"),
                Agg(column="amount", fn="max"),
                Agg(column="name", fn="n_unique"),
                Agg(column="name", fn="first"),
                Agg(column="name", fn="last"),
            ],
        ),
    )
    expected = pl.DataFrame(
        {
            "city": ["Oslo", "Rome", None, "Paris"],  # first-seen order
            "count": pl.Series([2, 2, 1, 1], dtype=pl.UInt32),
            "amounts": pl.Series([2, 1, 1, 1], dtype=pl.UInt32),
            "amount_sum": [17.5, 12.0, 3.25, 0.5],
            "amount_mean": [8.75, 12.0, 3.25, 0.5],
            "amount_min": [7.0, 12.0, 3.25, 0.5],
            "amount_max": [10.5, 12.0, 3.25, 0.5],
            "name_n_unique": pl.Series([2, 2, 1, 1], dtype=pl.UInt32),
            "name_first": ["Ann", "Bob", "Dee", "Fay"],
            "name_last": ["Cid", "Eve", "Dee", "Fay"],
        }
    )
    check(p, expected)


def test_group_by_without_keys_is_one_row(data: Data) -> None:
    p = people(data, GroupBy(aggs=[Agg(fn="count", alias="n"), Agg(column="id", fn="sum")]))
    check(
        p,
        pl.DataFrame({"n": pl.Series([6], dtype=pl.UInt32), "id_sum": [21]}),
    )


# --- join -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        (
            "inner",
            {"id": [1, 2, 3, 5], "city": ["Oslo", "Rome", "Oslo", "Rome"]},
        ),
        (
            "left",
            {"id": [1, 2, 3, 4, 5, 6], "city": ["Oslo", "Rome", "Oslo", None, "Rome", "Paris"]},
        ),
        (
            "outer",
            {
                "id": [1, 2, 3, 4, 5, 6, None],
                "city": ["Oslo", "Rome", "Oslo", None, "Rome", "Paris", "Lima"],
            },
        ),
        ("semi", {"id": [1, 2, 3, 5], "city": ["Oslo", "Rome", "Oslo", "Rome"]}),
        ("anti", {"id": [4, 6], "city": [None, "Paris"]}),
    ],
)
def test_join_each_kind(data: Data, how: str, expected: dict[str, list[object]]) -> None:
    p = people(
        data,
        Select(columns=["id", "city"]),
        Join(right=data.source("cities.csv"), how=how, left_on=["city"], right_on=["city"]),
    )
    countries = {"Oslo": "NO", "Rome": "IT", "Lima": "PE"}
    pops = {"Oslo": 700, "Rome": 2800, "Lima": 10000}
    frame = pl.DataFrame(expected, schema={"id": pl.Int64, "city": pl.String})
    if how not in ("semi", "anti"):
        cities = expected["city"]
        frame = frame.with_columns(
            country=pl.Series([countries.get(c) for c in cities], dtype=pl.String),  # type: ignore[arg-type]
            pop=pl.Series([pops.get(c) for c in cities], dtype=pl.Int64),  # type: ignore[arg-type]
        )
    check(p, frame)


def test_join_on_two_keys_with_suffix(data: Data) -> None:
    data.write("visits.csv", "who,town,id\nAnn,Oslo,100\nCid,Oslo,101\nBob,Paris,102\n")
    p = people(
        data,
        Select(columns=["id", "name", "city"]),
        Join(
            right=data.source("visits.csv"),
            left_on=["name", "city"],
            right_on=["who", "town"],
            suffix="_visit",
        ),
    )
    check(
        p,
        pl.DataFrame(
            {
                "id": [1, 3],
                "name": ["Ann", "Cid"],
                "city": ["Oslo", "Oslo"],
                "id_visit": [100, 101],
            }
        ),
    )


def test_join_parquet_right_side_with_wider_integer_keys(data: Data) -> None:
    pl.DataFrame({"id": pl.Series([2, 6], dtype=pl.Int32), "tag": ["x", "y"]}).write_parquet(
        data.path / "tags.parquet"
    )
    p = people(
        data,
        Select(columns=["id"]),
        Join(right=data.source("tags.parquet", format="parquet"), left_on=["id"], right_on=["id"]),
    )
    check(p, pl.DataFrame({"id": [2, 6], "tag": ["x", "y"]}))


# --- chained --------------------------------------------------------------------------------


def test_every_step_chained(data: Data) -> None:
    p = people(
        data,
        Rename(mapping={"amount": "spent"}),
        DropNulls(columns=["city"]),
        Filter(
            conditions=[
                Condition(column="spent", op=">=", value=0.5),
                Condition(column="day", op="is_not_null"),
            ]
        ),
        Join(right=data.source("cities.csv"), how="left", left_on=["city"], right_on=["city"]),
        GroupBy(
            keys=["country"],
            aggs=[Agg(column="spent", fn="sum", alias="total"), Agg(fn="count", alias="n")],
        ),
        Sort(by=[SortKey(column="total", descending=True)]),
        Select(columns=["country", "total", "n"]),
        Limit(n=2),
    )
    # rows kept: 1 Oslo 10.5, 5 Rome 12.0, 6 Paris 0.5 (2 has no amount, 3 no day, 4 no city)
    check(
        p,
        pl.DataFrame(
            {
                "country": ["IT", "NO"],
                "total": [12.0, 10.5],
                "n": pl.Series([1, 1], dtype=pl.UInt32),
            }
        ),
    )


def test_disabled_steps_are_skipped_everywhere(data: Data) -> None:
    p = people(
        data,
        Filter(conditions=[Condition(column="id", op=">", value=4)], enabled=False),
        Select(columns=["id"]),
        Limit(n=1, enabled=False),
    )
    check(p, PEOPLE.select("id"))


def test_parquet_and_ndjson_sources_give_the_same_rows(data: Data) -> None:
    steps = [
        Filter(conditions=[Condition(column="amount", op=">", value=5)]),
        Select(columns=["id", "name"]),
    ]
    expected = rows(1, 3, 5).select("id", "name")
    check(Pipeline(source=data.source("people.parquet", format="parquet"), steps=steps), expected)
    check(Pipeline(source=data.source("people.ndjson", format="ndjson"), steps=steps), expected)


def test_json_array_source(data: Data) -> None:
    data.write("list.json", '[{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]')
    p = Pipeline(
        source=data.source("list.json", format="json"),
        steps=[Filter(conditions=[Condition(column="a", op="==", value=2)])],
    )
    check(p, pl.DataFrame({"a": [2], "b": ["y"]}))


def test_semicolon_csv_with_its_separator(data: Data) -> None:
    data.write("semi.csv", "a;b\n1;x\n2;y\n")
    p = Pipeline(source=data.source("semi.csv", separator=";"), steps=[Select(columns=["b"])])
    check(p, pl.DataFrame({"b": ["x", "y"]}))


def test_tab_separator_given_as_text(data: Data) -> None:
    data.write("tabs.tsv", "a\tb\n1\tx\n")
    p = Pipeline(source=data.source("tabs.tsv", separator="\\t"), steps=[])
    check(p, pl.DataFrame({"a": [1], "b": ["x"]}))


# --- clear errors that point at the step ----------------------------------------------------


def error_of(data: Data, step: object) -> StepError:
    p = people(data, step)
    with pytest.raises(StepError) as caught:
        pipeline.lazy(p)
    assert caught.value.step_id == p.steps[0].id
    issues = pipeline.validate(p)
    assert [i.step_id for i in issues] == [p.steps[0].id]
    return caught.value


@pytest.mark.parametrize(
    ("step", "words"),
    [
        (Select(columns=["nmae"]), ["'nmae' does not exist", "did you mean 'name'"]),
        (Select(columns=[]), ["at least one column"]),
        (Select(columns=["id", "id"]), ["chosen twice"]),
        (Sort(by=[]), ["at least one column"]),
        (Rename(mapping={"name": "id"}), ["'id' already exists"]),
        (Rename(mapping={"name": " "}), ["cannot be empty"]),
        (Filter(conditions=[Condition(column="id", op=">", value="abc")]), ["'abc'", "Int64"]),
        (Filter(conditions=[Condition(column="id", op="contains", value="1")]), ["text", "Int64"]),
        (Filter(conditions=[Condition(column="day", op="<", value="31/12/2024")]), ["Date"]),
        (Filter(conditions=[Condition(column="id", op="==")]), ["Give a value"]),
        (GroupBy(keys=["city"], aggs=[Agg(column="name", fn="sum")]), ["sum needs numbers"]),
        (GroupBy(keys=["city"], aggs=[Agg(column="id", fn="min", alias="city")]), ["alias"]),
        (GroupBy(), ["group by"]),
        (DropNulls(columns=["ghost"]), ["'ghost' does not exist"]),
    ],
)
def test_step_errors_are_clear(data: Data, step: object, words: list[str]) -> None:
    message = str(error_of(data, step))
    assert message.startswith("Step 1 (")
    for word in words:
        assert word in message


def test_join_on_mismatched_types_is_clear(data: Data) -> None:
    err = error_of(
        data,
        Join(right=data.source("cities.csv"), left_on=["id"], right_on=["city"]),
    )
    assert "different types" in err.message
    assert "'id' is Int64" in err.message and "'city' is String" in err.message


def test_join_key_count_and_right_column_checked(data: Data) -> None:
    err = error_of(data, Join(right=data.source("cities.csv"), left_on=["city"], right_on=[]))
    assert "key columns" in err.message
    err = error_of(data, Join(right=data.source("cities.csv"), left_on=["city"], right_on=["town"]))
    assert "joined source" in err.message and "'town'" in err.message


def test_join_right_file_missing_points_at_the_step(data: Data) -> None:
    err = error_of(data, Join(right=data.source("nope.csv"), left_on=["id"], right_on=["id"]))
    assert "nope.csv does not exist" in err.message


def test_coerce_dates_with_time_zones() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from tusk.etl.steps import coerce, python_literal

    value = coerce("2024-01-02 03:04", pl.Datetime("us", "Europe/Oslo"), "t")
    assert value == datetime(2024, 1, 2, 3, 4, tzinfo=ZoneInfo("Europe/Oslo"))
    assert (
        eval(
            python_literal(value),
            {"datetime": __import__("datetime"), "zoneinfo": __import__("zoneinfo")},
        )
        == value
    )  # noqa: S307
    assert coerce("2024-05-06", pl.Date, "d") == date(2024, 5, 6)
    with pytest.raises(StepError, match="no time zone"):
        coerce("2024-01-02T03:04+02:00", pl.Datetime("us"), "t")
