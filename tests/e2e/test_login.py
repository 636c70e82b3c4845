"""Multi-user mode in a real browser: sign in, see only the allowed pages, sign out."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import ADMIN_PASSWORD, PASSWORD
from tests.e2e.conftest import (
    free_port,
    server_env,
    start_server,
    stop_server,
    wait_healthy,
    wait_idle,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def multi_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A `tusk studio` in multi-user mode with an admin and a Viewer, made by the CLI;
    yields its URL and its TUSK_HOME."""
    root = tmp_path_factory.mktemp("multi")
    env = server_env(root / "tusk-home")
    tusk = str(Path(sys.executable).with_name("tusk"))
    for args in (
        ["auth", "init", "--password", ADMIN_PASSWORD],
        ["users", "create", "vera", "--group", "Viewers", "--password", PASSWORD],
        ["auth", "enable"],
    ):
        subprocess.run([tusk, *args], env=env, check=True, capture_output=True, text=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = root / "server.log"
    proc = start_server([tusk, "studio", "--port", str(port)], env, root, log)
    try:
        wait_healthy(proc, url, log)
        yield url, root / "tusk-home"
    finally:
        stop_server(proc)


@pytest.fixture
def multi_url(multi_server: tuple[str, Path]) -> str:
    """The multi-user server's URL."""
    return multi_server[0]


def _sign_in(page: Page, url: str, username: str, password: str) -> None:
    page.goto(url)
    wait_idle(page)
    # Under load a rerun can still show the previous run's form beside the new one for a
    # moment (Streamlit keeps stale elements until the run replaces them): wait for one.
    expect(page.get_by_label("User name")).to_have_count(1)
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    wait_idle(page)


def test_viewer_signs_in_sees_allowed_pages_and_signs_out(page: Page, multi_url: str) -> None:
    """A Viewer sees Studio and Data but not Admin or Users; Sign out returns to the form."""
    _sign_in(page, multi_url, "vera", "wrong")
    expect(page.get_by_text("Wrong user name or password")).to_be_visible()
    _sign_in(page, multi_url, "vera", PASSWORD)
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar.get_by_role("link", name="Studio")).to_be_visible()
    expect(sidebar.get_by_role("link", name="Data")).to_be_visible()
    expect(sidebar.get_by_role("link", name="Admin")).to_have_count(0)
    expect(sidebar.get_by_role("link", name="Users")).to_have_count(0)
    assert page.locator('[data-testid="stException"]').count() == 0
    sidebar.get_by_role("button", name="Sign out").click()
    wait_idle(page)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(sidebar.get_by_role("link", name="Studio")).to_have_count(0)


def test_admin_sees_users(page: Page, multi_url: str) -> None:
    """The admin's sidebar includes Users, and the page opens."""
    _sign_in(page, multi_url, "admin", ADMIN_PASSWORD)
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_role("link", name="Users").click()
    wait_idle(page)
    expect(page.locator('[data-testid="stDataFrame"]').first).to_be_visible()
    # The grid draws on a canvas; its accessible copy of the cells holds the user names.
    expect(page.locator('td[role="gridcell"]', has_text="vera")).not_to_have_count(0)
    assert page.locator('[data-testid="stException"]').count() == 0


def test_cookie_keeps_a_reload_signed_in_until_revoked(
    page: Page, multi_server: tuple[str, Path]
) -> None:
    """streamlit-authenticator's cookie survives a reload; sign out deletes it; a password
    reset by an administrator voids it (the reloaded page asks to sign in again)."""
    multi_url, home = multi_server
    sidebar = page.locator('[data-testid="stSidebar"]')
    sign_in_button = page.get_by_role("button", name="Sign in")

    _sign_in(page, multi_url, "vera", PASSWORD)
    expect(sidebar.get_by_role("link", name="Studio")).to_be_visible()
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert "tusk_auth" in cookies, cookies.keys()
    assert PASSWORD not in cookies["tusk_auth"]["value"]

    page.reload()
    wait_idle(page)
    expect(sidebar.get_by_role("link", name="Studio")).to_be_visible()
    expect(sign_in_button).to_have_count(0)

    sidebar.get_by_role("button", name="Sign out").click()
    wait_idle(page)
    expect(sign_in_button).to_be_visible()
    page.reload()
    wait_idle(page)
    expect(sign_in_button).to_be_visible()  # voided in auth.db, deleted in the browser

    _sign_in(page, multi_url, "vera", PASSWORD)
    expect(sidebar.get_by_role("link", name="Studio")).to_be_visible()
    env = server_env(home)
    tusk = str(Path(sys.executable).with_name("tusk"))
    subprocess.run(
        [tusk, "users", "reset-password", "vera", "--password", "changed-password-3"],
        env=env,
        check=True,
        capture_output=True,
    )
    page.reload()
    wait_idle(page)
    expect(sign_in_button).to_be_visible()  # revoked: the old cookie is refused
    _sign_in(page, multi_url, "vera", "changed-password-3")
    expect(sidebar.get_by_role("link", name="Studio")).to_be_visible()
