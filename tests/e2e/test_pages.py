"""Every page loads in a real browser without an exception; the Studio runs SQL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import wait_idle
from tusk.ui.shell import PAGES, PageInfo

pytestmark = pytest.mark.e2e

EXCEPTION = '[data-testid="stException"]'


def url_path(page_file: str) -> str:
    """Streamlit's classic multipage URL path for a page file: `pages/1_Studio.py` → `/Studio`."""
    if page_file == "app.py":
        return "/"
    return "/" + re.sub(r"^\d+_", "", Path(page_file).stem)


def open_page(page: Page, base_url: str, path: str) -> None:
    """Load a page and wait until it has fully rendered."""
    page.goto(base_url + path)
    wait_idle(page)


def sql_box(page: Page) -> Locator:
    """The Studio's SQL text area."""
    return page.get_by_role("textbox", name="SQL", exact=True)


def run_sql(page: Page, sql: str) -> None:
    """Type a statement into the Studio's SQL box and click Run."""
    box = sql_box(page)
    box.fill(sql)
    page.get_by_role("button", name="Run", exact=True).click()


def test_url_path() -> None:
    """Page files map to Streamlit's URL paths."""
    assert url_path("app.py") == "/"
    assert url_path("pages/1_Studio.py") == "/Studio"
    assert url_path("pages/6_Users.py") == "/Users"


@pytest.mark.parametrize("info", PAGES, ids=[p.label for p in PAGES])
def test_page_loads(page: Page, studio_url: str, info: PageInfo) -> None:
    """The page renders its own title and shows no exception."""
    open_page(page, studio_url, url_path(info.path))
    # An unknown path falls back to Home, so check the document title names this page.
    expect(page).to_have_title(f"Tusk · {info.label}")
    title = page.get_by_role("heading", level=1, name=re.compile(rf"\b{info.label}$"))
    expect(title).to_be_visible()
    expect(page.locator(EXCEPTION)).to_have_count(0)


def test_studio_runs_sql(page: Page, studio_url: str) -> None:
    """A count over the demo's orders shows one row holding 5000."""
    open_page(page, studio_url, "/Studio")
    run_sql(page, "select count(*) as n from orders")
    # The caption above the grid: only a run of the new statement gives exactly one row
    # (the default statement returns 100).
    expect(page.get_by_text(re.compile(r"^1 row · \d+ ms$"))).to_be_visible()
    wait_idle(page)
    grid = page.locator('[data-testid="stDataFrame"]:visible')
    expect(grid).to_have_count(1)
    # st.dataframe draws on a canvas; glide-data-grid mirrors the cells in an accessible
    # table inside it, which is what screen readers read.
    expect(grid.locator('th[role="columnheader"]')).to_have_text(["n"])
    expect(grid.locator('td[role="gridcell"]')).to_have_text(["5000"])
    expect(page.locator(EXCEPTION)).to_have_count(0)
    expect(sql_box(page)).to_have_value("select count(*) as n from orders")


def test_studio_bad_sql_shows_error(page: Page, studio_url: str) -> None:
    """A syntax error is shown as "Query failed" and the statement stays in the box."""
    open_page(page, studio_url, "/Studio")
    run_sql(page, "selec 1")
    alert = page.locator('[data-testid="stAlert"]').filter(has_text="Query failed")
    expect(alert).to_be_visible()
    wait_idle(page)
    expect(alert).to_have_count(1)
    expect(page.locator(EXCEPTION)).to_have_count(0)
    expect(sql_box(page)).to_have_value("selec 1")
    # No result grid: nothing ran successfully in this browser session.
    expect(page.locator('[data-testid="stDataFrame"]:visible')).to_have_count(0)
