"""The Studio's run path in a real browser: a fast query's rows without a "Running…" state, a
long DuckDB query that shows "Running…" and stops at Esc, tabs that each keep their own
result, and a query whose browser went away is cancelled on the server."""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import PG_HOST, PG_PASSWORD, PG_PORT, PG_USER
from tests.e2e.conftest import wait_idle
from tests.e2e.test_studio import (
    ALERT,
    EXCEPTION,
    GRID,
    RUNNING,
    add_pg_connection,
    button,
    cell,
    editor,
    grid_headers,
    open_studio,
    page_header,
    pick_connection,
    rows_caption,
    run_sql,
    type_sql,
    wait_for_grid,
)

pytestmark = pytest.mark.e2e

# Billions of hash() calls: far longer than any test waits, on any machine.
LONG_DUCKDB = "select sum(hash(a.range * b.range)) as s from range(45000) a, range(45000) b"

# Counts every "Running…" the page ever shows, however briefly (a MutationObserver).
_WATCH_RUNNING_JS = """
() => {
  window.__tuskRunningSeen = 0;
  new MutationObserver(() => {
    if (document.body.innerText.includes('Running…')) window.__tuskRunningSeen += 1;
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}
"""


def _tabs(page: Page):  # noqa: ANN202 - a Locator
    return page.get_by_role("radiogroup", name="Query tabs").get_by_role("radio")


def test_fast_query_rows_come_without_a_running_state(page: Page, fresh_studio_url: str) -> None:
    """A query that ends at once is drawn in the run Ctrl+Enter started: the page never shows
    "Running…" on its way to the rows, and the sidebar keeps the tab's connection."""
    open_studio(page, fresh_studio_url)
    for tag in ("first", "second"):  # the second run replaces the first result
        type_sql(page, f"select '{tag}' as tag")
        page.evaluate(_WATCH_RUNNING_JS)
        page.keyboard.press("Escape")
        page.keyboard.press("Control+Enter")
        expect(cell(page, 0, "tag")).to_have_text(tag, timeout=30_000)
        wait_idle(page)
        assert page.evaluate("window.__tuskRunningSeen") == 0
        expect(page.get_by_text(rows_caption(1))).to_be_visible()
    expect(page.locator(GRID)).to_have_count(1)
    expect(page.locator(EXCEPTION)).to_have_count(0)


def test_long_duckdb_query_shows_running_and_esc_stops_it(
    page: Page, fresh_studio_url: str
) -> None:
    """On the demo DuckDB a long query shows "Running…" with Cancel enabled, and Esc stops it
    at once; the session then runs the next query (nothing waited on the running query's
    lock: not the attached-databases panel, not the schema)."""
    open_studio(page, fresh_studio_url)
    run_sql(page, LONG_DUCKDB)
    expect(page.get_by_text(RUNNING)).to_be_visible(timeout=10_000)
    expect(button(page, "studio_cancel")).to_be_enabled()
    page.wait_for_timeout(500)
    started = time.monotonic()
    editor(page).locator(".ace_editor").click()
    page.keyboard.press("Escape")
    cancelled = page.locator(ALERT).filter(has_text="Query cancelled")
    expect(cancelled).to_be_visible(timeout=10_000)
    assert time.monotonic() - started < 10
    expect(page.get_by_text(RUNNING)).to_have_count(0)
    wait_idle(page)

    run_sql(page, "select 42 as answer")
    wait_for_grid(page, 1, rows_caption(1))
    expect(cell(page, 0, "answer")).to_have_text("42")
    expect(page.locator(EXCEPTION)).to_have_count(0)


