"""Users, groups, permissions, sessions and the audit log in auth.db (SQLite, via sqlmodel).

Passwords are hashed with bcrypt after a SHA-256 + base64 pre-hash, because bcrypt alone
silently ignores everything past 72 bytes. The stored value is still a "$2b$" string, but it
is NOT a plain bcrypt hash of the password: only `verify_login` here can check it, and
streamlit-authenticator is used for its login form and cookie only, never to verify.

Every public function is one short transaction (BEGIN IMMEDIATE): on any error nothing is
written. Session tokens are kept as their SHA-256, so a copy of auth.db cannot sign anyone in.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import math
import os
import secrets
import sqlite3
import threading
import unicodedata
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bcrypt
from sqlalchemy import event, func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool
from sqlmodel import Field, Session, SQLModel, create_engine, delete, select, update

from tusk import config
from tusk.auth import permissions
from tusk.errors import BadInput, TuskError
from tusk.store.database import open_store

AUTH_DB = "auth.db"
COOKIE_KEY_FILE = "auth_cookie.key"
USER_FILES_DIR = "drafts"  # per-user files, named user-<uid>-<name> (user_file)
BCRYPT_ROUNDS = 12  # tests lower this; each round doubles the cost (12 is ~0.25 s)
MAX_FAILURES = 5
FAILURE_WINDOW_S = 60
SESSION_IDLE = timedelta(days=30)
DEFAULT_ADMIN = "admin"
MAX_NAME = 64
MAX_PASSWORD = 1024
MIN_PASSWORD = 12
PASSWORD_RULE = (
    f"At least {MIN_PASSWORD} characters, not containing the user name, not one character "
    "repeated, not a common password."
)
# The most common passwords that are long enough to pass the length rule (compared ignoring
# case, spaces and punctuation); shorter ones are refused by length already.
COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "1234567890123",
        "12345678901234",
        "123456789012345",
        "1234567890123456",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "abc123456789",
        "abcdefghijkl",
        "abcd12345678",
        "administrator",
        "administrator1",
        "changeme1234",
        "correcthorsebatterystaple",
        "iloveyou1234",
        "letmein12345",
        "password1234",
        "password12345",
        "password123456",
        "passwordpassword",
        "qazwsxedcrfv",
        "qwerty123456",
        "qwertyuiop12",
        "qwertyuiopasdf",
        "qwertyuiopasdfgh",
        "trustno1trustno1",
        "welcome12345",
        "welcome123456",
    }
)
LAST_SEEN_EVERY = timedelta(minutes=1)  # how stale a session's last_seen may get (fewer writes)

# Migrations are plain SQL applied past PRAGMA user_version (tusk.store.database); the models
# below only map these tables. Add a new script at the end, never edit an applied one.
MIGRATIONS = (
    """
    create table users (
        id integer primary key,
        username text not null unique,
        display_name text not null default '',
        email text not null default '',
        password_hash text not null,
        is_admin boolean not null default 0,
        active boolean not null default 1,
        must_change_password boolean not null default 0,
        created_at datetime not null,
        last_login datetime
    );
    create table groups (
        id integer primary key,
        name text not null unique,
        description text not null default ''
    );
    create table memberships (
        user_id integer not null references users (id) on delete cascade,
        group_id integer not null references groups (id) on delete cascade,
        primary key (user_id, group_id)
    );
    create table group_permissions (
        group_id integer not null references groups (id) on delete cascade,
        permission text not null,
        primary key (group_id, permission)
    );
    create table sessions (
        token text primary key,
        user_id integer not null references users (id) on delete cascade,
        created_at datetime not null,
        last_seen datetime not null,
        revoked boolean not null default 0
    );
    create index sessions_user on sessions (user_id);
    create table audit (
        id integer primary key,
        ts datetime not null,
        actor text not null,
        action text not null,
        target text not null default '',
        detail text not null default ''
    );
    create index audit_action_target on audit (action, target, ts)
    """,
    # 2: login cookies. users.sessions_after: cookies issued before it are refused (password
    # change, sign out everywhere); void_cookies: one browser's cookie after its sign-out.
    """
    alter table users add column sessions_after datetime;
    create table void_cookies (
        user_id integer not null references users (id) on delete cascade,
        exp_date real not null,
        primary key (user_id, exp_date)
    )
    """,
    # 3: each user's own light/dark theme (the Studio's switch); single mode keeps config's.
    """
    alter table users add column theme text not null default 'light'
    """,
    # 4: a user's id is never given out again (AUTOINCREMENT), and each user has a random key,
    # uid, that login cookies and per-user files name instead of the id: a deleted user's
    # browser or drafts then never belong to whoever is created next. Old cookies name an id,
    # which no uid matches: those users sign in again once. SQLite cannot add AUTOINCREMENT to
    # a table, so users is rebuilt. With foreign keys on (open_store), dropping a table that
    # others reference would cascade-delete their rows, so those tables are set aside first and
    # rebuilt after. The sequence starts past every id ever given (one per user.create audited).
    """
    create table users_v4 (
        id integer primary key autoincrement,
        uid text not null unique,
        username text not null unique,
        display_name text not null default '',
        email text not null default '',
        password_hash text not null,
        is_admin boolean not null default 0,
        active boolean not null default 1,
        must_change_password boolean not null default 0,
        created_at datetime not null,
        last_login datetime,
        sessions_after datetime,
        theme text not null default 'light'
    );
    insert into users_v4 (id, uid, username, display_name, email, password_hash, is_admin,
        active, must_change_password, created_at, last_login, sessions_after, theme)
    select id, lower(hex(randomblob(16))), username, display_name, email, password_hash,
        is_admin, active, must_change_password, created_at, last_login, sessions_after, theme
    from users;
    create temp table memberships_v4 as select user_id, group_id from memberships;
    create temp table sessions_v4 as
        select token, user_id, created_at, last_seen, revoked from sessions;
    create temp table void_cookies_v4 as select user_id, exp_date from void_cookies;
    drop table memberships;
    drop table sessions;
    drop table void_cookies;
    drop table users;
    alter table users_v4 rename to users;
    create table memberships (
        user_id integer not null references users (id) on delete cascade,
        group_id integer not null references groups (id) on delete cascade,
        primary key (user_id, group_id)
    );
    insert into memberships select user_id, group_id from memberships_v4;
    create table sessions (
        token text primary key,
        user_id integer not null references users (id) on delete cascade,
        created_at datetime not null,
        last_seen datetime not null,
        revoked boolean not null default 0
    );
    create index sessions_user on sessions (user_id);
    insert into sessions select token, user_id, created_at, last_seen, revoked from sessions_v4;
    create table void_cookies (
        user_id integer not null references users (id) on delete cascade,
        exp_date real not null,
        primary key (user_id, exp_date)
    );
    insert into void_cookies select user_id, exp_date from void_cookies_v4;
    drop table memberships_v4;
    drop table sessions_v4;
    drop table void_cookies_v4;
    insert into sqlite_sequence (name, seq) select 'users', 0
        where not exists (select 1 from sqlite_sequence where name = 'users');
    update sqlite_sequence set seq = max(seq, (select count(*) from audit
        where action = 'user.create'), (select ifnull(max(id), 0) from users))
        where name = 'users'
    """,
)


class User(SQLModel, table=True):
    """A person who may sign in."""

    __tablename__ = "users"
    id: int | None = Field(default=None, primary_key=True)  # never reused (AUTOINCREMENT)
    # Random and never reused: what login cookies and per-user files name (see migration 4).
    uid: str = Field(default_factory=lambda: uuid.uuid4().hex, unique=True)
    username: str = Field(unique=True)
    display_name: str = ""
    email: str = ""
    password_hash: str = Field(default="", repr=False)
    is_admin: bool = False
    active: bool = True
    must_change_password: bool = False
    created_at: datetime
    last_login: datetime | None = None
    sessions_after: datetime | None = None
    theme: str = "light"  # "light" or "dark": the user's own choice


class Group(SQLModel, table=True):
    """A named bundle of permissions."""

    __tablename__ = "groups"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    description: str = ""


class Membership(SQLModel, table=True):
    """A user in a group."""

    __tablename__ = "memberships"
    user_id: int = Field(foreign_key="users.id", primary_key=True)
    group_id: int = Field(foreign_key="groups.id", primary_key=True)


class GroupPermission(SQLModel, table=True):
    """One permission granted to a group."""

    __tablename__ = "group_permissions"
    group_id: int = Field(foreign_key="groups.id", primary_key=True)
    permission: str = Field(primary_key=True)


class AuthSession(SQLModel, table=True):
    """A signed-in browser; `token` holds the SHA-256 of the token the browser keeps."""

    __tablename__ = "sessions"
    token: str = Field(primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    created_at: datetime
    last_seen: datetime
    revoked: bool = False


class AuditEntry(SQLModel, table=True):
    """Who did what, when."""

    __tablename__ = "audit"
    id: int | None = Field(default=None, primary_key=True)
    ts: datetime
    actor: str
    action: str
    target: str = ""
    detail: str = ""


# --- plumbing ------------------------------------------------------------------------------------

_engines: dict[Path, tuple[Engine, Engine]] = {}  # auth.db -> (writer, reader)


def _now() -> datetime:
    """Aware UTC: sqlmodel stores it as UTC and hands it back aware."""
    return datetime.now(UTC)


def path() -> Path:
    """Where auth.db lives."""
    return config.home() / AUTH_DB


def _engine(read: bool = False) -> Engine:
    """The engine for writes (BEGIN IMMEDIATE) or for reads (a deferred BEGIN: in WAL mode
    readers neither wait for the write lock nor hold it, so page runs do not queue up)."""
    db = path()
    pair = _engines.get(db)
    if pair is None or not db.exists():
        if not db.exists():
            os.close(os.open(db, os.O_CREAT | os.O_WRONLY, 0o600))
        open_store(db, MIGRATIONS).close()
        os.chmod(db, 0o600)
        pair = (
            create_engine(f"sqlite:///{db}", poolclass=NullPool),
            create_engine(f"sqlite:///{db}", poolclass=NullPool),
        )
        for engine, begin in zip(pair, (_on_begin, _on_begin_read), strict=True):
            event.listen(engine, "connect", _on_connect)
            event.listen(engine, "begin", begin)
        _engines[db] = pair
    return pair[1] if read else pair[0]


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own BEGIN is deferred).
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("pragma busy_timeout = 10000")
    dbapi_connection.execute("pragma foreign_keys = on")


def _on_begin(conn: Any) -> None:
    # IMMEDIATE: take the write lock up front, so check-then-write (last admin) cannot race.
    conn.exec_driver_sql("begin immediate")


def _on_begin_read(conn: Any) -> None:
    conn.exec_driver_sql("begin")


_commits = 0  # write transactions committed by this process (see `commits`)
_commits_lock = threading.Lock()


@contextmanager
def _tx() -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back on any error."""
    global _commits
    with Session(_engine(), expire_on_commit=False) as session, session.begin():
        yield session
    with _commits_lock:
        _commits += 1


