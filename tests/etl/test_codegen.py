"""The generated script: self-contained, readable, safe with hostile names, and equal to the
pipeline's own result (the step tests check equality for every step type; these check the
script itself)."""

from __future__ import annotations

import ast
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.etl.conftest import PEOPLE, Data, check, run_code
from tusk import connections
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput
from tusk.etl import codegen, pipeline
from tusk.etl.pipeline import Pipeline
from tusk.etl.sources import QuerySource
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
)


def four_steps(data: Data) -> Pipeline:
    return Pipeline(
        name="four",
        source=data.source("people.csv"),
        steps=[
            Filter(conditions=[Condition(column="day", op=">=", value="2024-01-10")]),
            Join(right=data.source("cities.csv"), how="left", left_on=["city"], right_on=["city"]),
            Sort(by=[SortKey(column="amount", descending=True, nulls_last=True)]),
            Select(columns=["name", "country", "amount"]),
        ],
    )


def test_script_shape(data: Data) -> None:
    text = codegen.code(four_steps(data))
    ast.parse(text)
    assert str(data.path / "people.csv") in text  # the resolved absolute path
    assert str(data.path / "cities.csv") in text
    lines = [line for line in text.splitlines() if line.startswith("lf = ")]
    assert len(lines) == 5  # the scan and one statement per step
    assert text.rstrip().splitlines()[-2] == "result = lf.collect()"
    assert "import datetime" in text and "import polars as pl" in text
    assert "tusk" not in "\n".join(
        line for line in text.splitlines() if line.startswith(("import", "from"))
    )


def test_script_runs_alone_in_a_clean_interpreter(data: Data, tmp_path: Path) -> None:
    p = four_steps(data)
    script = tmp_path / "pipeline.py"
    script.write_text(codegen.code(p) + "\nresult.write_parquet(__import__('sys').argv[1])\n")
    out = tmp_path / "out.parquet"
    done = subprocess.run(
        [sys.executable, "-I", str(script), str(out)],  # -I: no cwd, no user site, no tusk
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    expected = pl.DataFrame(
        {
            "name": ["Eve", "Dee", "Fay", "Bob"],
            "country": ["IT", None, None, "IT"],
            "amount": [12.0, 3.25, 0.5, None],
        }
    )
    assert_frame_equal(pl.read_parquet(out), expected)
    assert_frame_equal(pipeline.collect(p), expected)


def test_disabled_and_empty_steps(data: Data) -> None:
    p = Pipeline(
        source=data.source("people.csv"),
        steps=[
            Limit(n=1, enabled=False),
            Filter(),
            Rename(),
            DropNulls(columns=["city"]),
        ],
    )
    text = codegen.code(p)
    assert "# Step 1: limit: 1\n# (disabled: skipped)" in text
    assert "lf.head(1)" not in text
    assert [line for line in text.splitlines() if line.startswith("lf = lf.")] == [
        "lf = lf.drop_nulls(['city'])"
    ]
    check(p, PEOPLE.filter(pl.col("city").is_not_null()))


def test_hostile_names_and_values_stay_data(data: Data) -> None:
    evil = "x'); __import__('os').system('echo pwned'); ('"
    data.write(
        "evil.csv",
        '"' + evil.replace('"', '""') + '",n\n"' + evil.replace('"', '""') + '",1\nok,2\n',
    )
    p = Pipeline(
        name='"""; import os #',
        source=data.source("evil.csv"),
        steps=[
            Filter(conditions=[Condition(column=evil, op="==", value=evil)]),
            Rename(mapping={evil: "a\nb"}),
            GroupBy(keys=["a\nb"], aggs=[Agg(column="n", fn="sum", alias="\\'\"")]),
        ],
    )
    text = codegen.code(p)
    tree = ast.parse(text)
    calls = {
        n.func.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
    }
    assert "system" not in calls
    check(p, pl.DataFrame({"a\nb": [evil], "\\'\"": [1]}))


def test_typed_filter_values_become_python_literals(data: Data) -> None:
    pl.DataFrame(
        {
            "d": [date(2024, 1, 1), date(2024, 6, 1)],
            "m": pl.Series([Decimal("1.10"), Decimal("9.99")], dtype=pl.Decimal(10, 2)),
            "b": [True, False],
            "f": [float("inf"), 1.0],
        }
    ).write_parquet(data.path / "typed.parquet")
    p = Pipeline(
        source=data.source("typed.parquet", format="parquet"),
        steps=[
            Filter(
                conditions=[
                    Condition(column="d", op="in", value=["2024-06-01", "2030-01-01"]),
                    Condition(column="m", op=">", value="2"),
                    Condition(column="b", op="==", value="no"),
                    Condition(column="f", op="<", value="inf"),
                ]
            )
        ],
    )
    text = codegen.code(p)
    assert "datetime.date(2024, 6, 1)" in text
    assert "decimal.Decimal('2')" in text
    assert "float('inf')" in text
    check(p, pl.read_parquet(data.path / "typed.parquet").tail(1))


def test_a_broken_step_has_no_code_and_says_why(data: Data) -> None:
    p = Pipeline(
        source=data.source("people.csv"),
        steps=[Rename(mapping={"name": "who"}), Select(columns=["name"])],
    )
    with pytest.raises(BadInput, match=r"Step 2 \(select\) has a problem.*'name' does not exist"):
        codegen.code(p)


def test_sqlite_query_sources_are_refused_clearly(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "x.sqlite"
    with sqlite3.connect(path) as con:
        con.execute("create table t (a integer)")
        con.execute("insert into t values (1)")
    con.close()
    connections.add(ConnectionSpec("lite", "sqlite", path=str(path)))
    p = Pipeline(source=QuerySource(connection="lite", sql="select * from t"))
    assert pipeline.collect(p)["a"].to_list() == [1]  # the pipeline itself reads SQLite
    with pytest.raises(BadInput, match="DuckDB and PostgreSQL; 'lite' is a sqlite connection"):
        codegen.code(p)


def test_demo_connection_code(data: Data) -> None:
    p = Pipeline(
        source=QuerySource(connection="demo", sql="select * from customers"),
        steps=[Sort(by=[SortKey(column=c) for c in ("city_id", "name")]), Limit(n=5)],
    )
    got = pipeline.collect(p)
    assert got.height == 5
    assert_frame_equal(run_code(p), got)
