"""The Schema page's ER diagram in a real browser: the server-side SVG gets past Streamlit's
HTML sanitizer (as an image) and shows the demo's tables and keys."""

from __future__ import annotations

import base64

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import wait_idle
from tusk.demo import DEMO_TABLES

pytestmark = pytest.mark.e2e

DIAGRAM = '[data-testid="tusk-er-diagram"]'


def test_diagram_svg_is_visible(page: Page, fresh_studio_url: str) -> None:
    page.goto(fresh_studio_url + "/Schema")
    wait_idle(page)
    image = page.locator(f"{DIAGRAM} img")
    expect(image).to_be_visible(timeout=30_000)
    # The browser decoded the SVG (a broken image has no natural size) at its own size.
    natural = image.evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]")
    assert natural[0] and natural[1] > 300 and natural[2] > 100, natural
    box = image.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    src = image.get_attribute("src") or ""
    svg = base64.b64decode(src.removeprefix("data:image/svg+xml;base64,")).decode()
    for table in DEMO_TABLES:
        assert f"main.{table}" in svg
    assert svg.count('class="edge"') == 4
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
