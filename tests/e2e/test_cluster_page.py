"""The Cluster page in a real browser: a table registered, then the first Submit runs at once
(issue 14: the first Submit after registering tables was ignored), by Ctrl+Enter and by the
button, with the query's rows on screen."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import wait_idle
from tests.e2e.test_studio import EXCEPTION, button, editor, editor_text

if TYPE_CHECKING:
    from tusk.cluster.nodes import LocalCluster

pytestmark = pytest.mark.e2e

SETTLE_MS = 600  # the editor reports its text 250 ms after the last key
PROBLEM = '[data-testid="stAlertContentError"], [data-testid="stAlertContentWarning"]'


def _open_sql(page: Page, base_url: str) -> None:
    page.goto(base_url + "/Cluster")
    wait_idle(page)
    page.locator(".st-key-cluster_mode").get_by_text("This machine").click()
    wait_idle(page)
    page.get_by_role("tab", name="SQL").click()
    wait_idle(page)


def _register(page: Page, name: str, path: Path) -> None:
    page.get_by_label("Table name").fill(name)
    page.get_by_label("Path or URL").fill(str(path))
    button(page, "cluster_register").click()
    wait_idle(page)
    expect(page.get_by_text("Tables · 1 table")).to_be_visible()


def _type(page: Page, sql: str) -> None:
    editor(page).locator(".ace_editor").click()
    page.keyboard.press("Control+A")
    page.keyboard.type(sql)
    expect(editor_text(page)).to_have_text(sql)


@pytest.fixture(scope="module")
def parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cluster-page") / "sales.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "amount": [10.0, 20.5, 7.25]}), path)
    return path


@pytest.mark.parametrize(
    "how", ["ctrl_enter", "button", "button_at_once", "sql_first_ctrl_enter", "sql_first_button"]
)
def test_first_submit_after_registering_runs(
    page: Page, studio_url: str, parquet: Path, how: str
) -> None:
    """Register a table, type a query (or the query first, then the table), submit once: its
    rows show, nothing is swallowed."""
    sql = "select count(*) as n, sum(amount) as total from sales"
    _open_sql(page, studio_url)
    if how.startswith("sql_first"):
        _type(page, sql)
        page.wait_for_timeout(SETTLE_MS)
        wait_idle(page)
        _register(page, "sales", parquet)
        editor(page).locator(".ace_editor").click()
    else:
        _register(page, "sales", parquet)
        _type(page, sql)
    if how != "button_at_once":  # a person who waits a moment; the other clicks at once
        page.wait_for_timeout(SETTLE_MS)
        wait_idle(page)
    if how.endswith("ctrl_enter"):
        page.keyboard.press("Escape")
        page.keyboard.press("Control+Enter")
    else:
        button(page, "cluster_run").click()
    expect(page.get_by_text("1 row from this machine")).to_be_visible(timeout=30_000)
    wait_idle(page)
    expect(page.locator(EXCEPTION)).to_have_count(0)
    expect(page.locator(PROBLEM)).to_have_count(0)


@pytest.fixture(scope="module")
def head() -> Iterator[LocalCluster]:
    """A Ray head and one worker, started outside the page (as `tusk cluster` would)."""
    from tusk.cluster.nodes import LocalCluster

    with LocalCluster(1) as started:
        yield started


@pytest.mark.cluster
@pytest.mark.parametrize("how", ["ctrl_enter", "button"])
def test_first_submit_to_the_cluster_runs(
    page: Page, studio_url: str, parquet: Path, head: LocalCluster, how: str
) -> None:
    """Connect to a head, register a table, submit once: the cluster's rows show."""
    page.goto(studio_url + "/Cluster")
    wait_idle(page)
    page.get_by_role("textbox", name="Head address").fill(head.address)
    page.get_by_role("textbox", name="Dashboard URL").fill(head.dashboard_url or "")
    button(page, "cluster_connect").click()
    wait_idle(page)
    expect(page.get_by_text(f"Using the head at {head.address}")).to_be_visible()
    page.get_by_role("tab", name="SQL").click()
    wait_idle(page)
    _register(page, "sales", parquet)
    _type(page, "select count(*) as n, sum(amount) as total from sales")
    page.wait_for_timeout(SETTLE_MS)
    wait_idle(page)
    if how == "ctrl_enter":
        page.keyboard.press("Escape")
        page.keyboard.press("Control+Enter")
    else:
        button(page, "cluster_run").click()
    expect(page.get_by_text(re.compile(r"^1 row from query "))).to_be_visible(timeout=120_000)
    wait_idle(page)
    expect(page.locator(EXCEPTION)).to_have_count(0)
    expect(page.locator(PROBLEM)).to_have_count(0)
