"""The Studio in a real browser: Ace editor, AgGrid results, cancel, connections, export, tabs."""

from __future__ import annotations

import contextlib
import csv
import re
import struct
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import FrameLocator, Locator, Page, expect

from tests.conftest import PG_HOST, PG_PASSWORD, PG_PORT, PG_USER
from tests.e2e.conftest import wait_idle

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-results"  # git-ignored; screenshots for people to look at

# Elements of the current run only: while a rerun draws, the previous run's elements linger
# (data-stale="true"), e.g. the old tab's editor next to the new one's.
CURRENT = '[data-testid="stElementContainer"][data-stale="false"]'
EDITOR = 'iframe[title="code_editor.code_editor"]'
GRID = 'iframe[title="st_aggrid.AgGrid.agGrid"]'
ROWS = ".ag-center-cols-container .ag-row"
ALERT = '[data-testid="stAlert"]'
EXCEPTION = '[data-testid="stException"]'
RUNNING = re.compile(r"^Running…")
# The editor reports its text 250 ms after the last keystroke (streamlit-code-editor's
# debounce). A report replaces an earlier one the script has not read yet, so a Ctrl+Enter
# sent just before that report can be lost on a busy page: let the report go first.
DEBOUNCE_SETTLE_MS = 600

CITIES = [
    ("1", "Lisbon"),
    ("2", "Berlin"),
    ("3", "Paris"),
    ("4", "Madrid"),
    ("5", "Rome"),
    ("6", "Amsterdam"),
    ("7", "Vienna"),
    ("8", "Warsaw"),
    ("9", "Stockholm"),
    ("10", "Dublin"),
    ("11", "Prague"),
    ("12", "Athens"),
]
CITIES_SQL = "select id, name from cities order by id"

# The grid's rows as shown: AG Grid keeps its row elements in place when it sorts and only
# moves them (row-index), so read rows by row-index and cells by column index.
_SHOWN_ROWS_JS = """
(container) => [...container.querySelectorAll('.ag-row')]
  .sort((a, b) => Number(a.getAttribute('row-index')) - Number(b.getAttribute('row-index')))
  .map((row) => [...row.querySelectorAll('.ag-cell')]
    .sort((a, b) => Number(a.getAttribute('aria-colindex'))
      - Number(b.getAttribute('aria-colindex')))
    .map((cell) => cell.innerText.trim()))
"""


# --- helpers (test_pages.py uses them too) --------------------------------------------------------


def open_studio(page: Page, base_url: str) -> None:
    """Load the Studio and wait until it has fully rendered, editor included."""
    page.goto(base_url + "/Studio")
    wait_idle(page)
    expect(page.locator(EDITOR)).to_have_count(1)
    expect(editor(page).locator(".ace_editor")).to_be_visible()


def editor(page: Page) -> FrameLocator:
    """The Ace editor's iframe (the current run's)."""
    return page.locator(CURRENT).locator(EDITOR).content_frame


def editor_text(page: Page) -> Locator:
    """Ace's text layer: the statement as the editor shows it."""
    return editor(page).locator(".ace_text-layer")


def type_sql(page: Page, sql: str) -> None:
    """Replace the editor's text with `sql`, as a person would type it."""
    editor(page).locator(".ace_editor").click()
    page.keyboard.press("Control+A")
    page.keyboard.type(sql)
    expect(editor_text(page)).to_have_text(sql)
    # Let the editor report the text and the page rerun before any shortcut or click.
    page.wait_for_timeout(DEBOUNCE_SETTLE_MS)
    wait_idle(page)


def run_sql(page: Page, sql: str) -> None:
    """Type a statement and submit it with Ctrl+Enter (Escape first closes Ace's popup)."""
    type_sql(page, sql)
    page.keyboard.press("Escape")
    page.keyboard.press("Control+Enter")


def button(page: Page, key: str) -> Locator:
    """A keyed st.button. A button with a shortcut also has a hidden copy (Streamlit measures
    its width with it), hence :visible."""
    return page.locator(f".st-key-{key} button:visible")


