"""Fixtures for the pipeline tests: real files in a data root, and the three-way check
(pipeline result == executed generated code == the expectation written in the test)."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tusk import files
from tusk.etl import codegen, pipeline
from tusk.etl.pipeline import Pipeline
from tusk.etl.sources import FileSource

PEOPLE_CSV = """id,name,city,amount,day,active
1,Ann,Oslo,10.5,2024-01-05,true
2,Bob,Rome,,2024-02-10,false
3,Cid,Oslo,7.0,,true
4,Dee,,3.25,2024-03-01,
5,Eve,Rome,12.0,2024-01-20,true
6,Fay,Paris,0.5,2024-02-28,false
"""
CITIES_CSV = """city,country,pop
Oslo,NO,700
Rome,IT,2800
Lima,PE,10000
"""

# The people file as it should read: written out by hand, not by the code under test.
PEOPLE = pl.DataFrame(
    {
        "id": [1, 2, 3, 4, 5, 6],
        "name": ["Ann", "Bob", "Cid", "Dee", "Eve", "Fay"],
        "city": ["Oslo", "Rome", "Oslo", None, "Rome", "Paris"],
        "amount": [10.5, None, 7.0, 3.25, 12.0, 0.5],
        "day": [
            date(2024, 1, 5),
            date(2024, 2, 10),
            None,
            date(2024, 3, 1),
            date(2024, 1, 20),
            date(2024, 2, 28),
        ],
        "active": [True, False, True, None, True, False],
    }
)


@dataclass(frozen=True)
class Data:
    """The data root the tests write into."""

    root: str
    path: Path

    def write(self, relative: str, content: str | bytes) -> str:
        """Write a file into the root; returns its relative path."""
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
        return relative

    def source(self, relative: str, **options: object) -> FileSource:
        """A FileSource for a file in this root."""
        return FileSource(root=self.root, relative=relative, **options)


@pytest.fixture
def data(tusk_home: Path) -> Data:
    """The default data root with people.csv and cities.csv, plus Parquet/NDJSON copies."""
    first = files.roots()[0]
    d = Data(first.name, first.path)
    d.write("people.csv", PEOPLE_CSV)
    d.write("cities.csv", CITIES_CSV)
    PEOPLE.write_parquet(d.path / "people.parquet")
    PEOPLE.write_ndjson(d.path / "people.ndjson")
    return d


def run_code(p: Pipeline) -> pl.DataFrame:
    """Execute the generated script in a fresh namespace and return its `result`."""
    text = codegen.code(p)
    namespace: dict[str, object] = {"__name__": "__generated__"}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(text, "<generated pipeline>", "exec"), namespace)  # noqa: S102
    result = namespace["result"]
    assert isinstance(result, pl.DataFrame)
    return result


def check(p: Pipeline, expected: pl.DataFrame, *, check_dtypes: bool = True) -> pl.DataFrame:
    """Pipeline result == the expectation == the generated code's result == the preview."""
    got = pipeline.collect(p)
    assert_frame_equal(got, expected, check_dtypes=check_dtypes)
    assert_frame_equal(run_code(p), got)
    shown = pipeline.preview(p, n=max(got.height, 1))
    assert shown.issues == []
    assert_frame_equal(shown.frame, got)
    assert shown.schema == {k: str(v) for k, v in got.schema.items()}
    return got
