"""Multi-user mode in the app: sign-in, forced password change, guards, revoked sessions."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ADMIN_PASSWORD, PASSWORD
from tests.ui.conftest import open_app, settle, sign_in
from tusk import auth, config
from tusk.auth.groups import list_groups
from tusk.auth.sessions import verify_login
from tusk.auth.users import create_user, get_user, groups_of, set_password
from tusk.ui.shell import PAGES, PageInfo


@pytest.fixture(autouse=True)
def multi(multi_user: Callable[..., None]) -> None:
    """Multi-user mode: the admin plus a Viewer and an Analyst."""
    multi_user({"vera": "Viewers", "ana": "Analysts"})


def _links(at: AppTest) -> list[str]:
    """Labels of the page links in the sidebar."""
    return [str(p.proto.label) for p in at.sidebar.get("page_link")]


def test_login_required_and_bad_password_refused() -> None:
    """Signed out: only the sign-in form; a wrong password says so and shows nothing else."""
    at = open_app()
    assert at.text_input(key="tusk_login_username")
    assert not _links(at)
    sign_in(at, "vera", "wrong")
    assert "Wrong user name or password" in at.error[0].value
    assert not _links(at)
    assert not at.exception


def test_viewer_sees_only_allowed_pages_and_is_stopped_at_admin() -> None:
    """A Viewer's sidebar has no Admin/Users link; opening Admin anyway is refused."""
    at = sign_in(open_app(), "vera")
    assert not at.exception
    links = _links(at)
    assert "Studio" in links and "Data" in links
    assert "Admin" not in links and "Users" not in links
    body_links = [str(p.proto.label) for p in at.main.get("page_link")]
    assert "Admin" not in body_links  # Home's overview lists only allowed pages too
    at.switch_page("pages/2_Admin.py").run()
    assert "Permission denied" in at.error[0].value
    assert "admin.view" in at.error[0].value


def test_analyst_cannot_add_connections_in_the_studio() -> None:
    """The Studio's Add button is off for an Analyst (no connections.create)."""
    at = sign_in(open_app(), "ana")
    at.switch_page("pages/1_Studio.py").run()
    assert not at.exception
    assert at.button(key="studio_conn_add").disabled
    settle(at.button(key="studio_run").click().run())
    tab = at.session_state["studio_tabs"][0]
    assert tab.outcomes[0].result.table.num_rows == 100  # queries.execute is granted


def test_must_change_password_comes_first() -> None:
    """A temporary password (init without one, or a reset) must be changed before anything."""
    set_password("admin", "temporary-pass-77", must_change=True)
    at = sign_in(open_app(), "admin", "temporary-pass-77")
    assert at.text_input(key="tusk_pw_new")
    assert not _links(at)
    at.text_input(key="tusk_pw_current").set_value("temporary-pass-77")
    at.text_input(key="tusk_pw_new").set_value("n3w-long-secret")
    at.text_input(key="tusk_pw_again").set_value("n3w-long-secret")
    at.button[0].click().run()
    assert not at.exception
    assert "Users" in _links(at)
    assert verify_login("admin", "n3w-long-secret") is not None


def test_password_change_signs_out_other_sessions() -> None:
    """A second session of the same user is signed out once the password changes."""
    first = sign_in(open_app(), "ana")
    assert _links(first)
    set_password("ana", "changed-password-3")
    first.run()
    assert not _links(first)
    assert first.text_input(key="tusk_login_username")


def test_sign_out() -> None:
    """Sign out ends the session."""
    at = sign_in(open_app(), "ana")
    at.button(key="tusk_sign_out").click().run()
    assert at.text_input(key="tusk_login_username")


def test_drafts_are_per_user() -> None:
    """One user's unsaved SQL never appears in another user's tabs."""
    ana = sign_in(open_app(), "ana")
    ana.switch_page("pages/1_Studio.py").run()
    ana.session_state["studio_tabs"][0].sql = "select 'ana secret'"
    ana.run()
    vera = sign_in(open_app(), "vera")
    vera.switch_page("pages/1_Studio.py").run()
    assert all("ana secret" not in t.sql for t in vera.session_state["studio_tabs"])
    again = sign_in(open_app(), "ana")
    again.switch_page("pages/1_Studio.py").run()
    assert again.session_state["studio_tabs"][0].sql == "select 'ana secret'"


