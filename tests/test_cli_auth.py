"""`tusk auth` and `tusk users`: a CliRunner round trip, error cases and one real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import ADMIN_PASSWORD, PASSWORD
from tusk import config
from tusk.auth import database, passwords
from tusk.auth.bootstrap import init
from tusk.auth.sessions import create_session, session_user, verify_login
from tusk.auth.users import create_user, get_user, list_users
from tusk.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def fast_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    """bcrypt at 4 rounds in-process."""
    monkeypatch.setattr(passwords, "BCRYPT_ROUNDS", 4)


def _ok(args: list[str], input: str | None = None) -> str:
    result = runner.invoke(app, args, input=input)
    assert result.exit_code == 0, result.output
    return result.output


def _error(args: list[str], words: str, input: str | None = None) -> None:
    result = runner.invoke(app, args, input=input)
    assert result.exit_code == 1, result.output
    assert words in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_round_trip() -> None:
    """init, create, list, reset-password, groups, enable/status/disable, delete."""
    out = _ok(["auth", "init"])
    assert "'admin'" in out and "tusk auth enable" in out and "change it" in out
    generated = out.split("one-time password ", 1)[1].split()[0]
    assert verify_login("admin", generated) is not None
    _ok(["users", "create", "bob", "-g", "Viewers", "-g", "Analysts", "--password", PASSWORD])
    _ok(["users", "create", "boss", "--admin", "--password", PASSWORD])
    out = _ok(["users", "create", "ünï 🐘"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert "Created user 'ünï 🐘'" in out
    assert verify_login("ünï 🐘", PASSWORD) is not None

    listing = _ok(["users", "list"])
    for words in ("admin", "bob", "boss", "ünï 🐘", "Analysts, Viewers", "must change password"):
        assert words in listing

    token = create_session(get_user("bob"))  # type: ignore[arg-type]
    new = "brand-new-password-5"
    _ok(["users", "reset-password", "bob"], input=f"{new}\n{new}\n")
    assert verify_login("bob", new) is not None
    assert session_user(token) is None
    _ok(["users", "reset-password", "bob", "--password", "temporary-pass-77", "--temporary"])
    assert get_user("bob").must_change_password  # type: ignore[union-attr]

    groups = _ok(["users", "groups"])
    for words in ("Administrators", "Data Engineers", "Analysts", "Viewers", "cluster.manage"):
        assert words in groups

    assert "Multi-user mode is on" in _ok(["auth", "enable"])
    assert config.get("auth_mode") == "multi"
    status = _ok(["auth", "status"])
    assert "Mode: multi" in status and "Users: 4" in status and "Viewers: 1 members" in status
    _ok(["auth", "disable"])
    assert "Mode: single" in _ok(["auth", "status"])

    assert "Deleted user 'bob'" in _ok(["users", "delete", "bob", "--yes"])
    assert "bob" not in _ok(["users", "list"])
    _ok(["users", "delete", "boss"], input="y\n")
    assert get_user("boss") is None


def test_errors_are_one_red_line() -> None:
    """Every refusal exits 1 with one readable line and no traceback."""
    _error(["users", "list"], "run `tusk auth init` first")
    _error(["auth", "enable"], "run `tusk auth init` first")
    assert config.get("auth_mode") == "single"
    _ok(["auth", "init", "--password", ADMIN_PASSWORD])
    _error(["auth", "init"], "already set up")
    _ok(["users", "create", "bob", "--password", PASSWORD])
    _error(["users", "create", "bob", "--password", PASSWORD], "already exists")
    _error(["users", "create", "eve", "-g", "Nope", "--password", PASSWORD], "no group 'Nope'")
    _error(["users", "create", "eve", "--password", "x" * 10_240], "password is too long")
    _error(["users", "create", "eve", "--password", "a"], "at least 12 characters")
    _error(["users", "create", "   ", "--password", PASSWORD], "cannot be empty")
    _error(["users", "delete", "admin", "--yes"], "last active administrator")
    _error(["users", "delete", "ghost", "--yes"], "no user 'ghost'")
    _error(["users", "reset-password", "ghost", "--password", "x"], "no user 'ghost'")
    assert {u.username for u in list_users()} == {"admin", "bob"}


def test_status_before_init() -> None:
    """status works before init and says what to do."""
    out = _ok(["auth", "status"])
    assert "Mode: single" in out and "tusk auth init" in out
    assert not database.path().exists()


def test_users_list_as_a_real_subprocess(tusk_home: Path) -> None:
    """The installed `tusk` script reads the same auth.db through TUSK_HOME."""
    init(ADMIN_PASSWORD)
    create_user("名前", PASSWORD, groups=["Analysts"])
    tusk = Path(sys.executable).parent / "tusk"
    env = {**os.environ, "TUSK_HOME": str(tusk_home)}
    out = subprocess.run(
        [str(tusk), "users", "list"], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "admin" in out.stdout and "名前" in out.stdout and "Analysts" in out.stdout