def commits() -> int:
    """How many write transactions this process has committed to auth.db: a cache of what it
    read (a user, their permissions) is stale once this number moves."""
    return _commits


@contextmanager
def _read() -> Iterator[Session]:
    """One read-only transaction (a consistent snapshot); never for check-then-write."""
    with Session(_engine(read=True), expire_on_commit=False) as session, session.begin():
        yield session


def initialised() -> bool:
    """True once `init` has created users (never creates auth.db itself)."""
    if not path().exists():
        return False
    with _read() as s:
        return s.exec(select(func.count()).select_from(User)).one() > 0


# --- validation ----------------------------------------------------------------------------------


def _name(value: str, what: str = "username") -> str:
    if not isinstance(value, str):
        raise BadInput(f"The {what} must be text.")
    name = unicodedata.normalize("NFC", value.strip())
    if not name:
        raise BadInput(f"The {what} cannot be empty.")
    if len(name) > MAX_NAME:
        raise BadInput(f"The {what} is too long ({len(name)} characters; at most {MAX_NAME}).")
    if any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in name):
        raise BadInput(f"The {what} {name!r} contains control characters.")
    return name


def _password(value: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise BadInput("The password cannot be empty.")
    if len(value) > MAX_PASSWORD:
        raise BadInput(
            f"The password is too long ({len(value)} characters; at most {MAX_PASSWORD})."
        )
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadInput("The password contains characters that cannot be stored.") from None


def _text(value: str | None, what: str, limit: int) -> str:
    text = (value or "").strip()
    if len(text) > limit:
        raise BadInput(f"The {what} is too long ({len(text)} characters; at most {limit}).")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in text):
        raise BadInput(f"The {what} contains control characters.")
    return text