def test_profile_details_password_and_access() -> None:
    """The profile saves details, changes the password (old one required), lists access."""
    at = sign_in(open_app(), "ana")
    at.switch_page("pages/7_Profile.py").run()
    assert not at.exception
    at.text_input(key="profile_name").set_value("Ana Lyst")
    at.button[0].click().run()  # first form's Save
    assert get_user("ana").display_name == "Ana Lyst"
    at.text_input(key="profile_pw_current").set_value("wrong")
    at.text_input(key="profile_pw_new").set_value("n3w-long-secret")
    at.text_input(key="profile_pw_again").set_value("n3w-long-secret")
    at.button[1].click().run()
    assert "current password is wrong" in at.error[0].value
    at.text_input(key="profile_pw_current").set_value(PASSWORD)
    at.button[1].click().run()
    assert any("Password changed" in s.value for s in at.success)
    assert verify_login("ana", "n3w-long-secret") is not None
    at.run()
    assert "Ana Lyst" in _links(at)  # the profile link under the signed-in user
    assert any("queries" in m.value and "✅" in m.value for m in at.markdown)


def test_profile_in_single_mode_says_so() -> None:
    """Single-user mode has no profile; the page explains how to get users."""
    config.set_value("auth_mode", "single")
    at = open_app()
    at.switch_page("pages/7_Profile.py").run()
    assert not at.exception
    assert "single-user mode" in at.info[0].value


def _admin_users_page() -> AppTest:
    at = sign_in(open_app(), "admin", ADMIN_PASSWORD)
    at.switch_page("pages/6_Users.py").run()
    assert not at.exception
    return at


def test_users_page_adds_edits_and_deletes_a_user() -> None:
    """An admin adds a user with groups, changes them, and deletes with typed confirmation."""
    at = _admin_users_page()
    at.text_input(key="users_new_name").set_value('x"; drop table users; --')
    at.text_input(key="users_new_password").set_value(PASSWORD)
    at.multiselect(key="users_new_groups").set_value(["Analysts"])
    next(b for b in at.button if b.label == "Add user").click().run()
    assert not at.exception
    hostile = get_user('x"; drop table users; --')
    assert hostile is not None and groups_of(hostile) == ["Analysts"]
    assert hostile.must_change_password
    at.selectbox(key="users_pick").set_value(hostile.username).run()
    at.checkbox(key=f"users_g_{hostile.id}_Viewers").check()
    at.checkbox(key=f"users_g_{hostile.id}_Analysts").uncheck()
    at.button(key=f"users_save_{hostile.id}").click().run()
    assert groups_of(hostile.username) == ["Viewers"]
    assert at.button(key=f"users_del_{hostile.id}").disabled  # name not typed yet
    at.text_input(key=f"users_del_confirm_{hostile.id}").set_value(hostile.username).run()
    at.button(key=f"users_del_{hostile.id}").click().run()
    assert get_user(hostile.username) is None


def test_users_page_refuses_deleting_the_last_admin() -> None:
    """Deleting the only admin is refused with a readable error."""
    at = _admin_users_page()
    admin = get_user("admin")
    at.selectbox(key="users_pick").set_value("admin").run()
    at.text_input(key=f"users_del_confirm_{admin.id}").set_value("admin").run()
    at.button(key=f"users_del_{admin.id}").click().run()
    assert not at.exception
    assert any("admin" in e.value.lower() for e in at.error)
    assert get_user("admin") is not None


def test_group_permissions_grid_saves() -> None:
    """Unticking a permission in a group's grid removes it from the group."""
    at = _admin_users_page()
    viewers = next(g for g, _, _ in list_groups() if g.name == "Viewers")
    at.checkbox(key=f"grp_{viewers.id}_cluster.view").uncheck()
    at.button(key=f"grp_save_{viewers.id}").click().run()
    perms = next(p for g, p, _ in list_groups() if g.name == "Viewers")
    assert "cluster.view" not in perms and "data.view" in perms


def test_users_page_is_closed_to_analysts() -> None:
    """Without system.users the page stops with Permission denied."""
    at = sign_in(open_app(), "ana")
    at.switch_page("pages/6_Users.py").run()
    assert "Permission denied" in at.error[0].value
    assert not at.dataframe


@pytest.mark.parametrize("page", [p for p in PAGES if p.label != "Home"], ids=lambda p: p.label)
@pytest.mark.parametrize("username", ["vera", "ana", "ed"])
def test_page_guard_matrix(username: str, page: PageInfo) -> None:
    """Every page, for a Viewer, an Analyst and a Data Engineer: the sidebar links exactly the
    pages their groups allow, and each page opens or stops with Permission denied to match."""
    create_user("ed", PASSWORD, groups=["Data Engineers"])
    user = get_user(username)
    at = sign_in(open_app(), username)
    expected = page.permission is None or auth.allowed(user, page.permission)
    if page.label != "Profile":  # Profile is linked under the user's name, not in the list
        assert (page.label in _links(at)) == expected
    at.switch_page(page.path).run()
    assert not at.exception
    denied = [e.value for e in at.error if "Permission denied" in e.value]
    if expected:
        assert not denied
    else:
        assert denied and page.permission in denied[0]
