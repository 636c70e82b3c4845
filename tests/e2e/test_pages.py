"""Every page loads in a real browser without an exception; the Studio runs SQL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import wait_idle
from tests.e2e.test_studio import (
    GRID,
    cell,
    editor_text,
    grid_headers,
    open_studio,
    rows_caption,
    run_sql,
    wait_for_grid,
)
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


def test_url_path() -> None:
    """Page files map to Streamlit's URL paths."""
    assert url_path("app.py") == "/"
    assert url_path("pages/1_Studio.py") == "/Studio"
    assert url_path("pages/6_Users.py") == "/Users"


@pytest.mark.parametrize("info", PAGES, ids=[p.label for p in PAGES])
def test_page_loads(page: Page, fresh_studio_url: str, info: PageInfo) -> None:
    """The page renders its own title and shows no exception."""
    open_page(page, fresh_studio_url, url_path(info.path))
    # An unknown path falls back to Home, so check the document title names this page.
    expect(page).to_have_title(f"Tusk · {info.label}")
    title = page.get_by_role("heading", level=1, name=re.compile(rf"\b{info.label}$"))
    expect(title).to_be_visible()
    expect(page.locator(EXCEPTION)).to_have_count(0)


def test_studio_runs_sql(page: Page, fresh_studio_url: str) -> None:
    """A count over the demo's orders, typed and run with Ctrl+Enter, shows one row: 5000."""
    sql = "select count(*) as n from orders"
    open_studio(page, fresh_studio_url)
    run_sql(page, sql)
    # The caption above the grid: the default statement would give 100 rows.
    wait_for_grid(page, 1, rows_caption(1))
    assert grid_headers(page) == ["n"]
    expect(cell(page, 0, "n")).to_have_text("5000")
    expect(page.locator(EXCEPTION)).to_have_count(0)
    expect(editor_text(page)).to_have_text(sql)


def test_studio_bad_sql_shows_error(page: Page, fresh_studio_url: str) -> None:
    """A syntax error is shown as "Query failed" and the statement stays in the editor."""
    open_studio(page, fresh_studio_url)
    run_sql(page, "selec 1")
    alert = page.locator('[data-testid="stAlert"]').filter(has_text="Query failed")
    expect(alert).to_be_visible(timeout=30_000)
    wait_idle(page)
    expect(alert).to_have_count(1)
    expect(page.locator(EXCEPTION)).to_have_count(0)
    expect(editor_text(page)).to_have_text("selec 1")
    # No result grid: nothing ran successfully in this browser session.
    expect(page.locator(GRID)).to_have_count(0)
