"""tusk.auth: users and groups in auth.db, validation, sessions, rate limiting and the permission matrix."""

from __future__ import annotations

import sqlite3
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from tusk import auth, config
from tusk.auth import database, passwords, permissions, sessions
from tusk.auth.audit import audit, audit_log
from tusk.auth.bootstrap import init
from tusk.auth.database import initialised
from tusk.auth.grants import permissions_of
from tusk.auth.groups import create_group, delete_group, list_groups, set_group_permissions
from tusk.auth.permissions import ALL, CATEGORIES, DEFAULT_GROUPS
from tusk.auth.schema import MIGRATIONS
from tusk.auth.sessions import (
    COOKIE_KEY_FILE,
    SESSION_IDLE,
    cookie_key,
    cookie_user,
    create_session,
    credentials,
    revoke_session,
    revoke_sessions,
    session_user,
    verify_login,
    void_cookie,
)
from tusk.auth.users import (
    activate,
    change_own_password,
    create_user,
    deactivate,
    delete_user,
    get_user,
    groups_of,
    list_users,
    set_password,
    set_user_groups,
    update_user,
)
from tusk.errors import BadInput, PermissionDenied

PW = "correct-horse-battery-9"  # passes the password rule (tests/security/test_auth_passwords.py)
ADMIN_PW = "staple-horse-battery-7"
NEW_PW = "brand-new-password-5"


@pytest.fixture(autouse=True)
def fast_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    """bcrypt at 4 rounds: the same code path, a thousandth of the time."""
    monkeypatch.setattr(passwords, "BCRYPT_ROUNDS", 4)


@pytest.fixture
def multi() -> None:
    """Multi-user mode with auth initialised (admin password ADMIN_PW)."""
    init(ADMIN_PW)
    config.set_value("auth_mode", "multi")


def _user_count() -> int:
    return len(list_users())


# --- permissions catalogue -----------------------------------------------------------------------


def test_exactly_24_permissions_in_6_categories() -> None:
    """The catalogue is the issue's list, no more, no less."""
    assert len(ALL) == 24 and len(set(ALL)) == 24
    assert list(CATEGORIES) == ["connections", "queries", "admin", "data", "cluster", "system"]
    assert all(p.split(".")[0] == cat for cat, perms in CATEGORIES.items() for p in perms)
    assert set(DEFAULT_GROUPS) == {"Administrators", "Data Engineers", "Analysts", "Viewers"}
    assert set(DEFAULT_GROUPS["Administrators"]) == set(ALL)
    assert len(DEFAULT_GROUPS["Data Engineers"]) == 16
    assert set(DEFAULT_GROUPS["Viewers"]) == {
        "connections.view",
        "queries.execute",
        "data.view",
        "cluster.view",
    }
    assert all(set(perms) <= set(ALL) for perms in DEFAULT_GROUPS.values())


# --- init ----------------------------------------------------------------------------------------


def test_init_default_admin_must_change_password(tusk_home: Path) -> None:
    """No password: a generated one, flagged must_change_password; files are 0600; schema
    versioned."""
    user, generated = init()
    assert generated and user.username == "admin" and user.is_admin and user.must_change_password
    assert verify_login("admin", generated) is not None
    assert stat.S_IMODE(database.path().stat().st_mode) == 0o600
    key = tusk_home / COOKIE_KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(cookie_key()) > 30
    with sqlite3.connect(database.path()) as con:
        assert con.execute("pragma user_version").fetchone()[0] == len(MIGRATIONS)
    assert [g.name for g, _, _ in list_groups()] == sorted(DEFAULT_GROUPS)
    assert groups_of("admin") == ["Administrators"]


def test_init_with_password_and_refused_twice() -> None:
    """A given password is used as is; a second init is a clear BadInput."""
    user, generated = init(ADMIN_PW)
    assert generated is None and not user.must_change_password
    assert verify_login("admin", "admin") is None
    assert verify_login("admin", ADMIN_PW) is not None
    with pytest.raises(BadInput, match="already set up"):
        init()
    assert _user_count() == 1


def test_initialised_does_not_create_the_database() -> None:
    """Asking whether auth is set up leaves no auth.db behind."""
    assert not initialised()
    assert not database.path().exists()
    init()
    assert initialised()


