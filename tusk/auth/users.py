"""Users: who may sign in — looked up, created, changed, (de)activated and deleted with
everything that was theirs, their passwords set, their groups read and set (what those
groups let them do: `tusk.auth.grants`).

The last active administrator can never be demoted, deactivated or deleted.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select, update

from tusk import config
from tusk.auth.audit import actor_name, record
from tusk.auth.database import snapshot, transaction, utc_now
from tusk.auth.groups import find_group
from tusk.auth.passwords import check_password, encode_password, hash_password, matches
from tusk.auth.schema import AuthSession, Group, Membership, User, row_id
from tusk.auth.validation import clean_email, clean_name, clean_text
from tusk.errors import BadInput, TuskError

DEFAULT_ADMIN = "admin"
USER_FILES_DIR = "drafts"  # per-user files, named user-<uid>-<name> (user_file)


def find_user(s: Session, user: str | int | User) -> User:
    """The user by name, id or User inside a transaction; BadInput when there is none."""
    if isinstance(user, User):
        user = user.id if user.id is not None else user.username
    if isinstance(user, int):
        found = s.get(User, user)
    else:
        found = s.exec(select(User).where(User.username == clean_name(user))).first()
    if found is None:
        raise BadInput(f"There is no user {user!r}.")
    return found


def get_user(user: str | int) -> User | None:
    """The user with this username (str) or id (int), or None."""
    try:
        with snapshot() as s:
            return find_user(s, user)
    except BadInput:
        return None


def list_users() -> list[User]:
    """Every user, by username."""
    with snapshot() as s:
        return list(s.exec(select(User).order_by(User.username)).all())


def groups_of(user: str | int | User) -> list[str]:
    """Names of the groups the user is in."""
    with snapshot() as s:
        found = find_user(s, user)
        query = (
            select(Group.name)
            .join(Membership, col(Membership.group_id) == Group.id)
            .where(Membership.user_id == found.id)
            .order_by(Group.name)
        )
        return list(s.exec(query).all())


def set_user_groups(
    user: str | int | User, groups: Iterable[str], *, actor: User | str = "system"
) -> None:
    """Replace a user's group memberships with exactly these groups."""
    who = actor_name(actor, "system.users")
    with transaction() as s:
        found = find_user(s, user)
        rows = [find_group(s, g) for g in dict.fromkeys(groups)]
        s.exec(delete(Membership).where(col(Membership.user_id) == found.id))
        s.add_all(Membership(user_id=row_id(found), group_id=row_id(g)) for g in rows)
        record(s, who, "user.groups", found.username, ",".join(g.name for g in rows))


def _other_active_admins(s: Session, user_id: int | None) -> int:
    query = select(func.count()).select_from(User).where(User.is_admin, User.active)
    return s.exec(query.where(User.id != user_id)).one()


def _guard_last_admin(s: Session, user: User, doing: str) -> None:
    if user.is_admin and user.active and _other_active_admins(s, user.id) == 0:
        raise BadInput(
            f"Cannot {doing} {user.username!r}: it is the last active administrator. "
            "Make another user an administrator first."
        )


def revoke_all(s: Session, user_id: int) -> int:
    """End a user's sessions and login cookies; returns how many sessions were open."""
    s.exec(update(User).where(col(User.id) == user_id).values(sessions_after=utc_now()))
    result = s.exec(
        update(AuthSession)
        .where(col(AuthSession.user_id) == user_id, col(AuthSession.revoked) == False)  # noqa: E712
        .values(revoked=True)
    )
    return result.rowcount or 0


def add_user(
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
    """Insert a user (with memberships) inside a transaction and audit it."""
    name = clean_name(username)
    if s.exec(select(User.id).where(User.username == name)).first() is not None:
        raise BadInput(f"A user named {name!r} already exists.")
    group_rows = [find_group(s, g) for g in dict.fromkeys(groups)]
    user = User(
        username=name,
        display_name=clean_text(display_name, "display name", 128) or name,
        email=clean_email(email),
        password_hash=password_hash,
        is_admin=is_admin,
        must_change_password=must_change_password,
        created_at=utc_now(),
    )
    s.add(user)
    try:
        s.flush()
    except IntegrityError:
        raise BadInput(f"A user named {name!r} already exists.") from None
    for group in group_rows:
        s.add(Membership(user_id=row_id(user), group_id=row_id(group)))
    detail = f"admin={is_admin} groups={','.join(g.name for g in group_rows)}"
    record(s, actor, "user.create", name, detail)
    return user


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
    who = actor_name(actor, "system.users")
    check_password(password, clean_name(username))  # fail fast, before the slow hash
    hashed = hash_password(password)
    with transaction() as s:
        return add_user(
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
        who = actor.username if isinstance(actor, User) else actor_name(actor, "system.users")
    else:
        who = actor_name(actor, "system.users")
    with transaction() as s:
        found = find_user(s, user)
        changed = []
        if display_name is not None:
            found.display_name = clean_text(display_name, "display name", 128) or found.username
            changed.append("display_name")
        if email is not None:
            found.email = clean_email(email)
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
        record(s, who, "user.update", found.username, " ".join(changed))
        return found


def set_theme(user: User, theme: str) -> User:
    """Save a signed-in user's own light/dark choice (their preference, not audited)."""
    if theme not in ("light", "dark"):
        raise BadInput(f"The theme is light or dark, not {theme!r}.")
    with transaction() as s:
        found = find_user(s, user)
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
    who = actor_name(actor, "system.users")
    with snapshot() as s:
        found = find_user(s, user)
    return _store_password(found, password, must_change, who)


def _store_password(user: User, password: str, must_change: bool, who: str) -> User:
    check_password(password, user.username)
    hashed = hash_password(password)
    with transaction() as s:
        found = find_user(s, user)
        found.password_hash = hashed
        found.must_change_password = must_change
        s.add(found)
        revoke_all(s, row_id(found))
        record(s, who, "user.password", found.username, "must change" if must_change else "")
        return found


def change_own_password(user: str | int | User, current: str, new: str) -> User:
    """The profile page's change (and the forced first one): the current password is
    required, the new one must pass the password rule; sessions end."""
    with snapshot() as s:
        found = find_user(s, user)
    if new == current:
        raise BadInput("The new password must differ from the current one.")
    check_password(new, found.username)  # before the slow check of the current one
    if not matches(encode_password(current), found.password_hash):
        raise BadInput("The current password is wrong.")
    return _store_password(found, new, False, found.username)


def _set_active(user: str | int | User, active: bool, actor: User | str) -> User:
    who = actor_name(actor, "system.users")
    with transaction() as s:
        found = find_user(s, user)
        if not active:
            _guard_last_admin(s, found, "deactivate")
        found.active = active
        s.add(found)
        revoke_all(s, row_id(found))
        record(s, who, "user.activate" if active else "user.deactivate", found.username)
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
    who = actor_name(actor, "system.users")
    with transaction() as s:
        found = find_user(s, user)
        _guard_last_admin(s, found, "delete")
        s.exec(delete(AuthSession).where(col(AuthSession.user_id) == found.id))
        s.exec(delete(Membership).where(col(Membership.user_id) == found.id))
        s.connection().exec_driver_sql("delete from void_cookies where user_id = ?", (found.id,))
        s.delete(found)
        record(s, who, "user.delete", found.username)
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
