"""Who may do what: single mode (no login, everything allowed) or multi-user mode.

`allowed(user, permission)` is the one question every page and library action asks.
Users, groups, sessions and the audit log live in auth.db, one job per module:
`tusk.auth.users`, `.groups`, `.grants` (a user's permissions), `.sessions`, `.audit`,
`.passwords`, `.validation`, `.bootstrap` (`init`), `.schema` (the tables) and `.database`
(auth.db itself).

A page run asks it a dozen times or more (every sidebar link, the page guard, each action), so
a UI may name its current script run (`set_run_scope`): a user's permissions are then read from
auth.db once per run and never reused in another run, so a revoked permission takes effect on
the next run (at once when this process made the change: any write to auth.db here drops the
cache). Without a run (the CLI, worker threads, tests) every question reads auth.db.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from tusk import config
from tusk.auth import permissions
from tusk.errors import BadInput, PermissionDenied, TuskError

if TYPE_CHECKING:
    from tusk.auth.schema import User

_run_scope: Callable[[], object | None] = lambda: None  # noqa: E731 - the default: no run
# run object -> {user uid: (database.commits() when read, permissions)}; an entry goes when its
# run object is dropped.
_per_run: weakref.WeakKeyDictionary[object, dict[str, tuple[int, frozenset[str]]]] = (
    weakref.WeakKeyDictionary()
)
_per_run_lock = threading.Lock()


def mode() -> Literal["single", "multi"]:
    """The auth_mode setting: "single" (no login) or "multi" (users sign in). Fails closed:
    anything but a valid "single" — a typo, a wrong type, a config.toml Tusk cannot read —
    means multi-user; `config.load()` reports what is wrong with the file."""
    try:
        value = config.get("auth_mode")
    except TuskError:
        return "multi"
    return "single" if value == "single" else "multi"


def _users_first(value: object) -> None:
    """Refuse multi-user mode before `tusk auth init` made users: nobody could sign in."""
    if value != "multi":
        return
    from tusk.auth.database import initialised  # auth.db's plumbing is heavy to import

    if not initialised():
        raise BadInput("Multi-user mode needs users first: run `tusk auth init`, then enable it.")


# Every import of tusk.auth (or of any module in it) adds the rule, before anyone can call
# `config.set_value("auth_mode", "multi")` with auth in the process.
config.add_check("auth_mode", _users_first)


def set_run_scope(scope: Callable[[], object | None]) -> None:
    """Let a UI name the script run in progress: `scope()` returns one object per run (a new
    one each run, weak-referenceable) or None outside a run."""
    global _run_scope
    _run_scope = scope


def _permissions(user: User) -> frozenset[str]:
    """The user's permissions, read once per run of the UI (every time outside a run)."""
    from tusk.auth.database import commits as committed
    from tusk.auth.grants import permissions_of

    run = _run_scope()
    if run is None or not user.uid:
        return permissions_of(user)
    commits = committed()
    with _per_run_lock:
        cached = _per_run.get(run, {}).get(user.uid)
    if cached is not None and cached[0] == commits:
        return cached[1]
    perms = permissions_of(user)
    with _per_run_lock:
        _per_run.setdefault(run, {})[user.uid] = (commits, perms)
    return perms


def allowed(user: User | None, permission: str) -> bool:
    """True when `user` may use `permission` now (always in single mode)."""
    permissions.check(permission)
    if mode() == "single":
        return True
    if user is None:
        return False
    return permission in _permissions(user)


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