# --- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "username",
    ["", "   ", "a" * 65, "bad\x00name", "tab\tname", "new\nline", "bell\x07", "x\u2028y"],
)
def test_bad_usernames_are_refused_and_nothing_written(username: str) -> None:
    """Empty, too long or control-character names: BadInput, no user row."""
    init()
    with pytest.raises(BadInput):
        create_user(username, PW)
    assert _user_count() == 1


def test_password_limits() -> None:
    """Empty and 10 KB passwords are clear BadInput, not a crash."""
    init()
    with pytest.raises(BadInput, match="too long"):
        create_user("bob", "x" * 10_240)
    with pytest.raises(BadInput, match="empty"):
        create_user("bob", "")
    with pytest.raises(BadInput, match="too long"):
        set_password("admin", "x" * 10_240)
    assert _user_count() == 1
    assert verify_login("admin", "x" * 10_240) is None


def test_long_passwords_are_not_truncated() -> None:
    """Passwords differing after byte 72 are different (bcrypt alone would not see it)."""
    init()
    create_user("bob", "xy" * 50)
    assert verify_login("bob", "xy" * 49 + "xz") is None
    assert verify_login("bob", "xy" * 50) is not None
    create_user("max", "éü" * 512)
    assert verify_login("max", "éü" * 512) is not None


@pytest.mark.parametrize(
    "username",
    ["Robert'); DROP TABLE users;--", "ünïcødé 🐘", "名前", "a%_b", '"quoted"', "x" * 64],
)
def test_unicode_and_sql_metacharacters_are_just_data(username: str) -> None:
    """Hostile and unicode names round-trip and break nothing."""
    init()
    user = create_user(username, PW, groups=["Viewers"], display_name=username)
    assert get_user(username) is not None
    assert get_user(user.id) is not None
    assert verify_login(username, PW) is not None
    assert {u.username for u in list_users()} == {"admin", username}
    assert groups_of(username) == ["Viewers"]


def test_duplicate_usernames_are_refused() -> None:
    """Exact and unicode-equivalent (NFC) duplicates, and padded names, are BadInput."""
    init()
    create_user("jos\u00e9", PW)
    for name in ("jos\u00e9", "jose\u0301", "  jos\u00e9  ", "admin"):
        with pytest.raises(BadInput, match="already exists"):
            create_user(name, PW)
    assert _user_count() == 2


def test_unknown_group_writes_nothing() -> None:
    """A user with one unknown group is not created at all."""
    init()
    with pytest.raises(BadInput, match="no group"):
        create_user("bob", PW, groups=["Viewers", "Nope"])
    assert get_user("bob") is None


def test_bad_email_and_permission_names() -> None:
    """Values other than names are validated too."""
    init()
    with pytest.raises(BadInput, match="email"):
        create_user("bob", PW, email="not an email")
    with pytest.raises(BadInput, match="Unknown permissions"):
        create_group("Ops", perms=["admin.view", "admin.everything"])
    assert all(g.name != "Ops" for g, _, _ in list_groups())


# --- users and the last admin --------------------------------------------------------------------


def test_last_admin_cannot_be_deleted_demoted_or_deactivated() -> None:
    """The last active admin stays; with a second admin, the first can go."""
    init()
    for action in (
        lambda: delete_user("admin"),
        lambda: update_user("admin", is_admin=False),
        lambda: deactivate("admin"),
    ):
        with pytest.raises(BadInput, match="last active administrator"):
            action()
    assert get_user("admin").is_admin  # type: ignore[union-attr]
    create_user("root2", PW, is_admin=True)
    update_user("admin", is_admin=False)
    update_user("admin", is_admin=True)
    delete_user("admin")
    assert get_user("admin") is None
    with pytest.raises(BadInput, match="last active administrator"):
        delete_user("root2")


def test_inactive_admin_does_not_count() -> None:
    """An inactive second admin does not make the active one deletable."""
    init()
    create_user("root2", PW, is_admin=True)
    deactivate("root2")
    with pytest.raises(BadInput, match="last active administrator"):
        delete_user("admin")


def test_update_user_and_unknown_user() -> None:
    """Details change; an unknown user is a clear BadInput."""
    init()
    user = update_user("admin", display_name="Boss", email="boss@example.com")
    assert (user.display_name, user.email) == ("Boss", "boss@example.com")
    with pytest.raises(BadInput, match="no user"):
        update_user("ghost", display_name="x")
    with pytest.raises(BadInput, match="no user"):
        delete_user("ghost")