def _email(value: str | None) -> str:
    email = _text(value, "email", 254)
    if email and ("@" not in email or any(c.isspace() for c in email)):
        raise BadInput(f"{email!r} does not look like an email address.")
    return email


def check_password(password: str, username: str) -> None:
    """Raise BadInput (saying the rule) unless `password` is acceptable for `username`."""
    _password(password)  # empty, too long, not storable
    if len(password) < MIN_PASSWORD:
        raise BadInput(
            f"The password must have at least {MIN_PASSWORD} characters (it has {len(password)}).",
            "Weak password",
        )
    folded = unicodedata.normalize("NFC", password).casefold()
    name = unicodedata.normalize("NFC", str(username).strip()).casefold()
    if len(name) >= 3 and name in folded:  # shorter names would refuse too much by chance
        raise BadInput("The password must not contain the user name.", "Weak password")
    if len(set(folded)) == 1:
        raise BadInput("The password cannot be one character repeated.", "Weak password")
    if "".join(c for c in folded if c.isalnum()) in COMMON_PASSWORDS:
        raise BadInput(
            "That password is one of the most common ones; choose another.", "Weak password"
        )


def new_password() -> str:
    """A random password that passes the rule: 4 groups of 4 letters and digits (80 bits)."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud or copied by hand
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


def _prehash(password: bytes) -> bytes:
    # bcrypt ignores bytes past 72; base64(SHA-256) is 44 bytes and has no NUL.
    return base64.b64encode(hashlib.sha256(password).digest())


def _hash(password: str) -> str:
    raw = _password(password)
    return bcrypt.hashpw(_prehash(raw), bcrypt.gensalt(BCRYPT_ROUNDS)).decode("ascii")


def _matches(password: bytes, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(_prehash(password), hashed.encode("ascii"))
    except ValueError:
        return False


_dummy_hash: dict[int, str] = {}


def _waste_time(password: bytes) -> None:
    """Check against a throwaway hash so unknown usernames take as long as known ones."""
    rounds = BCRYPT_ROUNDS
    if rounds not in _dummy_hash:
        _dummy_hash[rounds] = bcrypt.hashpw(b"x", bcrypt.gensalt(rounds)).decode("ascii")
    _matches(password, _dummy_hash[rounds])


# --- lookups -------------------------------------------------------------------------------------


def _find(s: Session, user: str | int | User) -> User:
    if isinstance(user, User):
        user = user.id if user.id is not None else user.username
    if isinstance(user, int):
        found = s.get(User, user)
    else:
        found = s.exec(select(User).where(User.username == _name(user))).first()
    if found is None:
        raise BadInput(f"There is no user {user!r}.")
    return found


def _find_group(s: Session, name: str) -> Group:
    found = s.exec(select(Group).where(Group.name == _name(name, "group name"))).first()
    if found is None:
        raise BadInput(f"There is no group {name!r}.")
    return found


def _other_active_admins(s: Session, user_id: int | None) -> int:
    query = select(func.count()).select_from(User).where(User.is_admin, User.active)
    return s.exec(query.where(User.id != user_id)).one()


def _guard_last_admin(s: Session, user: User, doing: str) -> None:
    if user.is_admin and user.active and _other_active_admins(s, user.id) == 0:
        raise BadInput(
            f"Cannot {doing} {user.username!r}: it is the last active administrator. "
            "Make another user an administrator first."
        )


def _actor(actor: User | str, permission: str) -> str:
    """The audit name of whoever acts. A User (pages) must hold `permission` or PermissionDenied
    is raised here, whatever the page checked; a plain string is a trusted local caller (the
    CLI, which already owns Tusk's home and its files)."""
    if isinstance(actor, User):
        from tusk import auth

        auth.require(actor, permission)
        return actor.username
    return str(actor)


def _log(s: Session, actor: str, action: str, target: str = "", detail: str = "") -> None:
    s.add(AuditEntry(ts=_now(), actor=actor, action=action, target=target, detail=detail))


def _revoke(s: Session, user_id: int) -> int:
    s.exec(update(User).where(User.id == user_id).values(sessions_after=_now()))  # type: ignore[call-overload]
    result = s.exec(  # type: ignore[call-overload]
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked == False)  # noqa: E712
        .values(revoked=True)
    )
    return result.rowcount or 0


