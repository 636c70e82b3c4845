"""The Data page in a real browser: a 4-step pipeline with its preview and generated code."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.e2e.conftest import wait_idle
from tests.e2e.test_studio import artifact

pytestmark = pytest.mark.e2e


def _choose(page: Page, label: str, option: str) -> None:
    """Pick an option of a Streamlit selectbox by its label. A rerun that lands while the
    list is open closes it, so open it again until the option shows (at most 3 times)."""
    wanted = page.get_by_role("option", name=option, exact=True)
    for _ in range(3):
        wait_idle(page)
        page.get_by_label(label, exact=True).last.click()
        page.keyboard.type(option)  # filter the list: the option may sit below its fold
        try:
            wanted.wait_for(state="visible", timeout=5_000)
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
            continue
        page.keyboard.press("Enter")
        wait_idle(page)
        return
    raise AssertionError(f"option {option!r} of {label!r} never showed")


FORM_MARK = {  # a label only that step's form shows
    "Filter rows": "Operator",
    "Sort": "Descending",
    "Limit": "Rows to keep",
    "Drop nulls": "Drop rows with a null in (none chosen: any column)",
}


def _add_step(page: Page, kind: str) -> None:
    """Choose the kind, click Add step, and wait for that kind's form (a click that lands
    during the previous rerun can leave the form of another kind: then try again)."""
    mark = page.locator('[data-testid="stMain"]').get_by_text(FORM_MARK[kind], exact=True)
    for _ in range(3):
        _choose(page, "Add a step", kind)
        page.get_by_role("button", name="Add step").click()
        wait_idle(page)
        try:
            mark.first.wait_for(state="visible", timeout=8_000)
            return
        except PlaywrightTimeout:
            cancel = page.get_by_role("button", name="Cancel")
            if cancel.count():
                cancel.first.click()
    raise AssertionError(f"the {kind} form never showed")


def test_four_step_pipeline_with_preview_and_code(page: Page, fresh_studio_url: str) -> None:
    """Source, then filter / select / sort / limit built by clicking; the preview follows and
    the Code tab shows the Polars script."""
    page.goto(f"{fresh_studio_url}/Data")
    wait_idle(page)
    main = page.locator('[data-testid="stMain"]')
    _choose(page, "Data root", "demo")
    _choose(page, "File", "orders.parquet")
    page.get_by_role("button", name="Use this source").click()
    wait_idle(page)

    _add_step(page, "Filter rows")
    page.get_by_label("Value", exact=True).first.fill("1")
    _choose(page, "Operator", ">")
    page.get_by_role("button", name="Save step").click()
    wait_idle(page)
    _add_step(page, "Sort")
    main.get_by_text("Descending", exact=True).first.click()
    wait_idle(page)
    page.get_by_role("button", name="Save step").click()
    wait_idle(page)
    _add_step(page, "Limit")
    page.get_by_label("Rows to keep").fill("20")
    page.get_by_label("Rows to keep").press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Save step").click()
    wait_idle(page)
    _add_step(page, "Drop nulls")
    page.get_by_role("button", name="Save step").click()
    wait_idle(page)

    for n in range(1, 5):
        expect(main.get_by_text(f"{n}. ", exact=False).first).to_be_visible()
    expect(main.locator('[data-testid="stDataFrame"]').first).to_be_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
    artifact(page, "data-pipeline.png", height=1500)

    page.get_by_role("tab", name="Code").click()
    wait_idle(page)
    code = main.locator('[data-testid="stCode"]').first
    expect(code).to_contain_text("import polars as pl")
    expect(code).to_contain_text(".head(20)")
    artifact(page, "data-code.png", height=1200)
