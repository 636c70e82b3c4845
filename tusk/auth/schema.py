"""The tables of auth.db: the SQL migrations that make them and the sqlmodel classes that map
them (users, groups, memberships, group permissions, sessions, audit)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

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


def row_id(row: User | Group) -> int:
    """The id of a user or group read from auth.db (or flushed to it): SQLite set it."""
    if row.id is None:
        raise ValueError(f"{type(row).__name__} {row!r} was never saved")
    return row.id
