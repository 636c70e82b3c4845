"""Pages driven with Streamlit's AppTest: each renders, the Studio runs SQL, errors keep input."""

from __future__ import annotations

import pytest

from tests.ui.conftest import open_app
from tusk.ui.shell import PAGES


def test_home_lists_the_demo_connection() -> None:
    """Home shows the built-in demo connection and no exception."""
    at = open_app()
    assert not at.exception
    assert any("demo" in m.value for m in at.markdown)
    assert at.title[0].value.endswith("Home")


def test_home_test_button_connects() -> None:
    """Testing the demo connection from Home reports success."""
    at = open_app()
    at.button(key="test_demo").click().run()
    assert not at.exception
    assert any("Connected" in s.value for s in at.success)


@pytest.mark.parametrize("page", [p for p in PAGES if p.path != "app.py"], ids=lambda p: p.label)
def test_every_page_renders(page) -> None:  # noqa: ANN001 - PageInfo from the parametrize list
    """Each page opens from Home without an exception and shows its title."""
    at = open_app()
    at.switch_page(page.path).run()
    assert not at.exception
    assert at.title[0].value.endswith(page.label)
