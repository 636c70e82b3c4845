"""A facade, to be removed once callers import from the modules that do the work: users,
groups, permissions, sessions and the audit log in auth.db now live one job per module:

- `tusk.auth.schema`: the tables (migrations and sqlmodel classes)
- `tusk.auth.database`: auth.db's path, engines and transactions
- `tusk.auth.validation`: names, free text and email addresses
- `tusk.auth.passwords`: the password rule and hashing
- `tusk.auth.users`, `tusk.auth.groups`: users (with their groups and permissions), groups
- `tusk.auth.sessions`: login, server-side sessions and login cookies
- `tusk.auth.audit`: the audit log
- `tusk.auth.bootstrap`: `init`, the first admin and the default groups

Old code (and tests) also set names here (`store.BCRYPT_ROUNDS = 4`, monkeypatched
`store._now`): such a write is passed on to the modules that use the name, so it still
takes effect.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from tusk.auth import database, passwords, sessions
from tusk.auth.audit import audit, audit_log
from tusk.auth.bootstrap import init
from tusk.auth.database import AUTH_DB, commits, initialised, path
from tusk.auth.groups import (
    create_group,
    delete_group,
    list_groups,
    set_group_permissions,
)
from tusk.auth.passwords import (
    BCRYPT_ROUNDS,
    COMMON_PASSWORDS,
    MAX_PASSWORD,
    MIN_PASSWORD,
    PASSWORD_RULE,
    check_password,
    new_password,
)
from tusk.auth.schema import (
    MIGRATIONS,
    AuditEntry,
    AuthSession,
    Group,
    GroupPermission,
    Membership,
    User,
)
from tusk.auth.sessions import (
    COOKIE_KEY_FILE,
    FAILURE_WINDOW_S,
    LAST_SEEN_EVERY,
    MAX_FAILURES,
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
    DEFAULT_ADMIN,
    USER_FILES_DIR,
    activate,
    change_own_password,
    create_user,
    deactivate,
    delete_user,
    get_user,
    groups_of,
    list_users,
    permissions_of,
    set_password,
    set_theme,
    set_user_groups,
    update_user,
    user_file,
)
from tusk.auth.validation import MAX_NAME

# Private names of the single module that tests and benches still reach, by their new names.
_RENAMED = {
    "_now": "utc_now",
    "_engine": "engine",
    "_hash": "hash_password",
    "_matches": "matches",
    "_token_key": "token_key",
}
_now = database.utc_now
_engine = database.engine
_engines = database._engines  # the same dict: clearing it here clears the cache
_hash = passwords.hash_password
_matches = passwords.matches
_token_key = sessions.token_key

_MODULES = tuple(
    sys.modules[f"tusk.auth.{name}"]
    for name in (
        "schema",
        "database",
        "validation",
        "passwords",
        "audit",
        "groups",
        "users",
        "sessions",
        "bootstrap",
    )
)


class _Facade(types.ModuleType):
    """Passes a write of a name on to every auth module holding the same object under it."""

    def __setattr__(self, name: str, value: Any) -> None:
        current = self.__dict__.get(name)
        target = _RENAMED.get(name, name)
        for module in _MODULES:
            if target in vars(module) and vars(module)[target] is current:
                setattr(module, target, value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Facade

__all__ = [
    "AUTH_DB",
    "BCRYPT_ROUNDS",
    "COMMON_PASSWORDS",
    "COOKIE_KEY_FILE",
    "DEFAULT_ADMIN",
    "FAILURE_WINDOW_S",
    "LAST_SEEN_EVERY",
    "MAX_FAILURES",
    "MAX_NAME",
    "MAX_PASSWORD",
    "MIGRATIONS",
    "MIN_PASSWORD",
    "PASSWORD_RULE",
    "SESSION_IDLE",
    "USER_FILES_DIR",
    "AuditEntry",
    "AuthSession",
    "Group",
    "GroupPermission",
    "Membership",
    "User",
    "activate",
    "audit",
    "audit_log",
    "change_own_password",
    "check_password",
    "commits",
    "cookie_key",
    "cookie_user",
    "create_group",
    "create_session",
    "create_user",
    "credentials",
    "deactivate",
    "delete_group",
    "delete_user",
    "get_user",
    "groups_of",
    "init",
    "initialised",
    "list_groups",
    "list_users",
    "new_password",
    "path",
    "permissions_of",
    "revoke_session",
    "revoke_sessions",
    "session_user",
    "set_group_permissions",
    "set_password",
    "set_theme",
    "set_user_groups",
    "update_user",
    "user_file",
    "verify_login",
    "void_cookie",
]