def get_user(user: str | int) -> User | None:
    """The user with this username (str) or id (int), or None."""
    try:
        with _read() as s:
            return _find(s, user)
    except BadInput:
        return None


def list_users() -> list[User]:
    """Every user, by username."""
    with _read() as s:
        return list(s.exec(select(User).order_by(User.username)).all())


def groups_of(user: str | int | User) -> list[str]:
    """Names of the groups the user is in."""
    with _read() as s:
        found = _find(s, user)
        query = (
            select(Group.name)
            .join(Membership, Membership.group_id == Group.id)  # type: ignore[arg-type]
            .where(Membership.user_id == found.id)
            .order_by(Group.name)
        )
        return list(s.exec(query).all())


def permissions_of(user: User | None) -> frozenset[str]:
    """What the user may do now: all for an active admin, none if inactive or deleted."""
    if user is None or user.id is None:
        return frozenset()
    with _read() as s:
        fresh = s.get(User, user.id)
        if fresh is None or not fresh.active:
            return frozenset()
        if fresh.is_admin:
            return frozenset(permissions.ALL)
        query = (
            select(GroupPermission.permission)
            .join(Membership, Membership.group_id == GroupPermission.group_id)  # type: ignore[arg-type]
            .where(Membership.user_id == fresh.id)
        )
        return frozenset(s.exec(query).all()) & frozenset(permissions.ALL)


# --- users ---------------------------------------------------------------------------------------


def _add_user(
    s: Session,
    username: str,
    password_hash: str,
    *,
    display_name: str | None,
    email: str | None,
    is_admin: bool,
    must_change_password: bool,
    groups: Iterable[str],
    actor: str,
) -> User:
    name = _name(username)
    if s.exec(select(User.id).where(User.username == name)).first() is not None:
        raise BadInput(f"A user named {name!r} already exists.")
    group_rows = [_find_group(s, g) for g in dict.fromkeys(groups)]
    user = User(
        username=name,
        display_name=_text(display_name, "display name", 128) or name,
        email=_email(email),
        password_hash=password_hash,
        is_admin=is_admin,
        must_change_password=must_change_password,
        created_at=_now(),
    )
    s.add(user)
    try:
        s.flush()
    except IntegrityError:
        raise BadInput(f"A user named {name!r} already exists.") from None
    for group in group_rows:
        s.add(Membership(user_id=user.id, group_id=group.id))  # type: ignore[arg-type]
    detail = f"admin={is_admin} groups={','.join(g.name for g in group_rows)}"
    _log(s, actor, "user.create", name, detail)
    return user


