"""What the page tests share: opening the app and a page the way a user does, signing in, a
multi-user setup, and the test database saved as the Admin page's connection."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ADMIN_PASSWORD, PASSWORD, REPO, pg_spec
from tusk import config, connections
from tusk.auth import passwords
from tusk.auth.bootstrap import init
from tusk.auth.groups import create_group
from tusk.auth.users import create_user
from tusk.ui.admin.page import SECTIONS, TAB_KEY

STUDIO = "pages/1_Studio.py"
ADMIN = "pages/2_Admin.py"
DATA = "pages/3_Data.py"
GEO = "pages/4_Geo.py"
CLUSTER = "pages/5_Cluster.py"


def open_app(timeout: float = 60) -> AppTest:
    """Home after its first run: where every page test starts (a page file run alone fails
    on st.page_link)."""
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=timeout)
    at.run()
    return at


def sign_in(at: AppTest, username: str, password: str = PASSWORD) -> AppTest:
    """Sign in through the login form."""
    at.text_input(key="tusk_login_username").set_value(username)
    at.text_input(key="tusk_login_password").set_value(password)
    at.button[0].click().run()  # the form's submit button
    return at


def open_page(path: str, *, user: str | None = None, timeout: float = 60) -> AppTest:
    """A page opened from Home like a user would, signed in first when `user` is given."""
    at = open_app(timeout)
    if user is not None:
        sign_in(at, user)
    at.switch_page(path).run()
    assert not at.exception
    return at


def admin_tab(module: str) -> str:
    """The Admin page's tab label for a section module, e.g. "tusk.ui.admin.roles"."""
    return next(s.label for s in SECTIONS if s.module.__name__ == module)


def open_admin(
    module: str | None = None,
    *,
    user: str | None = None,
    state: Mapping[str, Any] | None = None,
) -> AppTest:
    """The Admin page on the tab of `module` (chosen before the page's first run, so only that
    tab draws), with `state` set in the session first; signed in first when `user` is given."""
    at = open_app()
    if user is not None:
        sign_in(at, user)
    if module is not None:
        at.session_state[TAB_KEY] = admin_tab(module)
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.switch_page(ADMIN).run()
    assert not at.exception
    return at


@pytest.fixture
def multi_user(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Switch to multi-user mode: admin/ADMIN_PASSWORD, then `groups` (name → permissions) and
    `users` (name → group) created in that order, each user with the password PASSWORD."""

    def setup(users: Mapping[str, str], *, groups: Mapping[str, list[str]] | None = None) -> None:
        monkeypatch.setattr(passwords, "BCRYPT_ROUNDS", 4)  # fast hashes: tests sign in a lot
        init(ADMIN_PASSWORD)
        for name, perms in (groups or {}).items():
            create_group(name, perms=perms)
        for name, group in users.items():
            create_user(name, PASSWORD, groups=[group])
        config.set_value("auth_mode", "multi")

    return setup


@pytest.fixture
def saved(db: str) -> str:
    """The fresh test database saved as the only PostgreSQL connection ("pg main")."""
    connections.add(pg_spec(db, name="pg main"))
    return db


def studio_side(at: AppTest, label: str) -> AppTest:
    """Open the Studio's side tab `label` (Schema, History, Saved, Files): only the open one
    is drawn, as when a person clicks it."""
    from tusk.ui.studio import page as studio

    at.session_state[studio.SIDE_KEY] = label
    return at.run()


def open_tables(at: AppTest) -> AppTest:
    """Open every table of the Studio's schema browser (each is drawn lazily, as when a
    person clicks it): their columns and Query buttons are drawn."""
    keys = [e.key for e in at.expander if e.key and "_table_" in e.key]
    for key in keys:
        at.session_state[key] = True
    return at.run()


def result_view(at: AppTest, view: str, statement: int = 0) -> AppTest:
    """Open the view `view` (Grid, Chart, Map, Export) of the active tab's result `statement`:
    only the open view is drawn, as when a person clicks it."""
    from tusk.ui.studio import results as studio
    from tusk.ui.studio import tabs as qtabs

    tab_id = at.session_state[qtabs.ACTIVE_KEY]
    label = next(v for v in studio.RESULT_VIEWS if v.endswith(f" {view}"))
    at.session_state[f"{studio.RESULT_VIEW_KEY}_{tab_id}_{statement}"] = label
    return at.run()


def settle(at: AppTest, timeout: float = 60) -> AppTest:
    """Let the Studio's running queries end, then run the page again, as the page's
    "Running…" watcher does in a browser (AppTest does not rerun fragments on a timer): a
    query slower than the Studio's inline wait (a busy machine) has its result drawn then."""
    tabs = at.session_state["studio_tabs"] if "studio_tabs" in at.session_state else []  # noqa: SIM401 - no .get on AppTest state
    running = [t.run for t in tabs if t.run is not None]
    for run in running:
        run.wait(timeout)
    if running:
        at.run()
    return at