def run_with_button(page: Page, sql: str) -> None:
    """Type a statement and click the page's Run button."""
    type_sql(page, sql)
    button(page, "studio_run").click()


def grid(page: Page) -> FrameLocator:
    """The results grid's iframe (one result on the page)."""
    return page.locator(CURRENT).locator(GRID).content_frame


def wait_for_grid(page: Page, rows: int, caption: str | re.Pattern[str] | None = None) -> None:
    """Wait until the run has finished and a single grid shows `rows` rows."""
    if caption is not None:
        expect(page.get_by_text(caption)).to_be_visible(timeout=30_000)
    expect(grid(page).locator(ROWS)).to_have_count(rows, timeout=30_000)
    wait_idle(page)
    expect(page.locator(GRID)).to_have_count(1)


def grid_headers(page: Page) -> list[str]:
    """Column headers of the grid, left to right."""
    return [t.strip() for t in grid(page).locator(".ag-header-cell-text").all_inner_texts()]


def shown_rows(page: Page) -> list[list[str]]:
    """Every rendered row of the grid, in the order shown."""
    return grid(page).locator(".ag-center-cols-container").evaluate(_SHOWN_ROWS_JS)


def cell(page: Page, row_index: int, column: str) -> Locator:
    """One cell of the grid by its shown row position and column name."""
    return grid(page).locator(
        f'.ag-center-cols-container .ag-row[row-index="{row_index}"] [col-id="{column}"]'
    )


def rows_caption(n: int) -> re.Pattern[str]:
    """The caption above a result: '12 rows · 3 ms'."""
    noun = "row" if n == 1 else "rows"
    return re.compile(rf"^{n} {noun} · \d")


def artifact(page: Page, name: str, height: int | None = None) -> Path:
    """Save a screenshot into test-results/. Streamlit scrolls inside its own container, so a
    full-page screenshot shows no more than the viewport: pass a taller `height` instead."""
    ARTIFACTS.mkdir(exist_ok=True)
    if height is not None:
        width = page.viewport_size["width"] if page.viewport_size else 1400
        page.set_viewport_size({"width": width, "height": height})
        wait_idle(page)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    return path


def page_header(page: Page, engine: str, name: str) -> Locator:
    """The page header's 'engine · connection' line."""
    return page.locator('[data-testid="stMain"]').get_by_text(f"{engine} · {name}", exact=True)


def connection_picker(page: Page) -> Locator:
    """The sidebar's 'Connection for this tab' selectbox."""
    return page.get_by_role("combobox", name="Connection for this tab")


def open_add_dialog(page: Page) -> Locator:
    """Click the sidebar's Add and return the 'Add connection' dialog."""
    button(page, "studio_conn_add").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_text("Add connection")).to_be_visible()
    wait_idle(page)
    return dialog


def fill_pg_form(dialog: Locator, name: str, database: str, user: str, password: str) -> None:
    """Fill the Add dialog's PostgreSQL fields."""
    expect(dialog.get_by_role("combobox", name="Engine")).to_have_value("PostgreSQL")
    fields = {
        "Name": name,
        "Host": PG_HOST,
        "Port": str(PG_PORT),
        "Database": database,
        "User": user,
        "Password": password,
    }
    # Streamlit takes a text input's value when it loses focus: filling the next field, or
    # clicking Test/Save, does that. (Not Tab: from the password field it moves focus to the
    # show-password toggle, and Streamlit 1.67 then never takes the password.)
    for label, value in fields.items():
        dialog.get_by_label(label, exact=True).fill(value)


def add_pg_connection(page: Page, name: str, database: str) -> None:
    """Add a PostgreSQL connection through the sidebar's Add dialog and save it."""
    dialog = open_add_dialog(page)
    fill_pg_form(dialog, name, database, PG_USER, PG_PASSWORD)
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_role("dialog")).to_have_count(0, timeout=15_000)
    # The tab now runs on the new connection.
    expect(page_header(page, "PostgreSQL", name)).to_be_visible()
    wait_idle(page)


