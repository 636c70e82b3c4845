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
    """The auth_mode setting: "single" (no login) or "multi" (users sign in)."""
    from tusk import config

    return "multi" if config.get("auth_mode") == "multi" else "single"


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


_serving: list[bool] = []


def serve() -> None:
    """Mark this process as the shared server (the Streamlit app): from now on, in multi-user
    mode, a library action called without a user is refused instead of trusted (only the
    CLI, which owns Tusk's home, may act without one)."""
    _serving[:] = [True]


def serving() -> bool:
    """True in the server process (see serve)."""
    return bool(_serving)


def checked(user: User | None) -> bool:
    """True when an action for `user` must check permissions: a signed-in user, or no user
    in the multi-user server (refused then); False only for the trusted CLI or single mode."""
    return user is not None or (serving() and mode() == "multi")
