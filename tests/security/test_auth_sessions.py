"""Issue 13, cases 6 and 7, as the hostile user: a deleted user's browser must not come back as
whoever is created next, and parallel password guesses must not get past the rate limit."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from streamlit.runtime import context as st_context
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO
from tusk import config
from tusk.auth import database, passwords, sessions
from tusk.auth.audit import audit_log
from tusk.auth.bootstrap import init
from tusk.auth.schema import MIGRATIONS
from tusk.auth.sessions import (
    MAX_FAILURES,
    cookie_key,
    cookie_user,
    create_session,
    credentials,
    session_user,
    verify_login,
    void_cookie,
)
from tusk.auth.users import create_user, delete_user, get_user, groups_of, list_users, set_password
from tusk.errors import BadInput
from tusk.store.database import open_store
from tusk.ui import auth_gate

PASSWORD = "correct-horse-battery-9"
WRONG = "wrong-horse-battery-9"
FAST_ROUNDS = 4


@pytest.fixture(autouse=True)
def fast_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "BCRYPT_ROUNDS", FAST_ROUNDS)


@pytest.fixture
def browser_cookies(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The cookies the next AppTest browser sends (AppTest itself cannot send any): what
    `st.context.cookies` returns, which streamlit-authenticator reads its cookie from."""
    cookies: dict[str, str] = {}
    monkeypatch.setattr(
        st_context, "_get_client_context", lambda: SimpleNamespace(cookies=cookies, headers={})
    )
    return cookies


def _app() -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.run()
    return at


def _sign_in(username: str, password: str = PASSWORD) -> AppTest:
    at = _app()
    at.text_input(key="tusk_login_username").set_value(username)
    at.text_input(key="tusk_login_password").set_value(password)
    at.button[0].click().run()
    assert not at.exception
    assert at.session_state[auth_gate.TOKEN], f"{username} could not sign in"
    return at


def _cookie_of(at: AppTest) -> str:
    """The login cookie this browser session was given, encoded as streamlit-authenticator
    encodes it (a JWT of the session's "username" key and the expiry, signed with Tusk's key)."""
    payload = {
        "username": at.session_state["username"],
        "exp_date": at.session_state[auth_gate.COOKIE_EXP],
    }
    return jwt.encode(payload, cookie_key(), algorithm="HS256")


def _signed_in_as(at: AppTest) -> str | None:
    """Who the page runs for, or None when it shows the sign-in form."""
    if auth_gate.TOKEN not in at.session_state:  # AppTest's session state has no .get()
        return None
    user = session_user(at.session_state[auth_gate.TOKEN])
    return None if user is None else user.username


@pytest.fixture
def multi() -> None:
    init(PASSWORD)
    create_user("vera", PASSWORD, groups=["Viewers"])
    config.set_value("auth_mode", "multi")


# --- case 6: ids never come back -----------------------------------------------------------------


def test_deleted_viewers_cookie_does_not_sign_in_the_next_user(
    multi: None, browser_cookies: dict[str, str]
) -> None:
    """The deleted Viewer's unexpired cookie, presented after a new admin was created, signs in
    nobody; before the delete the same cookie did sign the Viewer in (the check is real)."""
    vera_browser = _sign_in("vera")
    cookie = _cookie_of(vera_browser)
    browser_cookies[auth_gate.COOKIE_NAME] = cookie
    assert _signed_in_as(_app()) == "vera"  # a reload with the cookie stays signed in

    delete_user("vera")
    boss = create_user("boss", PASSWORD, is_admin=True)
    assert get_user("boss") is not None and boss.is_admin

    reload = _app()
    assert not reload.exception
    assert _signed_in_as(reload) is None
    assert reload.text_input(key="tusk_login_username")  # the sign-in form, nothing else
    assert not reload.sidebar.get("page_link")


def test_new_user_never_sees_a_deleted_users_drafts(multi: None, tusk_home: Path) -> None:
    """The deleted Viewer's unsaved SQL is gone with them; the next user starts clean."""
    vera = _sign_in("vera")
    vera.switch_page("pages/1_Studio.py").run()
    vera.session_state["studio_tabs"][0].sql = "select 'vera secret'"
    vera.run()
    drafts = tusk_home / "drafts"
    assert any("vera secret" in p.read_text() for p in drafts.iterdir())

    delete_user("vera")
    assert not any("vera secret" in p.read_text() for p in drafts.iterdir())
    create_user("boss", PASSWORD, is_admin=True)
    boss = _sign_in("boss")
    boss.switch_page("pages/1_Studio.py").run()
    assert not boss.exception
    assert all("vera secret" not in t.sql for t in boss.session_state["studio_tabs"])


