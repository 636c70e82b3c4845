"""Pages driven with Streamlit's AppTest: each renders, the Studio runs SQL, errors keep input."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tusk.store import history
from tusk.ui.shell import PAGES

REPO = Path(__file__).resolve().parents[2]


def _app() -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.run()
    return at


def test_home_lists_the_demo_connection() -> None:
    """Home shows the built-in demo connection and no exception."""
    at = _app()
    assert not at.exception
    assert any("demo" in m.value for m in at.markdown)
    assert at.title[0].value.endswith("Home")


def test_home_test_button_connects() -> None:
    """Testing the demo connection from Home reports success."""
    at = _app()
    at.button(key="test_demo").click().run()
    assert not at.exception
    assert any("Connected" in s.value for s in at.success)


@pytest.mark.parametrize("page", [p for p in PAGES if p.path != "app.py"], ids=lambda p: p.label)
def test_every_page_renders(page) -> None:  # noqa: ANN001 - PageInfo from the parametrize list
    """Each page opens from Home without an exception and shows its title."""
    at = _app()
    at.switch_page(page.path).run()
    assert not at.exception
    assert at.title[0].value.endswith(page.label)


def test_unbuilt_pages_say_so() -> None:
    """Pages whose features are not built yet say so plainly."""
    at = _app()
    at.switch_page("pages/2_Admin.py").run()
    assert any("not built yet" in i.value for i in at.info)


def test_studio_runs_sql_on_the_demo() -> None:
    """The Studio runs a query on the demo database and records it in history."""
    at = _app()
    at.switch_page("pages/1_Studio.py").run()
    at.text_area(key="studio_sql").set_value("select count(*) as n from orders")
    at.button(key="studio_run").click().run()
    assert not at.exception
    assert not at.error
    frame = at.dataframe[0].value
    assert frame["n"].tolist() == [5000]
    (entry,) = history.search()
    assert entry.statement == "select count(*) as n from orders" and entry.row_count == 1


def test_studio_bad_sql_shows_error_and_keeps_the_text() -> None:
    """Wrong SQL gives a readable st.error; the SQL stays in the box; the app keeps running."""
    at = _app()
    at.switch_page("pages/1_Studio.py").run()
    at.text_area(key="studio_sql").set_value("selec 1 from orders")
    at.button(key="studio_run").click().run()
    assert not at.exception
    assert "Query failed" in at.error[0].value
    assert "selec" in at.error[0].value
    assert at.text_area(key="studio_sql").value == "selec 1 from orders"
    assert history.search(errors_only=True)[0].statement == "selec 1 from orders"
    # the connection still works after the error
    at.text_area(key="studio_sql").set_value("select 42 as answer")
    at.button(key="studio_run").click().run()
    assert at.dataframe[0].value["answer"].tolist() == [42]


def test_studio_dml_reports_affected_rows() -> None:
    """A statement without a result set says how many rows it touched."""
    at = _app()
    at.switch_page("pages/1_Studio.py").run()
    at.text_area(key="studio_sql").set_value(
        "create temp table t as select 1 as x; update t set x = 2"
    )
    at.button(key="studio_run").click().run()
    assert not at.exception
    assert at.success[0].value.startswith("1 row affected")


def test_studio_truncation_is_announced(tusk_home) -> None:  # noqa: ANN001
    """More rows than the limit: the caption says only the first ones are shown."""
    from tusk import config

    config.set_value("default_limit", "10")
    at = _app()
    at.switch_page("pages/1_Studio.py").run()
    at.text_area(key="studio_sql").set_value("select * from orders")
    at.button(key="studio_run").click().run()
    assert len(at.dataframe[0].value) == 10
    assert any("more rows exist" in c.value for c in at.caption)