def test_cancel_button_stops_a_long_duckdb_query(page: Page, fresh_studio_url: str) -> None:
    """The Cancel button is enabled while the long query runs and stops it."""
    open_studio(page, fresh_studio_url)
    run_sql(page, LONG_DUCKDB)
    expect(page.get_by_text(RUNNING)).to_be_visible(timeout=10_000)
    cancel = button(page, "studio_cancel")
    expect(cancel).to_be_enabled()
    cancel.click()
    expect(page.locator(ALERT).filter(has_text="Query cancelled")).to_be_visible(timeout=10_000)
    expect(page.get_by_text(RUNNING)).to_have_count(0)
    expect(button(page, "studio_run")).to_be_enabled()


def test_two_tabs_run_one_after_the_other_each_shows_its_own(
    page: Page, fresh_studio_url: str
) -> None:
    """Query 1 runs, then Query 2 runs: each tab shows its own result when it is shown, never
    the other's."""
    open_studio(page, fresh_studio_url)
    run_sql(page, "select 'from tab one' as tag")
    expect(cell(page, 0, "tag")).to_have_text("from tab one", timeout=30_000)
    wait_idle(page)

    button(page, "studio_new_tab").click()
    expect(_tabs(page).filter(has_text="Query 2")).to_be_checked()
    wait_idle(page)
    expect(page.locator(GRID)).to_have_count(0)  # a new tab has no result of its own
    run_sql(page, "select 'from tab two' as tag")
    expect(cell(page, 0, "tag")).to_have_text("from tab two", timeout=30_000)
    wait_idle(page)

    for title, tag in (("Query 1", "from tab one"), ("Query 2", "from tab two")):
        _tabs(page).filter(has_text=title).click()
        expect(_tabs(page).filter(has_text=title)).to_be_checked()
        wait_idle(page)
        expect(cell(page, 0, "tag")).to_have_text(tag)
        expect(page.locator(GRID)).to_have_count(1)
    expect(page.locator(EXCEPTION)).to_have_count(0)


def _sleeping(database: str) -> int:
    """How many sessions sleep in pg_sleep on `database` now (the Studio fetches through a
    cursor, so pg_stat_activity shows its FETCH, not the statement: the wait event tells)."""
    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, password=PG_PASSWORD, dbname=database
    ) as conn:
        row = conn.execute(
            "select count(*) from pg_stat_activity where datname = current_database()"
            " and state = 'active' and wait_event = 'PgSleep'"
        ).fetchone()
    return int(row[0]) if row else 0


@pytest.mark.postgres
def test_closed_browser_cancels_its_query(
    browser: Browser, fresh_studio_url: str, pg_database: str
) -> None:
    """A query whose browser session went away is cancelled on the server within seconds,
    not left running to its end."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        name = f"pg-gone-{uuid.uuid4().hex[:6]}"
        open_studio(page, fresh_studio_url)
        add_pg_connection(page, name, pg_database)
        pick_connection(page, name)
        expect(page_header(page, "PostgreSQL", name)).to_be_visible()
        run_sql(page, "select pg_sleep(120) as gone")
        expect(page.get_by_text(RUNNING)).to_be_visible(timeout=10_000)
        deadline = time.monotonic() + 10
        while _sleeping(pg_database) == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _sleeping(pg_database) == 1
    finally:
        context.close()  # the person closes the browser
    deadline = time.monotonic() + 30
    while _sleeping(pg_database) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _sleeping(pg_database) == 0, "the query outlived its browser session"


def test_next_result_replaces_the_grid_columns_and_rows(page: Page, fresh_studio_url: str) -> None:
    """The grid is kept across runs of a tab (no new grid to load each time); the next result
    still brings its own columns and rows, none of the previous result's."""
    open_studio(page, fresh_studio_url)
    run_sql(page, "select 1 as a, 'x' as b from range(3)")
    wait_for_grid(page, 3, rows_caption(3))
    assert grid_headers(page) == ["a", "b"]
    run_sql(page, "select 'only' as c")
    expect(cell(page, 0, "c")).to_have_text("only", timeout=30_000)
    wait_for_grid(page, 1, rows_caption(1))
    assert grid_headers(page) == ["c"]
    expect(page.locator(EXCEPTION)).to_have_count(0)