def test_ids_and_uids_are_never_reused(multi: None) -> None:
    """Deleting the newest user and creating another gives a new id and a new uid."""
    seen_ids, seen_uids = set(), set()
    for n in range(5):
        user = create_user(f"temp{n}", PASSWORD)
        assert user.id not in seen_ids and user.uid not in seen_uids
        assert len(user.uid) == 32 and int(user.uid, 16) >= 0
        seen_ids.add(user.id)
        seen_uids.add(user.uid)
        delete_user(user)


def test_sessions_and_voided_cookies_die_with_the_user(multi: None) -> None:
    """No session or voided-cookie row of a deleted user is left for a later user to inherit."""
    vera = get_user("vera")
    assert vera is not None
    create_session(vera)
    void_cookie(vera.id, time.time() + 3600)  # type: ignore[arg-type]
    delete_user("vera")
    with sqlite3.connect(database.path()) as con:
        for table in ("sessions", "void_cookies", "memberships"):
            rows = con.execute(f"select count(*) from {table} where user_id = ?", (vera.id,))  # noqa: S608 - fixed names
            assert rows.fetchone()[0] == 0, table


def test_cookie_names_the_uid_never_the_id(multi: None) -> None:
    """cookie_user accepts a user's uid only: an integer id (old cookies) or garbage is refused."""
    vera = get_user("vera")
    assert vera is not None
    expires, life = time.time() + 86400, 86400.0
    assert cookie_user(vera.uid, expires, life).username == "vera"  # type: ignore[union-attr]
    for name in (str(vera.id), "", "x" * 32, vera.uid.upper(), vera.uid + "0"):
        assert cookie_user(name, expires, life) is None
    assert set(credentials()["usernames"]) == {u.uid for u in list_users()}


# --- case 6 on a database made before the fix ----------------------------------------------------


def _old_database(deleted_after: int = 3) -> None:
    """auth.db as version 3 left it: admin (1), vera (2), ivan (3, then deleted: id 3 is free
    for reuse by the old schema), a Viewers membership, a session, a voided cookie."""
    con = open_store(database.path(), MIGRATIONS[:3])
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # as SQLAlchemy stores it
    hashed = passwords.hash_password(PASSWORD)
    with con:
        for uid, name, admin in ((1, "admin", 1), (2, "vera", 0), (3, "ivan", 0)):
            con.execute(
                "insert into users (id, username, display_name, password_hash, is_admin,"
                " created_at) values (?, ?, ?, ?, ?, ?)",
                (uid, name, name, hashed, admin, now),
            )
            con.execute(
                "insert into audit (ts, actor, action, target) values (?, 'cli', 'user.create', ?)",
                (now, name),
            )
        con.execute("insert into groups (id, name) values (1, 'Viewers')")
        con.execute("insert into group_permissions values (1, 'data.view')")
        con.execute("insert into memberships values (2, 1)")
        con.execute(
            "insert into sessions values (?, 2, ?, ?, 0)", (sessions.token_key("tok"), now, now)
        )
        con.execute("insert into void_cookies values (2, 12345.0)")
        con.execute(f"delete from users where id = {int(deleted_after)}")
    con.close()
    database._engines.clear()


def test_migration_keeps_users_and_refuses_old_integer_cookies(
    browser_cookies: dict[str, str],
) -> None:
    """An existing auth.db is migrated in place: users, groups, sessions kept, each user given a
    uid; an old cookie naming vera's integer id signs nobody in (she signs in again once)."""
    _old_database()
    users = {u.username: u for u in list_users()}
    assert set(users) == {"admin", "vera"}
    assert len({u.uid for u in users.values()}) == 2
    assert groups_of("vera") == ["Viewers"]
    assert session_user("tok").username == "vera"  # type: ignore[union-attr]
    with sqlite3.connect(database.path()) as con:
        assert con.execute("pragma user_version").fetchone()[0] == len(MIGRATIONS)
        assert con.execute("select count(*) from void_cookies").fetchone()[0] == 1
        assert con.execute("pragma foreign_key_check").fetchall() == []

    # ivan's id 3 was free when migrated: it is never given out again, nor any id before it.
    newcomer = create_user("newcomer", PASSWORD, is_admin=True)
    assert newcomer.id is not None and newcomer.id > 3

    config.set_value("auth_mode", "multi")
    old = {"username": str(users["vera"].id), "exp_date": time.time() + 86400}
    browser_cookies[auth_gate.COOKIE_NAME] = jwt.encode(old, cookie_key(), "HS256")
    at = _app()
    assert not at.exception and _signed_in_as(at) is None
    assert verify_login("vera", PASSWORD) is not None


