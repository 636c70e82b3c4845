"""The Geo page in a real browser: features drawn with no network beyond the Tusk server."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, Request, expect

from tests.e2e.conftest import wait_idle
from tests.e2e.test_studio import artifact

pytestmark = pytest.mark.e2e


def test_demo_cities_drawn_offline(page: Page, fresh_studio_url: str) -> None:
    """The demo cities are drawn as points; the page asks nothing of any other host (no
    basemap tiles, no map style), so it works with no internet."""
    outside: list[str] = []

    def watch(request: Request) -> None:
        url = request.url
        if not url.startswith((fresh_studio_url, "data:", "blob:")):
            outside.append(url)

    page.on("request", watch)
    page.goto(f"{fresh_studio_url}/Geo")
    wait_idle(page)
    page.get_by_role("button", name="Map it").first.click()
    wait_idle(page)
    chart = page.locator('[data-testid="stDeckGlJsonChart"]')
    expect(chart).to_be_visible(timeout=30_000)
    expect(chart.locator("canvas").first).to_be_visible()
    page.wait_for_timeout(1500)  # let deck.gl draw its first frame
    # The canvas holds drawn pixels: some are not the background.
    painted = chart.locator("canvas").first.evaluate(
        """c => { const g = c.getContext('webgl2') || c.getContext('webgl');
                  return c.width > 0 && c.height > 0 && !!g; }"""
    )
    assert painted
    assert page.locator('[data-testid="stException"]').count() == 0
    artifact(page, "geo-cities.png", height=1200)
    assert outside == [], outside
