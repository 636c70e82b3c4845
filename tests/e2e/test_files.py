"""Files in a real browser: upload a CSV through the Files panel, query it, see the grid."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import wait_idle
from tests.e2e.test_studio import artifact, button, rows_caption, shown_rows, wait_for_grid

pytestmark = pytest.mark.e2e

CSV = 'id,name,city\n1,Ann,Zürich\n2,"Bo, Jr.",Oslo\n3,,Lima\n'


def test_upload_a_csv_query_it_and_see_the_grid(
    page: Page, fresh_studio_url: str, studio_home: Path, tmp_path: Path
) -> None:
    """Drop a CSV into the data root through the uploader, open it in a new tab, run it."""
    upload = tmp_path / "e2e people.csv"
    upload.write_text(CSV, encoding="utf-8")
    (studio_home / "data" / "e2e people.csv").unlink(missing_ok=True)
    page.goto(f"{fresh_studio_url}/Studio")
    wait_idle(page)
    page.get_by_role("tab", name="Files").click()
    side = page.locator('[data-testid="stMain"]')
    side.get_by_role("button", name="Upload").click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(upload))
    expect(page.get_by_text("e2e people.csv").first).to_be_visible()
    button(page, "files_upload_go").click()
    expect(page.get_by_text("Uploaded e2e people.csv")).to_be_visible(timeout=15_000)
    wait_idle(page)
    assert (studio_home / "data" / "e2e people.csv").read_text(encoding="utf-8") == CSV

    page.keyboard.press("Escape")  # close the upload popover
    file_menu = page.get_by_role("button", name="e2e people.csv")
    expect(file_menu).to_be_visible(timeout=15_000)
    file_menu.click()
    page.get_by_role("button", name="Query in a new tab").click()
    # The new tab becomes the active one on the rerun: wait for it before running.
    expect(page.get_by_role("radio", name="e2e people")).to_be_checked(timeout=15_000)
    wait_idle(page)
    button(page, "studio_run").click()
    wait_for_grid(page, 3, rows_caption(3))
    rows = shown_rows(page)
    assert ["1", "Ann", "Zürich"] in rows and ["2", "Bo, Jr.", "Oslo"] in rows
    assert page.locator('[data-testid="stException"]').count() == 0
    artifact(page, "files-upload-query.png", height=1400)