def pick_connection(page: Page, name: str) -> None:
    """Choose the tab's connection in the sidebar's picker."""
    connection_picker(page).click()
    page.get_by_role("option", name=name, exact=True).click()
    expect(connection_picker(page)).to_have_value(name)
    wait_idle(page)


# --- running and the grid -----------------------------------------------------------------------


def test_ctrl_enter_runs_sql_into_grid(page: Page, fresh_studio_url: str) -> None:
    """Typed SQL submitted with Ctrl+Enter fills the grid with the right rows and columns."""
    open_studio(page, fresh_studio_url)
    expect(page.locator(GRID)).to_have_count(0)  # a new session has no result yet
    run_sql(page, CITIES_SQL)
    wait_for_grid(page, 12, rows_caption(12))
    assert grid_headers(page) == ["id", "name"]
    expect(cell(page, 0, "id")).to_have_text("1")
    expect(cell(page, 0, "name")).to_have_text("Lisbon")
    assert shown_rows(page) == [list(r) for r in CITIES]
    expect(page.locator(EXCEPTION)).to_have_count(0)
    expect(editor_text(page)).to_have_text(CITIES_SQL)


def _sort_by_name(page: Page) -> None:
    """Click the name header twice: ascending, then descending; check the order each time."""
    by_name = sorted(CITIES, key=lambda r: r[1])
    name_header = grid(page).locator('.ag-header-cell[col-id="name"]')
    name_header.locator(".ag-header-cell-text").click()
    expect(name_header).to_have_attribute("aria-sort", "ascending")
    expect(cell(page, 0, "name")).to_have_text("Amsterdam")
    assert shown_rows(page) == [list(r) for r in by_name]

    name_header.locator(".ag-header-cell-text").click()
    expect(name_header).to_have_attribute("aria-sort", "descending")
    expect(cell(page, 0, "name")).to_have_text("Warsaw")
    assert shown_rows(page) == [list(r) for r in reversed(by_name)]


def test_grid_header_click_sorts(page: Page, fresh_studio_url: str) -> None:
    """Clicking a column header sorts the rows: ascending, then descending. The sort outlives
    the rerun that the click causes (the editor, focused since Ctrl+Enter, reports "blur")."""
    open_studio(page, fresh_studio_url)
    run_sql(page, CITIES_SQL)
    wait_for_grid(page, 12, rows_caption(12))
    expect(cell(page, 0, "name")).to_have_text("Lisbon")
    by_name = sorted(CITIES, key=lambda r: r[1])
    name_header = grid(page).locator('.ag-header-cell[col-id="name"]')

    name_header.locator(".ag-header-cell-text").click()
    page.wait_for_timeout(1000)  # the blur's rerun has started (or is over) by now
    wait_idle(page)
    expect(page.locator(GRID)).to_have_count(1)
    expect(name_header).to_have_attribute("aria-sort", "ascending")
    expect(cell(page, 0, "name")).to_have_text("Amsterdam")
    assert shown_rows(page) == [list(r) for r in by_name]

    name_header.locator(".ag-header-cell-text").click()
    expect(name_header).to_have_attribute("aria-sort", "descending")
    expect(cell(page, 0, "name")).to_have_text("Warsaw")
    assert shown_rows(page) == [list(r) for r in reversed(by_name)]


# --- cancelling a PostgreSQL query --------------------------------------------------------------


@contextlib.contextmanager
def _sleeping_query(page: Page, base_url: str, database: str) -> Iterator[None]:
    """A PostgreSQL connection added through the UI, running `select pg_sleep(30)`.

    On the way out a query still running is cancelled from the editor, so no 30 s run of this
    session outlives the test (its end would rewrite the Studio's drafts)."""
    name = f"pg-cancel-{uuid.uuid4().hex[:6]}"
    open_studio(page, base_url)
    add_pg_connection(page, name, database)
    pick_connection(page, name)
    expect(page_header(page, "PostgreSQL", name)).to_be_visible()
    run_sql(page, "select pg_sleep(30)")
    expect(page.get_by_text(RUNNING)).to_be_visible(timeout=10_000)
    page.wait_for_timeout(1000)  # the statement is really running on the server by now
    try:
        yield
    finally:
        if page.get_by_text(RUNNING).count():
            editor(page).locator(".ace_editor").click()
            page.keyboard.press("Escape")
            expect(page.get_by_text(RUNNING)).to_have_count(0, timeout=10_000)


