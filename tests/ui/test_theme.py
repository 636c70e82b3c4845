"""The light/dark switch: each user's own, saved where it belongs, sent to their browser only."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ADMIN_PASSWORD, PASSWORD, REPO
from tusk import config
from tusk.auth import passwords
from tusk.auth.bootstrap import init
from tusk.auth.users import create_user, get_user


def _signed_in(username: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.run()
    at.text_input(key="tusk_login_username").set_value(username)
    at.text_input(key="tusk_login_password").set_value(PASSWORD)
    at.button[0].click().run()
    assert not at.exception
    return at


def _told(at: AppTest) -> list[str]:
    """What the theme script in this run tells the browser ("Dark"/"Light"), if it ran."""
    return [h.proto.body for h in at.get("html") if "stActiveTheme" in h.proto.body]


def test_each_user_has_their_own_theme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "BCRYPT_ROUNDS", 4)
    init(ADMIN_PASSWORD)
    create_user("ana", PASSWORD, groups=["Analysts"])
    create_user("vera", PASSWORD, groups=["Viewers"])
    config.set_value("auth_mode", "multi")

    ana = _signed_in("ana")
    ana.toggle(key="tusk_dark_theme").set_value(True).run()
    assert not ana.exception
    assert any('\\"Dark\\"' in body for body in _told(ana)), "the browser is told to go dark"
    assert get_user("ana").theme == "dark"
    assert config.load()["theme"] == "light"  # nobody else's theme changed

    vera = _signed_in("vera")
    assert not vera.toggle(key="tusk_dark_theme").value
    assert get_user("vera").theme == "light"

    again = _signed_in("ana")  # a new browser session starts in ana's theme
    assert again.toggle(key="tusk_dark_theme").value
    assert any('\\"Dark\\"' in body for body in _told(again))


def test_single_user_theme_lives_in_config() -> None:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.run()
    at.toggle(key="tusk_dark_theme").set_value(True).run()
    assert config.load()["theme"] == "dark"
    fresh = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    fresh.run()
    assert fresh.toggle(key="tusk_dark_theme").value
    assert any('\\"Dark\\"' in body for body in _told(fresh))
