"""Keys and completions that must never be lost: Ctrl+Shift+Enter, autocomplete that follows
the text and the connection, and a theme switch that keeps the Studio's results."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Locator, Page, expect
from psycopg import sql

from tests.conftest import server_connection
from tests.e2e.conftest import wait_idle
from tests.e2e.test_studio import (
    CITIES,
    CITIES_SQL,
    CURRENT,
    EDITOR,
    EXCEPTION,
    GRID,
    add_pg_connection,
    cell,
    editor,
    editor_text,
    grid_headers,
    open_studio,
    pick_connection,
    rows_caption,
    run_sql,
    shown_rows,
    type_sql,
    wait_for_grid,
)

pytestmark = pytest.mark.e2e

# Ace's completion popup (inside the editor's iframe): one line per offered completion. A
# closed popup stays in the page, hidden, with its old lines.
POPUP_LINES = ".ace_autocomplete .ace_line:visible"
# The editor itself (the popup is an Ace editor too).
ACE = ".ace_editor:not(.ace_autocomplete)"
_BG = "getComputedStyle(document.querySelector('[data-testid=stApp]')).backgroundColor"


def popup(page: Page) -> Locator:
    """The lines of the editor's completion popup."""
    return editor(page).locator(POPUP_LINES)


def complete_after(page: Page, text: str, column: int | None = None) -> None:
    """Type `text` into the editor at once (no pause for the editor's report), put the cursor
    at `column` of its single line (default: the end) and ask for completions (Ctrl+Space)."""
    # The page hooks Tusk's completer into a newly drawn editor within a moment: wait for it.
    frame = page.locator(CURRENT).locator(EDITOR).element_handle().content_frame()
    assert frame is not None
    frame.wait_for_function(
        "(ace) => document.querySelector(ace)?.env?.editor?.tuskHooked === true", arg=ACE
    )
    editor(page).locator(ACE).click()
    page.keyboard.press("Control+A")
    page.keyboard.type(text)
    if column is not None:
        page.keyboard.press("Home")
        for _ in range(column):
            page.keyboard.press("ArrowRight")
    page.keyboard.press("Control+Space")


def close_popup(page: Page) -> None:
    """Escape closes Ace's popup (the page's Esc shortcut only cancels a running query)."""
    page.keyboard.press("Escape")
    expect(popup(page)).to_have_count(0)


# --- Ctrl+Shift+Enter ---------------------------------------------------------------------------


def test_ctrl_shift_enter_runs_the_statement_at_the_cursor(
    page: Page, fresh_studio_url: str
) -> None:
    """Ctrl+Shift+Enter runs only the statement under the cursor and leaves the text alone
    (Ace's VS Code keymap used to insert a blank line above the cursor instead)."""
    sql = "select 1 as first_one; select 2 as second_one;"
    open_studio(page, fresh_studio_url)
    type_sql(page, sql)
    page.keyboard.press("Escape")
    page.keyboard.press("Home")  # the cursor on the first statement
    page.keyboard.press("Control+Shift+Enter")
    wait_for_grid(page, 1, rows_caption(1))
    assert grid_headers(page) == ["first_one"]
    expect(cell(page, 0, "first_one")).to_have_text("1")
    expect(editor_text(page)).to_have_text(sql)
    value = editor(page).locator(ACE).evaluate("(node) => node.env.editor.getValue()")
    assert value == sql
    expect(page.locator(EXCEPTION)).to_have_count(0)


# --- autocomplete -------------------------------------------------------------------------------


def test_alias_columns_are_offered_as_soon_as_the_alias_is_typed(
    page: Page, fresh_studio_url: str
) -> None:
    """`cu.` offers the columns of the table aliased `cu` before the page has seen the text,
    and only those (no other table's columns, no keywords)."""
    open_studio(page, fresh_studio_url)
    complete_after(page, "select cu. from customers cu", column=len("select cu."))
    expect(popup(page).filter(has_text="column · customers").first).to_be_visible(timeout=10_000)
    lines = popup(page).all_inner_texts()
    names = [line.split("\n")[0].strip() for line in lines]
    assert {"id", "name", "email", "city_id", "signed_up"} <= set(names), lines
    assert all("column · customers" in line for line in lines), lines
    page.keyboard.press("Enter")  # take the first offer
    value = editor(page).locator(ACE).evaluate("(node) => node.env.editor.getValue()")
    assert re.fullmatch(r"select cu\.\w+ from customers cu", value), value
    expect(page.locator(EXCEPTION)).to_have_count(0)


@pytest.mark.postgres
def test_completions_follow_the_tabs_connection(
    page: Page, fresh_studio_url: str, pg_database: str
) -> None:
    """After the tab moves to another connection its tables are offered at once and the old
    connection's are gone; moving back brings the old ones back."""
    table = f"zebra_{uuid.uuid4().hex[:6]}"
    with server_connection(pg_database) as conn:
        conn.execute(sql.SQL("create table {} (stripes int)").format(sql.Identifier(table)))
    name = f"pg-complete-{uuid.uuid4().hex[:6]}"
    open_studio(page, fresh_studio_url)
    complete_after(page, "select * from custo")
    expect(popup(page).filter(has_text="customers").first).to_be_visible(timeout=15_000)
    close_popup(page)
    wait_idle(page)

    add_pg_connection(page, name, pg_database)  # the tab now runs on it
    complete_after(page, "select * from zebra")
    expect(popup(page).filter(has_text=table).first).to_be_visible(timeout=15_000)
    close_popup(page)
    complete_after(page, "select * from custo")
    page.wait_for_timeout(1000)  # give a stale popup the time to show
    assert popup(page).filter(has_text="customers").count() == 0, popup(page).all_inner_texts()
    page.keyboard.press("Escape")
    wait_idle(page)

    pick_connection(page, "demo")
    complete_after(page, "select * from custo")
    expect(popup(page).filter(has_text="customers").first).to_be_visible(timeout=15_000)
    close_popup(page)
    complete_after(page, "select * from zebra")
    page.wait_for_timeout(1000)
    expect(popup(page).filter(has_text=table)).to_have_count(0)
    page.keyboard.press("Escape")
    expect(page.locator(EXCEPTION)).to_have_count(0)


# --- theme --------------------------------------------------------------------------------------


def _toggle_theme(page: Page) -> None:
    page.get_by_text("Dark theme").click()
    wait_idle(page)


def test_theme_switch_keeps_the_studios_results(page: Page, fresh_studio_url: str) -> None:
    """Switching the theme (and back) keeps the tab's result and SQL on screen."""
    open_studio(page, fresh_studio_url)
    run_sql(page, CITIES_SQL)
    wait_for_grid(page, 12, rows_caption(12))
    switch = page.get_by_role("switch", name="Dark theme")
    expect(switch).not_to_be_checked()
    try:
        _toggle_theme(page)
        expect(switch).to_be_checked()
        page.wait_for_function(f"{_BG} !== 'rgb(255, 255, 255)'", timeout=15_000)
        wait_for_grid(page, 12, rows_caption(12))
        assert shown_rows(page) == [list(r) for r in CITIES]
        expect(editor_text(page)).to_have_text(CITIES_SQL)
    finally:
        if switch.is_checked():
            _toggle_theme(page)
    expect(switch).not_to_be_checked()
    page.wait_for_function(f"{_BG} === 'rgb(255, 255, 255)'", timeout=15_000)
    wait_for_grid(page, 12, rows_caption(12))
    expect(page.locator(GRID)).to_have_count(1)
    expect(editor_text(page)).to_have_text(CITIES_SQL)
