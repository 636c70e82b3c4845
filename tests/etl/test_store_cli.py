"""Saved pipelines (TUSK_HOME/pipelines) and the `tusk pipeline` commands."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from tests.conftest import REPO
from tests.etl.conftest import PEOPLE, Data
from tusk.cli import app
from tusk.errors import BadInput, PermissionDenied
from tusk.etl import pipeline
from tusk.etl import saved_pipelines as store
from tusk.etl.pipeline import Pipeline
from tusk.etl.steps import Condition, Filter, Select

runner = CliRunner()


def oslo(data: Data, name: str = "oslo") -> Pipeline:
    return Pipeline(
        name=name,
        source=data.source("people.csv"),
        steps=[
            Filter(conditions=[Condition(column="city", op="==", value="Oslo")]),
            Select(columns=["id", "name"]),
        ],
    )


# --- store ----------------------------------------------------------------------------------


def test_save_list_load_duplicate_delete(data: Data, tusk_home: Path) -> None:
    p = oslo(data)
    path = store.save(p)
    folder = tusk_home / "pipelines"
    assert path.parent == folder
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["version"] == pipeline.VERSION
    assert store.load("oslo") == p

    store.duplicate("oslo", "oslo copy")
    assert [name for name, _ in store.list_pipelines()] == ["oslo", "oslo copy"]
    assert store.load("oslo copy").steps == p.steps

    with pytest.raises(BadInput, match="already exists"):
        store.save(p)
    changed = p.model_copy(update={"steps": p.steps[:1]})
    store.save(changed, overwrite=True)
    assert store.load("oslo").steps == changed.steps

    store.delete("oslo")
    assert [name for name, _ in store.list_pipelines()] == ["oslo copy"]
    with pytest.raises(BadInput, match="no saved pipeline called 'oslo'"):
        store.load("oslo")
    with pytest.raises(BadInput, match="no saved pipeline"):
        store.delete("oslo")


@pytest.mark.parametrize(
    "name",
    [
        "../escape",
        "a/b\\c",
        ".hidden",
        "..",
        ".",
        "x.json",
        "Zürich 🐘 таблица",
        'q"; rm -rf /',
        "%2E",
    ],
)
def test_hostile_names_stay_in_the_folder(data: Data, tusk_home: Path, name: str) -> None:
    path = store.save(oslo(data, name))
    folder = (tusk_home / "pipelines").resolve()
    assert path.resolve().parent == folder
    assert not path.name.startswith(".")
    assert store.load(name).name == name
    assert name in [n for n, _ in store.list_pipelines()]
    assert sorted(p.name for p in folder.iterdir()) == [path.name]
    store.delete(name)


def test_names_that_differ_do_not_collide(data: Data) -> None:
    store.save(oslo(data, "a/b"))
    store.save(oslo(data, "a_b"))
    store.save(oslo(data, "a%2Fb"))
    assert [n for n, _ in store.list_pipelines()] == ["a%2Fb", "a/b", "a_b"]


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("", "Give the pipeline a name"),
        ("  ", "name"),
        ("a\nb", "control"),
        ("x" * 101, "at most 100"),
    ],
)
def test_bad_names_are_refused(data: Data, name: str, words: str) -> None:
    with pytest.raises(BadInput, match=words):
        store.save(oslo(data, name))


def test_saving_needs_data_transform(data: Data, users: dict[str, object]) -> None:
    with pytest.raises(PermissionDenied, match="data.transform"):
        store.save(oslo(data), actor=users["viewer"])  # type: ignore[arg-type]
    store.save(oslo(data), actor=users["analyst"])  # type: ignore[arg-type]
    with pytest.raises(PermissionDenied):
        store.delete("oslo", actor=users["viewer"])  # type: ignore[arg-type]
    with pytest.raises(PermissionDenied):
        store.duplicate("oslo", "copy", actor=users["viewer"])  # type: ignore[arg-type]


def test_a_file_from_a_newer_tusk_is_refused_by_load(data: Data, tusk_home: Path) -> None:
    path = store.save(oslo(data))
    doc = json.loads(path.read_text())
    doc["version"] = 99
    path.write_text(json.dumps(doc))
    with pytest.raises(BadInput, match="newer Tusk"):
        store.load("oslo")


# --- CLI ------------------------------------------------------------------------------------


def test_cli_list(data: Data) -> None:
    result = runner.invoke(app, ["pipeline", "list"])
    assert result.exit_code == 0 and "No saved pipelines" in result.output
    store.save(oslo(data))
    result = runner.invoke(app, ["pipeline", "list"])
    assert result.exit_code == 0
    assert result.output.startswith("oslo  ")


def test_cli_run_prints_rows_and_count(data: Data) -> None:
    store.save(oslo(data))
    result = runner.invoke(app, ["pipeline", "run", "oslo"])
    assert result.exit_code == 0, result.output
    assert "Ann" in result.output and "Cid" in result.output
    assert result.output.strip().endswith("2 rows")


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_cli_run_writes_output(data: Data, tmp_path: Path, suffix: str) -> None:
    store.save(oslo(data))
    out = tmp_path / f"oslo.{suffix}"
    result = runner.invoke(app, ["pipeline", "run", "oslo", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert f"Wrote {out}" in result.output
    back = pl.read_csv(out) if suffix == "csv" else pl.read_parquet(out)
    assert_frame_equal(back, PEOPLE.filter(pl.col("city") == "Oslo").select("id", "name"))
    again = runner.invoke(app, ["pipeline", "run", "oslo", "-o", str(out)])
    assert again.exit_code == 1 and "already exists" in again.output
    assert (
        runner.invoke(app, ["pipeline", "run", "oslo", "-o", str(out), "--overwrite"]).exit_code
        == 0
    )


@pytest.mark.parametrize(
    ("setup", "args", "words"),
    [
        (None, ["pipeline", "run", "ghost"], "no saved pipeline called 'ghost'"),
        ("renamed", ["pipeline", "run", "bad"], "Step 1 (select): Column 'name' does not exist"),
        ("oslo", ["pipeline", "run", "oslo", "-o", "out.xlsx"], "CSV or Parquet"),
        ("empty", ["pipeline", "run", "empty"], "is empty (0 bytes)"),
    ],
)
def test_cli_errors_are_one_red_line(
    data: Data, setup: str | None, args: list[str], words: str
) -> None:
    if setup == "renamed":
        store.save(
            Pipeline(name="bad", source=data.source("cities.csv"), steps=[Select(columns=["name"])])
        )
    elif setup == "oslo":
        store.save(oslo(data))
    elif setup == "empty":
        data.write("empty.csv", "")
        store.save(Pipeline(name="empty", source=data.source("empty.csv")))
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert words in lines[0]
    assert "Traceback" not in result.output


def test_cli_run_in_a_real_process(data: Data, tusk_home: Path, tmp_path: Path) -> None:
    store.save(oslo(data))
    out = tmp_path / "real.parquet"
    env = {**os.environ, "TUSK_HOME": str(tusk_home)}
    done = subprocess.run(
        [sys.executable, "-m", "tusk.cli", "pipeline", "run", "oslo", "--output", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert pl.read_parquet(out)["name"].to_list() == ["Ann", "Cid"]
    failed = subprocess.run(
        [sys.executable, "-m", "tusk.cli", "pipeline", "run", "ghost"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert failed.returncode == 1
    assert failed.stderr.strip() == "Error: There is no saved pipeline called 'ghost'."


def test_help_does_not_import_polars() -> None:
    code = "import sys; from tusk.cli import app; print('polars' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "False"


def test_cli_run_reads_a_query_source_once(tmp_path: Path) -> None:
    """Rows and count come from one run: the query is executed once (a sequence tells)."""
    import duckdb

    from tusk import connections
    from tusk.engines.spec import ConnectionSpec
    from tusk.etl.sources import QuerySource

    path = tmp_path / "seq.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create sequence s")
    connections.add(ConnectionSpec("seqdb", "duckdb", path=str(path)))
    sql = "select nextval('s') as n from range(3)"
    store.save(Pipeline(name="seq", source=QuerySource(connection="seqdb", sql=sql)))
    result = runner.invoke(app, ["pipeline", "run", "seq"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("3 rows")
    with duckdb.connect(str(path)) as con:
        assert con.execute("select nextval('s')").fetchone() == (4,)  # 3 drawn by one run