def init(admin_password: str | None = None, *, actor: str = "system") -> tuple[User, str | None]:
    """Create the default groups and the admin user. Without a password one is generated and
    returned (show it once: it must be changed at first sign-in); a given one must pass the
    password rule. Refused once users exist."""
    generated = new_password() if admin_password is None else None
    password = generated or admin_password or ""
    check_password(password, DEFAULT_ADMIN)
    hashed = _hash(password)
    with _tx() as s:
        count = s.exec(select(func.count()).select_from(User)).one()
        if count:
            raise BadInput(
                f"Auth is already set up ({count} users): manage them with `tusk users`."
            )
        existing = set(s.exec(select(Group.name)).all())
        for name, perms in permissions.DEFAULT_GROUPS.items():
            if name in existing:
                continue
            group = Group(name=name, description=permissions.DEFAULT_GROUP_DESCRIPTIONS[name])
            s.add(group)
            s.flush()
            s.add_all(GroupPermission(group_id=group.id, permission=p) for p in perms)  # type: ignore[arg-type]
        user = _add_user(
            s,
            DEFAULT_ADMIN,
            hashed,
            display_name="Administrator",
            email=None,
            is_admin=True,
            must_change_password=generated is not None,
            groups=[permissions.ADMINISTRATORS],
            actor=actor,
        )
        _log(s, actor, "auth.init", DEFAULT_ADMIN, "generated password" if generated else "")
    cookie_key()
    return user, generated


def cookie_key() -> str:
    """The secret that signs login cookies, made once and kept 0600 in Tusk's home."""
    key_path = config.home() / COOKIE_KEY_FILE
    if not key_path.exists():
        # Made only if still absent: two processes racing here must not each sign cookies
        # with a key of their own (one's cookies would then fail on the other).
        config.write_new(key_path, secrets.token_urlsafe(32), 0o600)
    return key_path.read_text(encoding="ascii").strip()


def create_user(
    username: str,
    password: str,
    *,
    display_name: str | None = None,
    email: str | None = None,
    is_admin: bool = False,
    must_change_password: bool = False,
    groups: Iterable[str] = (),
    actor: User | str = "system",
) -> User:
    """Add a user (in the named groups); BadInput for a taken name or bad values."""
    who = _actor(actor, "system.users")
    check_password(password, _name(username))  # fail fast, before the slow hash
    hashed = _hash(password)
    with _tx() as s:
        return _add_user(
            s,
            username,
            hashed,
            display_name=display_name,
            email=email,
            is_admin=is_admin,
            must_change_password=must_change_password,
            groups=groups,
            actor=who,
        )


def update_user(
    user: str | int | User,
    *,
    display_name: str | None = None,
    email: str | None = None,
    is_admin: bool | None = None,
    must_change_password: bool | None = None,
    actor: User | str = "system",
) -> User:
    """Change a user's details; None leaves a field as it is. The last admin stays admin.
    Users may change their own name and email; anything else needs system.users."""
    own = isinstance(actor, User) and isinstance(user, User) and actor.id == user.id
    if own and is_admin is None and must_change_password is None:
        who = actor.username  # type: ignore[union-attr]
    else:
        who = _actor(actor, "system.users")
    with _tx() as s:
        found = _find(s, user)
        changed = []
        if display_name is not None:
            found.display_name = _text(display_name, "display name", 128) or found.username
            changed.append("display_name")
        if email is not None:
            found.email = _email(email)
            changed.append("email")
        if is_admin is not None and is_admin != found.is_admin:
            if not is_admin:
                _guard_last_admin(s, found, "demote")
            found.is_admin = is_admin
            changed.append(f"is_admin={is_admin}")
        if must_change_password is not None:
            found.must_change_password = must_change_password
            changed.append(f"must_change_password={must_change_password}")
        s.add(found)
        _log(s, who, "user.update", found.username, " ".join(changed))
        return found


def set_theme(user: User, theme: str) -> User:
    """Save a signed-in user's own light/dark choice (their preference, not audited)."""
    if theme not in ("light", "dark"):
        raise BadInput(f"The theme is light or dark, not {theme!r}.")
    with _tx() as s:
        found = _find(s, user)
        found.theme = theme
        s.add(found)
        return found


def set_password(
    user: str | int | User,
    password: str,
    *,
    must_change: bool = False,
    actor: User | str = "system",
) -> User:
    """Set (reset) a user's password and end all of that user's sessions."""
    who = _actor(actor, "system.users")
    with _read() as s:
        found = _find(s, user)
    return _store_password(found, password, must_change, who)


