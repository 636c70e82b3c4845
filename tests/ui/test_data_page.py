"""The Data page driven through its widgets with AppTest, on the demo files."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl
from polars.testing import assert_frame_equal
from streamlit.testing.v1 import AppTest

from tests.ui.conftest import DATA, open_page
from tusk import files
from tusk.ui.data.page import EDIT, PIPE

F = "data_form_new_"


def _source(at: AppTest, relative: str = "customers.csv") -> None:
    at.selectbox(key="data_src_root").set_value("demo").run()
    at.selectbox(key="data_src_file").set_value(relative).run()
    at.button(key="data_use_source").click().run()
    assert not at.exception


def _add(at: AppTest, kind: str) -> None:
    at.selectbox(key="data_new_kind").set_value(kind).run()
    at.button(key="data_add").click().run()
    assert at.session_state[EDIT] == "new"


def _save_step(at: AppTest, kind: str) -> None:
    at.button(key=f"{F}{kind}_save").click().run()
    assert not at.exception
    assert not [e.value for e in at.error], [e.value for e in at.error]
    assert EDIT not in at.session_state


def _customers() -> pl.DataFrame:
    return pl.read_csv(files.resolve("demo", "customers.csv"), try_parse_dates=True)


def _city_pick() -> tuple[pl.DataFrame, str, str]:
    """The demo customers, their city column and a city that occurs in it."""
    source = _customers()
    city = next(c for c in source.columns if "city" in c)
    return source, city, str(source[city].drop_nulls()[0])


def _build_four_steps(at: AppTest, city_column: str, pick: str) -> None:
    """filter city == pick, select name+city, sort by name descending, limit 5."""
    _add(at, "filter")
    at.selectbox(key=f"{F}filter_col0").set_value(city_column).run()
    at.selectbox(key=f"{F}filter_op0").set_value("==").run()
    at.text_input(key=f"{F}filter_val0").set_value(pick).run()
    _save_step(at, "filter")
    _add(at, "select")
    at.multiselect(key=f"{F}select_cols").set_value(["name", city_column]).run()
    _save_step(at, "select")
    _add(at, "sort")
    at.selectbox(key=f"{F}sort_col0").set_value("name").run()
    at.checkbox(key=f"{F}sort_desc0").check().run()
    _save_step(at, "sort")
    _add(at, "limit")
    at.number_input(key=f"{F}limit_n").set_value(5).run()
    _save_step(at, "limit")


def test_build_a_pipeline_preview_and_code_agree() -> None:
    """Four steps built through the widgets: the preview equals an independent Polars
    expectation, and the generated code, executed, gives the same frame."""
    from tusk.etl import codegen
    from tusk.etl import pipeline as etl

    source, city, pick = _city_pick()
    at = open_page(DATA)
    _source(at)
    _build_four_steps(at, city, pick)
    p = at.session_state[PIPE]
    assert [s.kind for s in p.steps] == ["filter", "select", "sort", "limit"]
    expected = (
        source.filter(pl.col(city).cast(pl.String) == pick)
        .select("name", city)
        .sort("name", descending=True, nulls_last=True)
        .head(5)
    )
    shown = at.dataframe[0].value  # the preview (pandas from Streamlit)
    assert list(shown.columns) == ["name", city]
    assert list(shown["name"]) == expected["name"].to_list()
    result = etl.collect(p)
    assert_frame_equal(result, expected, check_dtypes=False)
    namespace: dict[str, object] = {}
    exec(codegen.code(p), namespace)  # noqa: S102 - the generated code is what we test
    assert_frame_equal(namespace["result"], result)
    assert any("import polars" in c.value for c in at.code)  # the Code tab shows it


def test_a_broken_step_is_marked_and_the_rest_stays() -> None:
    """Renaming a column away, then filtering on it: the filter says so; no step is lost."""
    at = open_page(DATA)
    _source(at)
    _add(at, "rename")
    at.selectbox(key=f"{F}rename_col0").set_value("name").run()
    at.text_input(key=f"{F}rename_new0").set_value("full_name").run()
    _save_step(at, "rename")
    p = at.session_state[PIPE]
    from tusk.etl import steps

    broken = steps.Filter(conditions=[steps.Condition(column="name", op="is_not_null")])
    at.session_state[PIPE] = p.model_copy(update={"steps": [*p.steps, broken]})
    at.run()
    assert not at.exception
    errors = [e.value.replace("\\", "") for e in at.error]
    assert any("Step 2" in e and "name" in e for e in errors), errors
    assert len(at.session_state[PIPE].steps) == 2
    # Untick the broken step: the preview runs again without it.
    at.checkbox(key=f"data_on_{broken.id}").uncheck().run()
    assert not at.session_state[PIPE].steps[1].enabled
    assert "full_name" in list(at.dataframe[0].value.columns)


def test_save_reopen_export_and_import() -> None:
    """Save the pipeline, open it again in a new session, export it to a data root and import
    it into the demo DuckDB."""
    source, city, pick = _city_pick()
    at = open_page(DATA)
    _source(at)
    _build_four_steps(at, city, pick)
    at.text_input(key="data_save_name").set_value("top customers").run()
    at.button(key="data_save_go").click().run()
    assert not at.exception and not at.error

    again = open_page(DATA)
    again.button(key="data_open_top customers").click().run()
    p = again.session_state[PIPE]
    assert p.name == "top customers" and len(p.steps) == 4

    again.selectbox(key="data_out_root").set_value(files.roots()[0].name).run()
    again.text_input(key="data_out_file").set_value("top.parquet").run()
    again.button(key="data_out_go").click().run()
    assert not again.exception and not again.error
    written = pl.read_parquet(files.resolve(files.roots()[0].name, "top.parquet"))
    assert written.height == min(5, source.filter(pl.col(city).cast(pl.String) == pick).height)

    again.selectbox(key="data_imp_conn").set_value("demo").run()
    again.text_input(key="data_imp_table").set_value("top_customers").run()
    again.button(key="data_imp_go").click().run()
    assert not again.exception and not again.error
    from tusk import connections

    conn = connections.open_for(connections.ensure_demo())  # the page's worker holds it
    try:
        n = conn.execute("select count(*) from top_customers").table.column(0)[0].as_py()
    finally:
        conn.close()
    assert n == written.height


def test_viewer_sees_but_cannot_build(multi_user: Callable[..., None]) -> None:
    """data.view without data.transform: no source form, no step editing, no import."""
    multi_user({"vera": "Viewers"})
    at = open_page(DATA, user="vera")
    assert not [b for b in at.button if b.key == "data_use_source"]