def _cancelled_and_still_usable(page: Page, screenshot: str) -> None:
    """The run ends as "Query cancelled" at once, and the connection runs the next query."""
    cancelled = page.locator(ALERT).filter(has_text="Query cancelled")
    expect(cancelled).to_be_visible(timeout=5000)  # far less than the 30 s of pg_sleep
    expect(page.get_by_text(RUNNING)).to_have_count(0)
    artifact(page, screenshot)
    wait_idle(page)

    run_sql(page, "select 1 as ok")
    wait_for_grid(page, 1, rows_caption(1))
    assert grid_headers(page) == ["ok"]
    expect(cell(page, 0, "ok")).to_have_text("1")
    expect(cancelled).to_have_count(0)
    expect(page.locator(EXCEPTION)).to_have_count(0)


@pytest.mark.postgres
def test_escape_cancels_running_postgres_query(
    page: Page, fresh_studio_url: str, pg_database: str
) -> None:
    """Esc in the editor stops a 30 s pg_sleep at once; the connection keeps working."""
    with _sleeping_query(page, fresh_studio_url, pg_database):
        page.keyboard.press("Escape")  # the editor still has the focus from Ctrl+Enter
        _cancelled_and_still_usable(page, "studio-cancelled.png")


@pytest.mark.postgres
def test_cancel_button_cancels_running_postgres_query(
    page: Page, fresh_studio_url: str, pg_database: str
) -> None:
    """The 'Cancel query' button stops a 30 s pg_sleep at once; the connection keeps working."""
    with _sleeping_query(page, fresh_studio_url, pg_database):
        cancel = button(page, "studio_cancel")
        expect(cancel).to_be_enabled()  # in the very run that started the query
        cancel.click()
        _cancelled_and_still_usable(page, "studio-cancelled-button.png")


# --- connections --------------------------------------------------------------------------------


@pytest.mark.postgres
def test_add_dialog_test_with_bad_password(page: Page, fresh_studio_url: str) -> None:
    """A wrong password fails the Test in the dialog, which keeps every typed field."""
    open_studio(page, fresh_studio_url)
    dialog = open_add_dialog(page)
    user = "tusk_e2e_nobody"
    fill_pg_form(dialog, "bad-password", "postgres", user, "certainly-not-the-password")
    dialog.get_by_role("button", name="Test").click()

    error = dialog.locator(ALERT).filter(has_text="password authentication failed")
    expect(error).to_be_visible(timeout=15_000)
    expect(error).to_contain_text(user)
    artifact(page, "studio-add-connection-error.png")
    expect(page.get_by_role("dialog")).to_be_visible()
    expect(dialog.get_by_label("Name", exact=True)).to_have_value("bad-password")
    expect(dialog.get_by_label("Host", exact=True)).to_have_value(PG_HOST)
    expect(dialog.get_by_label("Port", exact=True)).to_have_value(str(PG_PORT))
    expect(dialog.get_by_label("Database", exact=True)).to_have_value("postgres")
    expect(dialog.get_by_label("User", exact=True)).to_have_value(user)
    expect(page.locator(EXCEPTION)).to_have_count(0)