def _store_password(user: User, password: str, must_change: bool, who: str) -> User:
    check_password(password, user.username)
    hashed = _hash(password)
    with _tx() as s:
        found = _find(s, user)
        found.password_hash = hashed
        found.must_change_password = must_change
        s.add(found)
        _revoke(s, found.id)  # type: ignore[arg-type]
        _log(s, who, "user.password", found.username, "must change" if must_change else "")
        return found


def change_own_password(user: str | int | User, current: str, new: str) -> User:
    """The profile page's change (and the forced first one): the current password is
    required, the new one must pass the password rule; sessions end."""
    with _read() as s:
        found = _find(s, user)
    if new == current:
        raise BadInput("The new password must differ from the current one.")
    check_password(new, found.username)  # before the slow check of the current one
    if not _matches(_password(current), found.password_hash):
        raise BadInput("The current password is wrong.")
    return _store_password(found, new, False, found.username)


def _set_active(user: str | int | User, active: bool, actor: User | str) -> User:
    who = _actor(actor, "system.users")
    with _tx() as s:
        found = _find(s, user)
        if not active:
            _guard_last_admin(s, found, "deactivate")
        found.active = active
        s.add(found)
        _revoke(s, found.id)  # type: ignore[arg-type]
        _log(s, who, "user.activate" if active else "user.deactivate", found.username)
        return found


def deactivate(user: str | int | User, *, actor: User | str = "system") -> User:
    """Stop a user signing in and end their sessions (not the last active admin)."""
    return _set_active(user, False, actor)


def activate(user: str | int | User, *, actor: User | str = "system") -> User:
    """Let a deactivated user sign in again."""
    return _set_active(user, True, actor)


def delete_user(user: str | int | User, *, actor: User | str = "system") -> None:
    """Remove a user with everything that was theirs: memberships, sessions, voided cookies,
    per-user files (Studio drafts), query history and saved queries (never the last active
    admin). Their id and uid are never given out again."""
    who = _actor(actor, "system.users")
    with _tx() as s:
        found = _find(s, user)
        _guard_last_admin(s, found, "delete")
        for table in (AuthSession, Membership):
            s.exec(delete(table).where(table.user_id == found.id))  # type: ignore[call-overload,attr-defined]
        s.connection().exec_driver_sql("delete from void_cookies where user_id = ?", (found.id,))
        s.delete(found)
        _log(s, who, "user.delete", found.username)
    _forget_user_data(found)


def user_file(user: User, name: str) -> Path:
    """Where a file of this user's own lives (e.g. the Studio drafts): named by the user's
    uid, so it can never be read by a later user, and removed with the user."""
    return config.home() / USER_FILES_DIR / f"user-{user.uid}-{name}"


def _forget_user_data(user: User) -> None:
    """Remove a deleted user's own files and stored queries; best effort (the account is gone
    already, and the uid-named files can never be reached by anyone else)."""
    from tusk.store import history, saved

    folder = config.home() / USER_FILES_DIR
    # The id: files named before uids existed (ids were reused then: nobody may read them).
    for prefix in (f"user-{user.uid}-", f"user-{user.id}-"):
        for leftover in folder.glob(f"{prefix}*"):
            leftover.unlink(missing_ok=True)
    if (config.home() / config.HISTORY_DB).exists():
        with contextlib.suppress(TuskError, OSError, sqlite3.Error):
            history.clear(username=user.username)
    with contextlib.suppress(TuskError, OSError, sqlite3.Error):
        saved.delete_owner(user.username)


# --- groups --------------------------------------------------------------------------------------


def list_groups() -> list[tuple[Group, frozenset[str], int]]:
    """Every group with its permissions and member count, by name."""
    with _read() as s:
        out = []
        for group in s.exec(select(Group).order_by(Group.name)).all():
            perms = s.exec(
                select(GroupPermission.permission).where(GroupPermission.group_id == group.id)
            ).all()
            members = s.exec(
                select(func.count()).select_from(Membership).where(Membership.group_id == group.id)
            ).one()
            out.append((group, frozenset(perms), members))
        return out


def create_group(
    name: str,
    description: str = "",
    perms: Iterable[str] = (),
    *,
    actor: User | str = "system",
) -> Group:
    """Add a group with the given permissions; BadInput for a taken name."""
    who = _actor(actor, "system.groups")
    clean = _name(name, "group name")
    wanted = _known(perms)
    with _tx() as s:
        if s.exec(select(Group.id).where(Group.name == clean)).first() is not None:
            raise BadInput(f"A group named {clean!r} already exists.")
        group = Group(name=clean, description=_text(description, "description", 500))
        s.add(group)
        s.flush()
        s.add_all(GroupPermission(group_id=group.id, permission=p) for p in wanted)  # type: ignore[arg-type]
        _log(s, who, "group.create", clean, ",".join(wanted))
        return group


