"""Who may do what: single mode (no login, everything allowed) or multi-user mode.

`allowed(user, permission)` is the one question every page and library action asks.
The store (users, groups, sessions, audit) is `tusk.auth.store`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from tusk.auth import permissions
from tusk.errors import PermissionDenied

if TYPE_CHECKING:
    from tusk.auth.store import User


def mode() -> Literal["single", "multi"]:
    """The auth_mode setting: "single" (no login) or "multi" (users sign in). Fails closed:
    anything but a valid "single" — a typo, a wrong type, a config.toml Tusk cannot read —
    means multi-user; `config.load()` reports what is wrong with the file."""
    from tusk import config
    from tusk.errors import TuskError

    try:
        value = config.get("auth_mode")
    except TuskError:
        return "multi"
    return "single" if value == "single" else "multi"


def allowed(user: User | None, permission: str) -> bool:
    """True when `user` may use `permission` now (always in single mode)."""
    permissions.check(permission)
    if mode() == "single":
        return True
    if user is None:
        return False
    from tusk.auth import store

    return permission in store.permissions_of(user)


def require(user: User | None, permission: str) -> None:
    """Raise PermissionDenied unless `user` may use `permission`."""
    if not allowed(user, permission):
        if user is None:
            raise PermissionDenied(f"Sign in first: this action needs the {permission} permission.")
        raise PermissionDenied(
            f"User {user.username!r} needs the {permission} permission; ask an administrator."
        )
