"""Issue 13, case 7a: a password policy in the library, the CLI, the Users page, the Profile
page and the forced first change of `admin` (at least 12 characters, not the user name, not one
repeated character, not a common password)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from tests.conftest import REPO
from tusk import config
from tusk.auth import bootstrap, passwords
from tusk.auth.database import initialised
from tusk.auth.passwords import check_password
from tusk.auth.sessions import verify_login
from tusk.auth.users import change_own_password, create_user, get_user, list_users, set_password
from tusk.cli import app
from tusk.errors import BadInput

GOOD = "correct-horse-battery-9"
WEAK = [
    ("a", "at least 12 characters"),
    ("b", "at least 12 characters"),
    ("short-pw-11", "at least 12 characters"),
    ("xxxxxxxxxxxxxxxx", "one character repeated"),
    ("Password1234", "most common"),
    ("qwerty 123456", "most common"),
    ("my-VERA-password-9", "user name"),
]


@pytest.fixture(autouse=True)
def fast_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "BCRYPT_ROUNDS", 4)


@pytest.fixture
def multi() -> None:
    bootstrap.init(GOOD)
    create_user("vera", GOOD, groups=["Viewers"])
    config.set_value("auth_mode", "multi")


@pytest.mark.parametrize(("password", "rule"), WEAK)
def test_library_refuses_weak_passwords_everywhere(multi: None, password: str, rule: str) -> None:
    """create_user, set_password and change_own_password all say the rule; nothing changes."""
    with pytest.raises(BadInput, match=rule):
        create_user("vera2" if "vera" not in password.lower() else "vera", password)
    with pytest.raises(BadInput, match=rule):
        set_password("vera", password)
    with pytest.raises(BadInput, match=rule):
        change_own_password("vera", GOOD, password)
    assert verify_login("vera", GOOD) is not None
    assert {u.username for u in list_users()} == {"admin", "vera"}


def test_username_rule_ignores_case_and_needs_a_real_name(multi: None) -> None:
    """The name is found in any case; a one- or two-letter name is not searched for (every
    password would contain it by chance)."""
    with pytest.raises(BadInput, match="user name"):
        create_user("Bob-Smith", "xx-bob-smith-yy")
    assert create_user("bo", "a-bo-in-the-middle-9").username == "bo"


def test_good_passwords_pass(multi: None) -> None:
    create_user("ana", GOOD)
    set_password("ana", "another-long-one-42")
    change_own_password("ana", "another-long-one-42", "and-a-third-one-77")
    assert verify_login("ana", "and-a-third-one-77") is not None


def test_init_refuses_a_weak_admin_password_and_generates_a_good_one() -> None:
    """init with a weak password writes nothing; without one it makes a compliant one-time
    password that must be changed at first sign-in."""
    for weak in ("b", "admin", "my-admin-password", "secret"):
        with pytest.raises(BadInput):
            bootstrap.init(weak)
    assert not initialised()
    user, generated = bootstrap.init()
    assert generated is not None and user.must_change_password
    check_password(generated, "admin")
    assert verify_login("admin", generated) is not None
    assert verify_login("admin", "admin") is None


# --- the CLI ------------------------------------------------------------------------------------


def test_cli_refuses_a_weak_password_with_the_rule() -> None:
    """`tusk users create x --password a` fails with a clear line and a non-zero exit code."""
    runner = CliRunner()
    init = runner.invoke(app, ["auth", "init"])
    assert init.exit_code == 0, init.output
    assert "one-time password" in init.output
    result = runner.invoke(app, ["users", "create", "x", "--password", "a"])
    assert result.exit_code != 0
    assert "at least 12 characters" in result.output and "Traceback" not in result.output
    assert get_user("x") is None
    reset = runner.invoke(app, ["users", "reset-password", "admin", "--password", "b"])
    assert reset.exit_code != 0 and "at least 12 characters" in reset.output
    weak_init_home = runner.invoke(app, ["auth", "init", "--password", "b"])
    assert weak_init_home.exit_code != 0


# --- the pages ----------------------------------------------------------------------------------


def _sign_in(username: str, password: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.run()
    at.text_input(key="tusk_login_username").set_value(username)
    at.text_input(key="tusk_login_password").set_value(password)
    at.button[0].click().run()
    assert not at.exception
    return at


def test_forced_first_change_of_admin_refuses_b() -> None:
    """The generated admin password must be changed at first sign-in, and `b` is refused."""
    _, generated = bootstrap.init()
    config.set_value("auth_mode", "multi")
    at = _sign_in("admin", generated)  # type: ignore[arg-type]
    at.text_input(key="tusk_pw_current").set_value(generated)
    at.text_input(key="tusk_pw_new").set_value("b")
    at.text_input(key="tusk_pw_again").set_value("b")
    at.button[0].click().run()
    assert not at.exception
    assert any("at least 12 characters" in e.value for e in at.error)
    assert at.text_input(key="tusk_pw_new")  # still asked: nothing else is shown
    assert verify_login("admin", "b") is None
    at.text_input(key="tusk_pw_new").set_value(GOOD)
    at.text_input(key="tusk_pw_again").set_value(GOOD)
    at.button[0].click().run()
    assert not get_user("admin").must_change_password  # type: ignore[union-attr]
    assert verify_login("admin", GOOD) is not None


def test_users_page_refuses_a_weak_password(multi: None) -> None:
    at = _sign_in("admin", GOOD)
    at.switch_page("pages/6_Users.py").run()
    at.text_input(key="users_new_name").set_value("eve")
    at.text_input(key="users_new_password").set_value("a")
    next(b for b in at.button if b.label == "Add user").click().run()
    assert not at.exception
    assert any("at least 12 characters" in e.value for e in at.error)
    assert get_user("eve") is None


def test_profile_refuses_a_weak_password(multi: None) -> None:
    at = _sign_in("vera", GOOD)
    at.switch_page("pages/7_Profile.py").run()
    at.text_input(key="profile_pw_current").set_value(GOOD)
    at.text_input(key="profile_pw_new").set_value("vera-vera-vera-vera")
    at.text_input(key="profile_pw_again").set_value("vera-vera-vera-vera")
    next(b for b in at.button if b.label == "Change password").click().run()
    assert not at.exception
    assert any("user name" in e.value for e in at.error)
    assert verify_login("vera", GOOD) is not None
