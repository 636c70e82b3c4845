"""Signing in and staying signed in: password login with its throttle, server-side sessions
(kept as the SHA-256 of their token, so a copy of auth.db cannot sign anyone in), and the
login cookies of streamlit-authenticator with the key that signs them."""

from __future__ import annotations

import hashlib
import math
import secrets
import unicodedata
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select, update

from tusk import config
from tusk.auth.audit import actor_name, record
from tusk.auth.database import snapshot, transaction, utc_now
from tusk.auth.passwords import encode_password, matches, waste_time
from tusk.auth.schema import AuditEntry, AuthSession, User, row_id
from tusk.auth.users import find_user, revoke_all
from tusk.auth.validation import MAX_NAME
from tusk.errors import BadInput

COOKIE_KEY_FILE = "auth_cookie.key"
MAX_FAILURES = 5
FAILURE_WINDOW_S = 60
SESSION_IDLE = timedelta(days=30)
LAST_SEEN_EVERY = timedelta(minutes=1)  # how stale a session's last_seen may get (fewer writes)


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
            col(AuditEntry.action).in_(("login.failed", "login.pending")),
            AuditEntry.target == username,
            AuditEntry.ts > since,
        )
        .order_by(col(AuditEntry.ts).desc())
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
    now = utc_now()
    with transaction() as s:
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
        raw = encode_password(password)
    except BadInput:
        raw = None
    if raw is None:
        reason = "bad password"
    elif found is None:
        waste_time(raw)
        reason = "unknown user"
    elif not matches(raw, found.password_hash):
        reason = "bad password"
    elif not found.active:
        reason = "inactive"
    else:
        user, reason = found, ""
    with transaction() as s:
        settled = s.get(AuditEntry, attempt_id)
        fresh = s.get(User, user.id) if user is not None else None
        if settled is not None:
            settled.action, settled.detail = ("login", "") if fresh else ("login.failed", reason)
            s.add(settled)
        if fresh is None:
            return None
        fresh.last_login = utc_now()
        s.add(fresh)
        return fresh


def token_key(token: str) -> str:
    """What auth.db keeps of a session token: its SHA-256."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def create_session(user: User) -> str:
    """Start a server-side session; the returned token goes in the browser's cookie."""
    token = secrets.token_urlsafe(32)
    now = utc_now()
    with transaction() as s:
        found = find_user(s, user)
        if not found.active:
            raise BadInput(f"User {found.username!r} is deactivated.")
        s.add(
            AuthSession(
                token=token_key(token), user_id=row_id(found), created_at=now, last_seen=now
            )
        )
    return token


def session_user(token: str | None) -> User | None:
    """The user behind a session token, or None if revoked, idle too long, or the user is
    inactive or gone. Read-only unless last_seen is more than LAST_SEEN_EVERY old."""
    if not token:
        return None
    now = utc_now()
    key = token_key(token)
    with snapshot() as s:
        row = s.get(AuthSession, key)
        if row is None or row.revoked or now - row.last_seen > SESSION_IDLE:
            return None
        user = s.get(User, row.user_id)
        if user is None or not user.active:
            return None
        stale = now - row.last_seen > LAST_SEEN_EVERY
    if stale:
        with transaction() as s:
            s.exec(update(AuthSession).where(col(AuthSession.token) == key).values(last_seen=now))
    return user


def revoke_session(token: str) -> None:
    """End one session (sign out)."""
    with transaction() as s:
        s.exec(
            update(AuthSession)
            .where(col(AuthSession.token) == token_key(token))
            .values(revoked=True)
        )


def revoke_sessions(user_id: int, *, actor: User | str = "system") -> int:
    """End every session of a user (sign out everywhere) and void their login cookies;
    returns how many sessions were open. Anyone may do it for themselves."""
    own = isinstance(actor, User) and actor.id == user_id
    who = actor.username if isinstance(actor, User) and own else actor_name(actor, "system.users")
    with transaction() as s:
        count = revoke_all(s, user_id)
        record(s, who, "user.signout_all", str(user_id), f"{count} sessions")
        return count


def credentials() -> dict[str, dict[str, dict[str, Any]]]:
    """streamlit-authenticator's credentials dict, built from the users table: active users
    keyed by their uid (lower-case hex, as the component wants keys; never reused, so a
    deleted user's cookie can name nobody else)."""
    with snapshot() as s:
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
    with transaction() as s:
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
        found.last_login = utc_now()
        s.add(found)
        record(s, found.username, "login.cookie", found.username)
        return found


def void_cookie(user_id: int, expires_at: float) -> None:
    """Refuse this login cookie from now on (its browser signed out, even if the browser never
    ran the cookie deletion); forgets voided cookies that have expired anyway."""
    with transaction() as s:
        conn = s.connection()
        conn.exec_driver_sql(
            "delete from void_cookies where exp_date < ?", (utc_now().timestamp(),)
        )
        conn.exec_driver_sql(
            "insert or ignore into void_cookies (user_id, exp_date) values (?, ?)",
            (user_id, expires_at),
        )


def cookie_key() -> str:
    """The secret that signs login cookies, made once and kept 0600 in Tusk's home."""
    key_path = config.home() / COOKIE_KEY_FILE
    if not key_path.exists():
        # Made only if still absent: two processes racing here must not each sign cookies
        # with a key of their own (one's cookies would then fail on the other).
        config.write_new(key_path, secrets.token_urlsafe(32), 0o600)
    return key_path.read_text(encoding="ascii").strip()