# --- case 7: the rate limit holds under parallel guesses -----------------------------------------


@pytest.fixture
def counted_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many passwords were actually checked (bcrypt run) in this process."""
    checks: list[int] = []
    real = passwords.matches

    def matches(password: bytes, hashed: str) -> bool:
        checks.append(1)
        return real(password, hashed)

    monkeypatch.setattr(sessions, "matches", matches)
    return checks


def _guess(barrier: Any) -> str:
    barrier.wait()
    try:
        verify_login("vera", WRONG)
    except BadInput as exc:
        assert "Too many failed attempts" in exc.message
        return "locked"
    return "checked"


def test_forty_parallel_guesses_in_threads_check_at_most_five(
    multi: None, counted_checks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 threads guessing vera's password at once: 5 are checked, 35 are told to wait, and
    then even the right password waits."""
    monkeypatch.setattr(passwords, "BCRYPT_ROUNDS", 8)  # slow enough that the guesses overlap
    set_password("vera", PASSWORD)
    barrier = threading.Barrier(40)
    outcomes: list[str] = []
    threads = [threading.Thread(target=lambda: outcomes.append(_guess(barrier))) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(outcomes) == 40
    assert len(counted_checks) <= MAX_FAILURES
    assert outcomes.count("checked") == len(counted_checks)
    assert outcomes.count("locked") >= 40 - MAX_FAILURES
    with pytest.raises(BadInput, match="Too many failed attempts"):
        verify_login("vera", PASSWORD)


def test_forty_parallel_guesses_from_processes_check_at_most_five(
    multi: None, tusk_home: Path
) -> None:
    """8 processes × 5 guesses on one auth.db at the same moment: at most 5 passwords are
    checked in all, the other attempts are locked out."""
    processes_n, per = 8, 5
    start_at = time.time() + 8  # after every process has imported and opened auth.db
    env = {**os.environ, "TUSK_HOME": str(tusk_home), "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.security.guesses", str(start_at), str(per)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes_n)
    ]
    got = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        checked_n, locked_n = map(int, out.split())
        got.append((checked_n, locked_n))
    assert time.time() > start_at  # nobody finished before the common start
    checked = sum(c for c, _ in got)
    locked = sum(lk for _, lk in got)
    assert checked <= MAX_FAILURES, got
    assert checked + locked == processes_n * per
    failed = [e for e in audit_log(500) if e.action == "login.failed"]
    assert len(failed) == checked


def test_rate_limit_claims_are_settled(multi: None, counted_checks: list[int]) -> None:
    """Every checked guess is settled in the audit log (no attempt is left pending), and a
    right password after the window signs in again."""
    for _ in range(3):
        assert verify_login("vera", WRONG) is None
    assert verify_login("vera", PASSWORD) is not None
    actions = [e.action for e in audit_log(50) if e.target == "vera"]
    assert actions.count("login.failed") == 3 and actions.count("login") == 1
    assert not [a for a in actions if a.startswith("login.") and a != "login.failed"]


# --- sign-in speed: one look-up per page run, never reused across runs ---------------------------


def test_a_page_run_reads_auth_once_and_a_revocation_applies_on_the_next_run(
    multi: None,
) -> None:
    """A signed-in rerun opens at most 2 auth.db transactions (the user, their permissions)
    however many links and guards ask; a group removed by another process (straight in auth.db,
    so nothing in this process knows) shows on the very next run."""
    from sqlalchemy import event

    begins: list[int] = []
    for read in (False, True):
        event.listen(database.engine(read=read), "begin", lambda _c: begins.append(1))
    at = _sign_in("vera")
    at.switch_page("pages/1_Studio.py").run()
    begins.clear()
    at.run()
    assert not at.exception and len(begins) <= 2, len(begins)
    assert "Studio" in [str(p.proto.label) for p in at.sidebar.get("page_link")]

    with sqlite3.connect(database.path()) as con:
        con.execute("delete from memberships")
    at.run()
    assert "Studio" not in [str(p.proto.label) for p in at.sidebar.get("page_link")]
    assert any("Permission denied" in e.value for e in at.error)