def delete_group(name: str, *, actor: User | str = "system") -> None:
    """Remove a group; its members simply lose its permissions."""
    who = _actor(actor, "system.groups")
    with _tx() as s:
        group = _find_group(s, name)
        s.exec(delete(GroupPermission).where(GroupPermission.group_id == group.id))  # type: ignore[call-overload]
        s.exec(delete(Membership).where(Membership.group_id == group.id))  # type: ignore[call-overload]
        s.delete(group)
        _log(s, who, "group.delete", group.name)


def _known(perms: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(perms))
    unknown = [p for p in wanted if p not in permissions.ALL]
    if unknown:
        raise BadInput(f"Unknown permissions: {', '.join(map(repr, unknown))}.")
    return wanted


def set_group_permissions(name: str, perms: Iterable[str], *, actor: User | str = "system") -> None:
    """Replace a group's permissions with exactly these."""
    who = _actor(actor, "system.groups")
    wanted = _known(perms)
    with _tx() as s:
        group = _find_group(s, name)
        s.exec(delete(GroupPermission).where(GroupPermission.group_id == group.id))  # type: ignore[call-overload]
        s.add_all(GroupPermission(group_id=group.id, permission=p) for p in wanted)  # type: ignore[arg-type]
        _log(s, who, "group.permissions", group.name, ",".join(wanted))


def set_user_groups(
    user: str | int | User, groups: Iterable[str], *, actor: User | str = "system"
) -> None:
    """Replace a user's group memberships with exactly these groups."""
    who = _actor(actor, "system.users")
    with _tx() as s:
        found = _find(s, user)
        rows = [_find_group(s, g) for g in dict.fromkeys(groups)]
        s.exec(delete(Membership).where(Membership.user_id == found.id))  # type: ignore[call-overload]
        s.add_all(Membership(user_id=found.id, group_id=g.id) for g in rows)  # type: ignore[arg-type]
        _log(s, who, "user.groups", found.username, ",".join(g.name for g in rows))


# --- login and sessions --------------------------------------------------------------------------


def _recent_failures(s: Session, username: str, now: datetime) -> list[datetime]:
    """When the attempts that count against `username` were made, newest first: failures and
    attempts still being checked, in the window and since the last successful sign-in."""
    since = now - timedelta(seconds=FAILURE_WINDOW_S)
    last_ok = s.exec(
        select(func.max(AuditEntry.ts)).where(
            AuditEntry.action == "login", AuditEntry.target == username
        )
    ).one()
    if last_ok is not None and last_ok > since:
        since = last_ok
    query = (
        select(AuditEntry.ts)
        .where(
            AuditEntry.action.in_(("login.failed", "login.pending")),  # type: ignore[attr-defined]
            AuditEntry.target == username,
            AuditEntry.ts > since,
        )
        .order_by(AuditEntry.ts.desc())  # type: ignore[attr-defined]
    )
    return list(s.exec(query).all())


def verify_login(username: str, password: str) -> User | None:
    """The user if the password is right and the account active, else None. After 5 failures
    in a minute for one username, BadInput says how long to wait.

    The attempt is counted before the password is checked, in the same write transaction
    that looks at the count (a "login.pending" audit row, settled afterwards as "login" or
    "login.failed"): however many guesses arrive at once, from threads or processes, at most
    MAX_FAILURES passwords are checked per window. An attempt whose process died while checking
    stays pending and counts as a failure until the window passes (fail closed)."""
    target = unicodedata.normalize("NFC", str(username).strip())[:MAX_NAME]
    now = _now()
    with _tx() as s:
        failures = _recent_failures(s, target, now)
        if len(failures) >= MAX_FAILURES:
            oldest = failures[MAX_FAILURES - 1]
            wait = math.ceil(FAILURE_WINDOW_S - (now - oldest).total_seconds())
            raise BadInput(f"Too many failed attempts; wait {max(wait, 1)} s.", "Locked out")
        attempt = AuditEntry(ts=now, actor=target, action="login.pending", target=target)
        s.add(attempt)
        found = s.exec(select(User).where(User.username == target)).first()
        s.flush()
        attempt_id = attempt.id
    user = None
    try:
        raw = _password(password)
    except BadInput:
        raw = None
    if raw is None:
        reason = "bad password"
    elif found is None:
        _waste_time(raw)
        reason = "unknown user"
    elif not _matches(raw, found.password_hash):
        reason = "bad password"
    elif not found.active:
        reason = "inactive"
    else:
        user, reason = found, ""
    with _tx() as s:
        settled = s.get(AuditEntry, attempt_id)
        fresh = s.get(User, user.id) if user is not None else None
        if settled is not None:
            settled.action, settled.detail = ("login", "") if fresh else ("login.failed", reason)
            s.add(settled)
        if fresh is None:
            return None
        fresh.last_login = _now()
        s.add(fresh)
        return fresh


