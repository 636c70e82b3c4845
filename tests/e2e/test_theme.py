"""The dark theme switch in a real browser: the page really turns dark, and back."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import wait_idle

pytestmark = pytest.mark.e2e

_BG = "getComputedStyle(document.querySelector('[data-testid=stApp]')).backgroundColor"


def _brightness(page: Page) -> int:
    """Sum of the app background's RGB channels (0 black … 765 white)."""
    rgb = [int(x) for x in re.findall(r"\d+", page.evaluate(_BG))[:3]]
    return sum(rgb)


def _toggle(page: Page) -> None:
    # The switch applies the theme in place: no reload (it would lose the session's state).
    switch = page.get_by_role("switch", name="Dark theme")
    was = switch.is_checked()
    page.get_by_text("Dark theme").click()
    expect(switch).to_be_checked(checked=not was)
    wait_idle(page)


def test_dark_theme_toggle(page: Page, studio_url: str) -> None:
    """Switching on turns the app dark (after its reload); switching off turns it light."""
    page.goto(f"{studio_url}/Studio")
    wait_idle(page)
    assert _brightness(page) > 600, "the studio should start light"
    try:
        _toggle(page)
        expect(page.get_by_role("switch", name="Dark theme")).to_be_checked()
        page.wait_for_function(f"{_BG} !== 'rgb(255, 255, 255)'", timeout=15_000)
        assert _brightness(page) < 200
        page.screenshot(path="test-results/studio-dark.png")
    finally:
        page.goto(f"{studio_url}/Studio")
        wait_idle(page)
        if page.get_by_role("switch", name="Dark theme").is_checked():
            _toggle(page)
    page.wait_for_function(f"{_BG} === 'rgb(255, 255, 255)'", timeout=15_000)
    assert _brightness(page) > 600