@pytest.mark.postgres
def test_added_connection_runs_the_next_query(
    page: Page, fresh_studio_url: str, pg_database: str
) -> None:
    """After Save in the Add dialog the tab is on the new connection, and stays on it: the
    picker shows it and the next query (its rerun sends the picker's value) runs there."""
    name = f"pg-added-{uuid.uuid4().hex[:6]}"
    open_studio(page, fresh_studio_url)
    add_pg_connection(page, name, pg_database)
    expect(connection_picker(page)).to_have_value(name)
    run_with_button(page, "select current_database() as db")
    wait_for_grid(page, 1, rows_caption(1))
    expect(cell(page, 0, "db")).to_have_text(pg_database)
    expect(page_header(page, "PostgreSQL", name)).to_be_visible()
    expect(connection_picker(page)).to_have_value(name)


# --- export -------------------------------------------------------------------------------------


def test_export_full_result_as_csv(page: Page, fresh_studio_url: str, tmp_path: Path) -> None:
    """Export writes the whole result as CSV and the download button hands that file over."""
    open_studio(page, fresh_studio_url)
    run_with_button(page, CITIES_SQL)
    wait_for_grid(page, 12, rows_caption(12))

    export_tab = page.get_by_role("tab", name=re.compile(r"Export$"))
    export_tab.click()
    formats = page.get_by_role("radiogroup", name="Format")
    expect(formats.get_by_role("radio", name="csv")).to_be_checked()
    page.get_by_role("button", name="Export full result").click()
    # The sub-tab stays on Export through the rerun (the first one after the query).
    download_button = page.get_by_role("button", name="Download CSV (12 rows)")
    expect(download_button).to_be_visible(timeout=30_000)
    wait_idle(page)
    expect(download_button).to_be_visible()

    with page.expect_download() as info:
        download_button.click()
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    with target.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["id", "name"]
    assert [tuple(r) for r in rows[1:]] == CITIES
    assert ["1", "Lisbon"] in rows


# --- query tabs ---------------------------------------------------------------------------------


def test_new_tab_keeps_each_tabs_sql(page: Page, fresh_studio_url: str) -> None:
    """+ opens "Query 2" with its own SQL; Query 1 keeps its SQL; closing Query 2 leaves one."""
    first_sql = "select 1 as first_tab"
    second_sql = "select 2 as second_tab"
    open_studio(page, fresh_studio_url)
    tabs = page.get_by_role("radiogroup", name="Query tabs").get_by_role("radio")
    expect(tabs).to_have_text(["Query 1"])
    type_sql(page, first_sql)

    button(page, "studio_new_tab").click()
    expect(tabs).to_have_text(["Query 1", "Query 2"])
    expect(tabs.filter(has_text="Query 2")).to_be_checked()
    expect(editor_text(page)).to_have_text("")  # a new tab starts empty
    wait_idle(page)
    type_sql(page, second_sql)

    tabs.filter(has_text="Query 1").click()
    expect(tabs.filter(has_text="Query 1")).to_be_checked()
    expect(editor_text(page)).to_have_text(first_sql)
    wait_idle(page)

    tabs.filter(has_text="Query 2").click()
    expect(tabs.filter(has_text="Query 2")).to_be_checked()
    expect(editor_text(page)).to_have_text(second_sql)
    wait_idle(page)

    button(page, "studio_close_tab").click()
    expect(tabs).to_have_text(["Query 1"])
    expect(tabs.filter(has_text="Query 1")).to_be_checked()
    expect(editor_text(page)).to_have_text(first_sql)
    expect(page.locator(EXCEPTION)).to_have_count(0)


# --- screenshots --------------------------------------------------------------------------------


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_screenshot_of_studio_with_result(page: Page, fresh_studio_url: str) -> None:
    """A tall screenshot of the Studio after a query ran, kept in test-results/studio.png."""
    open_studio(page, fresh_studio_url)
    run_sql(page, "select * from cities order by id")
    wait_for_grid(page, 12, rows_caption(12))
    path = artifact(page, "studio.png", height=1800)
    expect(grid(page).locator(ROWS)).to_have_count(12)
    expect(page.locator(GRID)).to_be_in_viewport(ratio=1)  # the whole grid is in the picture
    assert _png_size(path) == (1400, 1800)
    expect(page.locator(EXCEPTION)).to_have_count(0)