def _token_key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def create_session(user: User) -> str:
    """Start a server-side session; the returned token goes in the browser's cookie."""
    token = secrets.token_urlsafe(32)
    now = _now()
    with _tx() as s:
        found = _find(s, user)
        if not found.active:
            raise BadInput(f"User {found.username!r} is deactivated.")
        s.add(
            AuthSession(token=_token_key(token), user_id=found.id, created_at=now, last_seen=now)  # type: ignore[arg-type]
        )
    return token


def session_user(token: str | None) -> User | None:
    """The user behind a session token, or None if revoked, idle too long, or the user is
    inactive or gone. Read-only unless last_seen is more than LAST_SEEN_EVERY old."""
    if not token:
        return None
    now = _now()
    key = _token_key(token)
    with _read() as s:
        row = s.get(AuthSession, key)
        if row is None or row.revoked or now - row.last_seen > SESSION_IDLE:
            return None
        user = s.get(User, row.user_id)
        if user is None or not user.active:
            return None
        stale = now - row.last_seen > LAST_SEEN_EVERY
    if stale:
        with _tx() as s:
            s.exec(update(AuthSession).where(AuthSession.token == key).values(last_seen=now))  # type: ignore[call-overload]
    return user


def revoke_session(token: str) -> None:
    """End one session (sign out)."""
    with _tx() as s:
        s.exec(  # type: ignore[call-overload]
            update(AuthSession).where(AuthSession.token == _token_key(token)).values(revoked=True)
        )


def revoke_sessions(user_id: int, *, actor: User | str = "system") -> int:
    """End every session of a user (sign out everywhere) and void their login cookies;
    returns how many sessions were open. Anyone may do it for themselves."""
    own = isinstance(actor, User) and actor.id == user_id
    who = actor.username if own else _actor(actor, "system.users")  # type: ignore[union-attr]
    with _tx() as s:
        count = _revoke(s, user_id)
        _log(s, who, "user.signout_all", str(user_id), f"{count} sessions")
        return count


# --- login cookies (streamlit-authenticator) -----------------------------------------------------


def credentials() -> dict[str, dict[str, dict[str, Any]]]:
    """streamlit-authenticator's credentials dict, built from the users table: active users
    keyed by their uid (lower-case hex, as the component wants keys; never reused, so a
    deleted user's cookie can name nobody else)."""
    with _read() as s:
        users = s.exec(select(User).where(User.active)).all()
    return {
        "usernames": {
            u.uid: {
                "name": u.display_name or u.username,
                "email": u.email,
                "password": u.password_hash,
            }
            for u in users
        }
    }


def cookie_user(user_key: str, expires_at: float, lifetime_s: float) -> User | None:
    """The user a login cookie names by uid, if still active, the cookie not signed out, and
    issued after their sessions were last revoked (password change, sign out everywhere,
    deactivation). A cookie is known by its user and expiry time (streamlit-authenticator signs
    just those). Cookies made before uids name an integer id and are refused."""
    key = str(user_key)
    if len(key) != 32 or any(c not in "0123456789abcdef" for c in key):
        return None
    issued_at = expires_at - lifetime_s
    with _tx() as s:
        found = s.exec(select(User).where(User.uid == key)).first()
        if found is None or not found.active:
            return None
        after = found.sessions_after
        if after is not None and issued_at <= after.timestamp():
            return None
        voided = s.connection().exec_driver_sql(
            "select 1 from void_cookies where user_id = ? and exp_date = ?",
            (found.id, expires_at),
        )
        if voided.first() is not None:
            return None
        found.last_login = _now()
        s.add(found)
        _log(s, found.username, "login.cookie", found.username)
        return found


def void_cookie(user_id: int, expires_at: float) -> None:
    """Refuse this login cookie from now on (its browser signed out, even if the browser never
    ran the cookie deletion); forgets voided cookies that have expired anyway."""
    with _tx() as s:
        conn = s.connection()
        conn.exec_driver_sql("delete from void_cookies where exp_date < ?", (_now().timestamp(),))
        conn.exec_driver_sql(
            "insert or ignore into void_cookies (user_id, exp_date) values (?, ?)",
            (user_id, expires_at),
        )


# --- audit ---------------------------------------------------------------------------------------


def audit(actor: str, action: str, target: str = "", detail: str = "") -> None:
    """Record who did what (kills, backups, DDL from Admin...)."""
    with _tx() as s:
        _log(s, actor, action, target, detail)


def audit_log(limit: int = 200, action: str | None = None) -> list[AuditEntry]:
    """The newest audit entries first."""
    with _read() as s:
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)  # type: ignore[union-attr]
        if action is not None:
            query = query.where(AuditEntry.action == action)
        return list(s.exec(query).all())