def test_change_own_password_needs_the_current_one() -> None:
    """The profile change checks the current password."""
    init(ADMIN_PW)
    with pytest.raises(BadInput, match="current password is wrong"):
        change_own_password("admin", "nope", NEW_PW)
    change_own_password("admin", ADMIN_PW, NEW_PW)
    assert verify_login("admin", NEW_PW) is not None


# --- login and rate limiting ---------------------------------------------------------------------


def test_verify_login_good_bad_inactive_unknown() -> None:
    """Only the right password of an active user signs in; last_login is recorded."""
    init()
    create_user("bob", PW)
    assert verify_login("bob", "wrong") is None
    assert verify_login("ghost", PW) is None
    user = verify_login(" bob ", PW)
    assert user is not None and user.last_login is not None
    deactivate("bob")
    assert verify_login("bob", PW) is None
    activate("bob")
    assert verify_login("bob", PW) is not None
    actions = [e.action for e in audit_log()]
    assert actions.count("login.failed") == 3 and actions.count("login") == 2


def test_rate_limit_after_five_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    """5 failures in a minute lock that username out, even for the right password, for a while."""
    init(ADMIN_PW)
    create_user("bob", PW)
    for _ in range(5):
        assert verify_login("bob", "wrong") is None
    with pytest.raises(BadInput, match=r"Too many failed attempts; wait \d+ s"):
        verify_login("bob", PW)
    assert verify_login("admin", ADMIN_PW) is not None  # other names are not affected
    real_now = database.utc_now
    monkeypatch.setattr(sessions, "utc_now", lambda: real_now() + timedelta(seconds=61))
    assert verify_login("bob", PW) is not None


def test_success_resets_the_failure_count() -> None:
    """Failures before a successful login do not count towards the next lock-out."""
    init()
    create_user("bob", PW)
    for _ in range(4):
        verify_login("bob", "wrong")
    assert verify_login("bob", PW) is not None
    for _ in range(4):
        verify_login("bob", "wrong")
    assert verify_login("bob", PW) is not None


# --- sessions ------------------------------------------------------------------------------------


def test_session_round_trip_and_sign_out() -> None:
    """A token finds its user until revoked; garbage tokens find nobody."""
    init()
    admin = get_user("admin")
    assert admin is not None
    token = create_session(admin)
    assert session_user(token).username == "admin"  # type: ignore[union-attr]
    assert session_user("garbage") is None and session_user(None) is None
    revoke_session(token)
    assert session_user(token) is None


def test_password_change_ends_sessions() -> None:
    """Setting a password ends every session of that user, not others'."""
    init()
    bob = create_user("bob", PW)
    admin = get_user("admin")
    assert admin is not None
    tokens = [create_session(bob), create_session(bob)]
    other = create_session(admin)
    set_password("bob", NEW_PW)
    assert all(session_user(t) is None for t in tokens)
    assert session_user(other) is not None


def test_deactivate_and_delete_end_sessions() -> None:
    """Deactivation ends sessions for good; deletion too."""
    init()
    bob = create_user("bob", PW)
    token = create_session(bob)
    deactivate("bob")
    assert session_user(token) is None
    activate("bob")
    assert session_user(token) is None  # reactivation does not revive old sessions
    token = create_session(bob)
    delete_user("bob")
    assert session_user(token) is None


def test_revoke_sessions_and_idle_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sign out everywhere counts sessions; idle sessions expire."""
    init()
    bob = create_user("bob", PW)
    create_session(bob)
    create_session(bob)
    assert revoke_sessions(bob.id) == 2  # type: ignore[arg-type]
    token = create_session(bob)
    real_now = database.utc_now
    monkeypatch.setattr(sessions, "utc_now", lambda: real_now() + SESSION_IDLE + timedelta(1))
    assert session_user(token) is None


def test_session_tokens_are_not_stored_in_clear() -> None:
    """auth.db holds only the SHA-256 of a token."""
    init()
    token = create_session(get_user("admin"))  # type: ignore[arg-type]
    with sqlite3.connect(database.path()) as con:
        stored = [row[0] for row in con.execute("select token from sessions")]
    assert token not in stored and len(stored) == 1


# --- groups and audit ----------------------------------------------------------------------------


def test_groups_change_permissions() -> None:
    """Group edits and memberships drive permissions_of."""
    init()
    bob = create_user("bob", PW, groups=["Viewers"])
    assert permissions_of(bob) == frozenset(DEFAULT_GROUPS["Viewers"])
    create_group("Ops", "operators", ["admin.view", "admin.processes"])
    set_user_groups("bob", ["Ops"])
    assert permissions_of(bob) == {"admin.view", "admin.processes"}
    set_group_permissions("Ops", ["cluster.manage"])
    assert permissions_of(bob) == {"cluster.manage"}
    delete_group("Ops")
    assert permissions_of(bob) == frozenset()
    assert groups_of("bob") == []
    with pytest.raises(BadInput, match="already exists"):
        create_group("Viewers")


def test_audit_log_records_changes() -> None:
    """User changes and explicit audit() calls land in the log, newest first."""
    init(actor="tester")
    create_user("bob", PW, actor="tester")
    audit("admin", "admin.kill", "pid 42", "pg_terminate_backend")
    log = audit_log()
    assert (log[0].actor, log[0].action, log[0].target) == ("admin", "admin.kill", "pid 42")
    assert any(e.action == "user.create" and e.target == "bob" for e in log)


# --- allowed / require ---------------------------------------------------------------------------


@pytest.mark.parametrize("permission", ALL)
@pytest.mark.parametrize("group", list(DEFAULT_GROUPS))
def test_permission_matrix(multi: None, group: str, permission: str) -> None:
    """For each default group × permission, allowed/require agree with DEFAULT_GROUPS."""
    user = create_user("member", PW, groups=[group])
    expected = permission in DEFAULT_GROUPS[group]
    assert auth.allowed(user, permission) is expected
    if expected:
        auth.require(user, permission)
    else:
        with pytest.raises(PermissionDenied, match=f"needs the {permission} permission"):
            auth.require(user, permission)


def test_single_mode_allows_everything() -> None:
    """In single mode every permission is allowed, even without a user."""
    assert auth.mode() == "single"
    assert all(auth.allowed(None, p) for p in ALL)
    auth.require(None, permissions.SYSTEM_USERS)


def test_multi_mode_edges(multi: None) -> None:
    """No user: nothing; admins without groups: everything; deactivated: nothing."""
    assert auth.mode() == "multi"
    assert not auth.allowed(None, permissions.DATA_VIEW)
    with pytest.raises(PermissionDenied, match="Sign in"):
        auth.require(None, permissions.DATA_VIEW)
    boss = create_user("boss", PW, is_admin=True)
    assert all(auth.allowed(boss, p) for p in ALL)
    nobody = create_user("nobody", PW)
    assert not any(auth.allowed(nobody, p) for p in ALL)
    viewer = create_user("viewer", PW, groups=["Viewers"])
    deactivate("viewer")
    assert not auth.allowed(viewer, permissions.DATA_VIEW)  # the stale object is re-checked
    deactivate("boss")
    assert not auth.allowed(boss, permissions.DATA_VIEW)


@pytest.mark.parametrize("mode", ["single", "multi"])
def test_unknown_permission_is_a_value_error(mode: str) -> None:
    """A typo in a permission name is a programming error in either mode."""
    init()
    config.set_value("auth_mode", mode)
    with pytest.raises(ValueError, match="Unknown permission"):
        auth.allowed(get_user("admin"), "data.viewz")


def test_failed_change_is_rolled_back_whole() -> None:
    """A refusal mid-transaction leaves earlier changes of that call unwritten."""
    init()
    with pytest.raises(BadInput, match="last active administrator"):
        update_user("admin", display_name="Changed", is_admin=False)
    assert get_user("admin").display_name == "Administrator"  # type: ignore[union-attr]


def test_concurrent_creates_of_one_name() -> None:
    """Threads racing to create one username: exactly one wins, the rest get BadInput."""
    from concurrent.futures import ThreadPoolExecutor

    init()

    def create(_: int) -> str:
        try:
            create_user("racer", PW)
            return "ok"
        except BadInput:
            return "refused"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(create, range(8)))
    assert outcomes.count("ok") == 1 and outcomes.count("refused") == 7


def test_multi_mode_needs_auth_init_first() -> None:
    """`config set auth_mode multi` is refused until users exist (nobody could log in)."""
    from tusk.errors import BadInput

    with pytest.raises(BadInput, match="tusk auth init"):
        config.set_value("auth_mode", "multi")
    assert config.load()["auth_mode"] == "single"
    init(ADMIN_PW)
    assert config.set_value("auth_mode", "multi") == "multi"


# --- login cookies ------------------------------------------------------------------------------

DAY = 86400.0


def _cookie_times(offset_s: float = 0.0) -> tuple[float, float]:
    """(expires_at, lifetime) of a one-day cookie issued `offset_s` from now."""
    import time

    return time.time() + offset_s + DAY, DAY


def test_credentials_dict_for_streamlit_authenticator() -> None:
    """Active users only, keyed by uid (never reused, lower-case hex), bcrypt hashes."""
    init(ADMIN_PW)
    ana = create_user("Ana", PW, display_name="Ana A.")
    gone = create_user("gone", PW)
    deactivate("gone")
    creds = credentials()["usernames"]
    assert set(creds) == {get_user("admin").uid, ana.uid}  # type: ignore[union-attr]
    assert gone.uid not in creds
    assert creds[ana.uid]["name"] == "Ana A."
    assert creds[ana.uid]["password"].startswith("$2b$")


def test_cookie_accepted_until_revoked_voided_or_user_gone() -> None:
    """A cookie is refused once the user's sessions were revoked after it was issued, once
    its own browser signed out, or when the user is deactivated or deleted."""
    init(ADMIN_PW)
    ana = create_user("ana", PW)
    uid = ana.uid
    expires, life = _cookie_times()
    assert cookie_user(uid, expires, life).username == "ana"
    assert cookie_user("not-a-number", expires, life) is None
    assert cookie_user("999", expires, life) is None

    set_password("ana", NEW_PW)  # revokes: the cookie issued before is void
    assert cookie_user(uid, expires, life) is None
    later, _ = _cookie_times(offset_s=1.0)
    assert cookie_user(uid, later, life) is not None  # a cookie issued afterwards works

    void_cookie(ana.id, later)  # that browser signed out
    assert cookie_user(uid, later, life) is None
    fresh, _ = _cookie_times(offset_s=2.0)
    assert cookie_user(uid, fresh, life) is not None  # other browsers are unaffected

    deactivate("ana")
    assert cookie_user(uid, fresh, life) is None
    activate("ana")
    delete_user("ana")
    assert cookie_user(uid, fresh, life) is None


def test_cookie_key_is_made_once_and_private(tusk_home: Path) -> None:
    """The cookie-signing secret is created at init, kept 0600, and stable."""
    init(ADMIN_PW)
    key_file = tusk_home / COOKIE_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert cookie_key() == cookie_key() and len(cookie_key()) >= 32


# --- the library checks permissions itself ------------------------------------------------------


def test_user_and_group_changes_check_the_actor(multi: None) -> None:
    """A page passes the signed-in User; without system.users/system.groups the store refuses,
    whatever the page did. Plain-string actors are the trusted CLI."""
    create_user("vera", PW, groups=["Viewers"])
    create_user("ed", PW, groups=["Data Engineers"])
    tom = create_user("tom", PW, groups=["Analysts"])
    vera, ed, admin = get_user("vera"), get_user("ed"), get_user("admin")
    refused = [
        lambda who: create_user("x", PW, actor=who),
        lambda who: set_password("tom", NEW_PW, actor=who),
        lambda who: update_user("tom", is_admin=True, actor=who),
        lambda who: deactivate("tom", actor=who),
        lambda who: delete_user("tom", actor=who),
        lambda who: set_user_groups("tom", ["Viewers"], actor=who),
        lambda who: create_group("G", actor=who),
        lambda who: set_group_permissions("Viewers", [], actor=who),
        lambda who: delete_group("Viewers", actor=who),
        lambda who: revoke_sessions(int(tom.id), actor=who),
    ]
    for call in refused:
        for who in (vera, ed):
            with pytest.raises(PermissionDenied, match=r"system\.(users|groups)"):
                call(who)
    assert get_user("tom").active and not get_user("tom").is_admin
    assert get_user("x") is None
    # Their own name, email and sessions are theirs to change; their admin flag is not.
    update_user(vera, display_name="Vera V.", email="v@example.org", actor=vera)
    assert get_user("vera").display_name == "Vera V."
    revoke_sessions(int(vera.id), actor=vera)
    with pytest.raises(PermissionDenied):
        update_user(vera, is_admin=True, actor=vera)
    # The admin may do all of it; the audit names the admin.
    create_user("x", PW, actor=admin)
    create_group("G", perms=["data.view"], actor=admin)
    assert audit_log(limit=1)[0].actor == "admin"
